"""``xerotrial randomize``: allocation lists and minimization, from a study definition.

    xerotrial randomize list --design DEF --seed N --per-stratum K -o OUT.csv
        permuted blocks within every stratum: columns stratum (name=level;name=level),
        sequence, block, block_size, arm; the same bytes for the same seed
    xerotrial randomize list --design DEF --seed N --method minimization --n N
        minimization of N random patients: the imbalance per factor, as JSON
    xerotrial randomize setup --db URL --seed N [--per-stratum K]
        the store's concealed list, made once by an unblinded role; prints its SHA-256
    xerotrial randomize allocate --db URL --subject ID
        randomize one subject: its number (and arm, to unblinded roles only)
    xerotrial randomize unblind --db URL --subject ID --reason TEXT
        break one subject's code in an emergency (audited; listed in the DMC report)
    xerotrial randomize unblind-study --db URL --decision TEXT
        the study's unblinding at database lock, by a recorded decision
    xerotrial randomize status --db URL
        the list's record and how many slots each stratum has used (no arm)

``DEF`` is a study definition or a file holding only its ``[allocation]`` section
(:mod:`xerotrial.randomize.design`); the store commands act as the operating-system account
(which can read the database) or as ``--as NAME`` (:mod:`xerotrial.randomize.allocate`).
Modules are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli_common import Group, actor_options, command_actor, fail, fail_error, on_store
from .cli_store import db_option
from .errors import XerotrialError

__all__ = ["randomize_group"]


@click.group("randomize", cls=Group, short_help="Allocation lists and minimization")
def randomize_group() -> None:
    """Randomization: concealed allocation lists, minimization."""


@randomize_group.command("list")
@click.option(
    "--design",
    "design_path",
    required=True,
    type=click.Path(path_type=Path),
    metavar="DEF",
    help="A study definition, or a file of its [allocation] section",
)
@click.option(
    "--seed", required=True, type=click.IntRange(0), help="The list's seed (keep it secret)"
)
@click.option("--per-stratum", type=click.IntRange(1), help="Slots per stratum (permuted blocks)")
@click.option(
    "--method",
    type=click.Choice(["permuted-blocks", "minimization"]),
    help="Override the design's method",
)
@click.option(
    "--n", "n_patients", type=click.IntRange(1), help="Patients to simulate (minimization)"
)
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The list's CSV file (permuted blocks)",
)
def list_command(design_path: Path, seed: int, per_stratum: int | None, method: str | None,
                 n_patients: int | None, out: Path | None) -> None:  # fmt: skip
    """Write a permuted-block list for every stratum, or simulate minimization."""
    import dataclasses
    import hashlib
    import json

    from .randomize.design import load_design

    try:
        design = load_design(design_path)
    except XerotrialError as exc:
        fail_error(exc)
    if method is not None and method != design.method:
        design = dataclasses.replace(design, method=method)
    if design.method == "minimization":
        if n_patients is None:
            fail("minimization: give --n N, the number of patients to simulate")
        if not design.factors:
            fail(f"{design_path}: minimization needs factors (or strata) in [allocation]")
        from .randomize.minimization import simulate

        click.echo(json.dumps(simulate(design, n=n_patients, seed=seed), indent=2))
        return
    if per_stratum is None or out is None:
        fail("permuted blocks: give --per-stratum K and -o OUT.csv")
    if not design.block_sizes:
        fail(f"{design_path}: permuted blocks need block_sizes in [allocation]")
    from .randomize.blocks import block_list, list_csv

    data = list_csv(block_list(design, seed=seed, per_stratum=per_stratum))
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(out)
    cells = len(design.strata_cells())
    click.echo(
        f"{out}: {cells} strat{'um' if cells == 1 else 'a'} x {per_stratum} slots, "
        f"sha256 {hashlib.sha256(data).hexdigest()}"
    )


@randomize_group.command("setup")
@db_option
@click.option(
    "--seed", required=True, type=click.IntRange(0), help="The list's seed (keep it secret)"
)
@click.option("--per-stratum", type=click.IntRange(1), default=100, help="Slots per stratum")
@actor_options
def setup_command(db: str | None, seed: int, per_stratum: int, as_name: str | None,
                  password_file: Path | None) -> None:  # fmt: skip
    """Make the store's concealed allocation list (once, by an unblinded role)."""
    from .randomize.allocate import setup_list

    actor = command_actor(db, as_name, password_file)
    info = on_store(db, lambda e: setup_list(e, seed=seed, actor=actor, per_stratum=per_stratum))
    click.echo(
        f"concealed list made: {info.slots} slots in {info.strata} strata "
        f"({per_stratum} each), sha256 {info.sha256}"
    )


@randomize_group.command("allocate")
@db_option
@click.option("--subject", required=True, help="The subject to randomize")
@actor_options
def allocate_command(db: str | None, subject: str, as_name: str | None,
                     password_file: Path | None) -> None:  # fmt: skip
    """Randomize one subject: eligibility, its stratum from its data, the next slot."""
    from .randomize.allocate import allocate

    actor = command_actor(db, as_name, password_file)
    a = on_store(db, lambda e: allocate(e, subject=subject, actor=actor))
    arm = "" if a.arm is None else f", arm {a.arm}"
    click.echo(f"{a.subject}: randomization number {a.number} (stratum {a.stratum}){arm}")


@randomize_group.command("unblind")
@db_option
@click.option("--subject", required=True, help="The subject whose code is broken")
@click.option("--reason", required=True, help="Why (the emergency), for the audit trail")
@actor_options
def unblind_command(db: str | None, subject: str, reason: str, as_name: str | None,
                    password_file: Path | None) -> None:  # fmt: skip
    """Emergency unblinding of one subject (audited, listed in the DMC report)."""
    from .randomize.allocate import unblind_subject

    actor = command_actor(db, as_name, password_file)
    arm = on_store(db, lambda e: unblind_subject(e, subject=subject, actor=actor, reason=reason))
    click.echo(f"{subject}: arm {arm} (unblinded by {actor.audit_name}; audited)")


@randomize_group.command("unblind-study")
@db_option
@click.option("--decision", required=True, help="The recorded decision to unblind")
@actor_options
def unblind_study_command(db: str | None, decision: str, as_name: str | None,
                          password_file: Path | None) -> None:  # fmt: skip
    """Unblind the study at database lock (the store must be locked)."""
    from .randomize.allocate import unblind_study

    actor = command_actor(db, as_name, password_file)
    uid = on_store(db, lambda e: unblind_study(e, actor=actor, decision=decision))
    click.echo(f"the study is unblinded ({uid}, by {actor.audit_name}): outputs show the arms")


@randomize_group.command("status")
@db_option
def status_command(db: str | None) -> None:
    """The list's audited record and the slots used per stratum (no arm)."""
    from .randomize.allocate import randomization_status

    click.echo(on_store(db, randomization_status))
