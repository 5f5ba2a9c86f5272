"""``xerotrial randomize``: allocation lists and minimization, from a study definition.

    xerotrial randomize list --design DEF --seed N --per-stratum K -o OUT.csv
        permuted blocks within every stratum: columns stratum (name=level;name=level),
        sequence, block, block_size, arm; the same bytes for the same seed
    xerotrial randomize list --design DEF --seed N --method minimization --n N
        minimization of N random patients: the imbalance per factor, as JSON

``DEF`` is a study definition or a file holding only its ``[allocation]`` section
(:mod:`xerotrial.randomize.design`). Modules are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli_common import Group, fail, fail_error
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
