"""The ``xerotrial`` command line: thin wrappers that parse, call the library and print.

Built on click without rich: ``import xerotrial.cli`` loads click and the standard library
only (a test checks that numpy, pandas, scipy, matplotlib, SQLAlchemy, rich and typer stay
out), and each command imports what it needs when it runs, so ``xerotrial --help`` answers at
once. ``benchmarks/startup.py`` measures it.

``cli`` is the click group (``main`` runs it); ``app`` is the same command line as a
``typer.Typer``, built on first access, for ``typer.testing.CliRunner``.

Example
-------
    xerotrial fit examples/trial_uws.csv --formula "uws ~ visit" --subject subject \\
        --time visit --covariance random-intercept --df kenward-roger --lsmeans visit \\
        --reference day0
"""

from __future__ import annotations

import json
import sys
import warnings
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .cli_common import (
    CONTEXT_SETTINGS,
    Group,
    UpperChoice,
    fail,
    fail_error,
    json_safe,
    styled,
    warn,
)
from .cli_estimand import estimand
from .cli_power import power
from .cli_randomize import randomize_group
from .cli_report import demo_command, report_command
from .cli_score import score_group
from .cli_store import STORE_COMMANDS
from .cli_study import study_group
from .cli_web import WEB_COMMANDS
from .errors import XerotrialError
from .stats.options import (
    COVARIANCES,
    DF_METHODS,
    KR_INFORMATION,
    LSMEANS_WEIGHTS,
    VCOV_METHODS,
)

if TYPE_CHECKING:
    import pandas as pd
    import typer

__all__ = ["SHELLS", "cli", "main"]  # and app (see __getattr__)

#: Shells that ``xerotrial completion`` writes a script for (click's completion classes).
SHELLS = ("bash", "zsh", "fish")


@click.group("xerotrial", cls=Group, context_settings=CONTEXT_SETTINGS)
@click.version_option(
    __version__, "-V", "--version", prog_name="xerotrial", message="%(prog)s %(version)s"
)
def cli() -> None:
    """xerotrial: the data and statistics of a salivary-gland cell-therapy trial, on REML mixed
    models that match SAS PROC MIXED."""


def _read_table(path: Path) -> pd.DataFrame:
    """The table of ``fit`` (and ``power --from-data``): xerotrial's one strict reader, numeric
    columns as numbers; its ``attrs["lines"]`` give the engine each row's file line. A file it
    refuses exits 2 naming every line and rule."""
    from .tables import read_table

    try:
        return read_table(path, numeric=True)
    except XerotrialError as exc:
        fail_error(exc)


def _cell(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def text_table(title: str, records: list[dict]) -> str:
    """A plain-text table: title, header, rule, one line per record; numbers right-aligned.

    >>> print(text_table("LS means", [{"visit": "day0", "estimate": 0.0512}]))
    LS means
    visit  estimate
    -----  --------
    day0     0.0512
    """
    if not records:
        return f"{title}\n(none)"
    cols = list(records[0])
    cells = [[_cell(r.get(c)) for c in cols] for r in records]
    right = [
        all(
            r.get(c) is None
            or (isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool))
            for r in records
        )
        for c in cols
    ]
    width = [max(len(str(c)), *(len(row[j]) for row in cells)) for j, c in enumerate(cols)]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, width, right, strict=True)
        ).rstrip()

    out = [title, line([str(c) for c in cols]), line(["-" * w for w in width])]
    out += [line(row) for row in cells]
    return "\n".join(out)


@cli.command("fit", short_help="Fit a mixed model: estimates, LS means, contrasts")
@click.argument("data", metavar="DATA.csv", type=click.Path(path_type=Path))
@click.option("--formula", required=True, help='Fixed effects, e.g. "uws ~ visit"')
@click.option("--subject", required=True, help="Column identifying the subject")
@click.option("--time", help="Repeated (time) factor column")
@click.option(
    "--covariance",
    type=click.Choice(COVARIANCES),
    default="un",
    help="random-intercept (RANDOM intercept / SUBJECT=) or an R-side structure over "
    "the time levels (REPEATED / TYPE=; adh is ANTE(1))",
)
@click.option("--group", help="Separate R-side covariance per level (SAS GROUP=)")
@click.option(
    "--random",
    metavar='"~ 1[ + x]"',
    help="Random effects beside an R-side --covariance (SAS RANDOM with REPEATED): a "
    "random intercept per subject, and slopes",
)
@click.option(
    "--coordinates",
    metavar="COL[,COL]",
    help="Numeric column(s) placing each observation for a spatial structure (sp-exp, "
    "sp-gau, sp-pow: SAS SP(EXP)(COL ...)), e.g. the actual study day; replaces --time",
)
@click.option(
    "--weights",
    metavar="COLUMN",
    help="Observation weights (SAS WEIGHT, mmrm weights): R-side structures; a row with an "
    "empty weight is left out",
)
@click.option(
    "--df",
    type=click.Choice(DF_METHODS),
    default="kenward-roger",
    help="Denominator degrees of freedom",
)
@click.option(
    "--vcov",
    type=click.Choice(VCOV_METHODS),
    default="model",
    help="Covariance of the fixed effects: model-based, or empirical (sandwich: SAS "
    "EMPIRICAL, mmrm's CR0), empirical-jackknife (CR3), empirical-bias-reduced (CR2); "
    "with these, --df satterthwaite is mmrm's and Kenward-Roger is refused",
)
@click.option(
    "--kr-information",
    type=click.Choice(KR_INFORMATION),
    default="observed",
    help="Information matrix of Kenward-Roger's adjustment: observed, as SAS PROC "
    "MIXED DDFM=KR, or expected, as R's pbkrtest (lmerTest, emmeans)",
)
@click.option("--lsmeans", help="Factor to compute LS means for")
@click.option(
    "--lsmeans-weights",
    type=click.Choice(LSMEANS_WEIGHTS),
    default="equal",
    help="Margins of the LS means over the other factors: equal (SAS's default), or "
    'proportional to the data (SAS OM, emmeans "proportional")',
)
@click.option("--type2", is_flag=True, help="Type II tests too (SAS HTYPE=2, car's Anova)")
@click.option("--by", help="LS means within levels of this factor")
@click.option(
    "--reference",
    help="Level of the --lsmeans factor to contrast against (default: its first level)",
)
@click.option(
    "--time-order",
    metavar="L1,L2,...",
    help="The time levels in order (default: order of first appearance)",
)
@click.option(
    "--method",
    type=UpperChoice(["REML", "ML"]),
    default="REML",
    help="REML, or ML (maximum likelihood)",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object")
def fit_command(
    data: Path,
    formula: str,
    subject: str,
    time: str | None,
    covariance: str,
    group: str | None,
    random: str | None,
    coordinates: str | None,
    weights: str | None,
    df: str,
    vcov: str,
    kr_information: str,
    lsmeans: str | None,
    lsmeans_weights: str,
    type2: bool,
    by: str | None,
    reference: str | None,
    time_order: str | None,
    method: str,
    as_json: bool,
) -> None:
    """Fit a repeated-measures mixed model (REML) and print estimates, LS means and contrasts.

    DATA.csv (or .xlsx) has one row per subject and time. Rows with an empty subject, time or
    response are left out with a warning naming their lines (in --json: "warnings").
    """
    method = method.upper()
    if method == "ML" and df.startswith("kenward-roger"):
        fail("Kenward-Roger is defined for REML fits only; use --method REML or another --df")
    if vcov != "model" and df.startswith("kenward-roger"):
        fail(
            f"Kenward-Roger adjusts the model-based covariance: with --vcov {vcov} choose "
            "--df satterthwaite, residual, between-within or containment"
        )
    if (by or reference or lsmeans_weights != "equal") and not lsmeans:
        fail("--by, --reference and --lsmeans-weights need --lsmeans FACTOR")
    frame = _read_table(data)
    from .stats.model import fit  # heavy imports only when fitting

    order = [s.strip() for s in time_order.split(",")] if time_order else None
    caught: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            res = fit(
                frame,
                formula,
                subject=subject,
                time=time,
                covariance=covariance,
                group=group,
                method=method,
                time_order=order,
                source=str(data),
                kr_information=kr_information,
                weights=weights,
                vcov=vcov,
                random=random,
                coordinates=[c.strip() for c in coordinates.split(",")] if coordinates else None,
            )
            out = res.to_dict(
                df_method=df,
                lsmeans=lsmeans,
                by=by,
                reference=reference,
                lsmeans_weights=lsmeans_weights,
                type2=type2,
            )
        caught = [str(x.message) for x in w]
    except XerotrialError as exc:
        fail_error(exc)
    for msg in caught:
        warn(msg)
    if df.startswith("kenward-roger"):
        out["kr_information"] = kr_information
    out["warnings"] = caught
    if as_json:
        sys.stdout.write(json.dumps(json_safe(out), indent=2) + "\n")
        return
    _print_fit(res, out, df, lsmeans)


def _print_fit(res, out, df, lsmeans) -> None:
    def bold(text: str) -> str:
        return styled(text, "bold", sys.stdout)

    kr = f" ({out['kr_information']} information)" if "kr_information" in out else ""
    lines = [
        f"{bold(f'{res.method} fit')} of {res.design.response}: {out['n_obs']} observations, "
        f"{out['n_subjects']} subjects ({out['n_missing_response']} rows with a missing "
        f"response left out); covariance {res.covariance}; df {df}{kr}"
        + (f"; {res.vcov} covariance of the fixed effects" if res.vcov != "model" else "")
    ]
    ll_key = "neg2_reml_loglik" if res.method == "REML" else "neg2_loglik"
    status = "converged" if out["converged"] else styled("NOT converged", "red", sys.stdout)
    ic = out["information_criteria"]
    lines.append(
        f"-2 log-likelihood {out[ll_key]:.4f}, AIC {ic['AIC']:.4f}, BIC {ic['BIC']:.4f}; "
        f"{status} in {out['iterations']} iterations"
    )
    tables = [
        ("Covariance parameters", res.covariance_parameters().to_dict("records")),
        ("Fixed effects", out["fixed"]),
        ("Type 3 tests", out["type3"]),
    ]
    if "type2" in out:
        tables.append(("Type 2 tests", out["type2"]))
    if lsmeans:
        margins = " (observed margins)" if out["lsmeans_weights"] == "proportional" else ""
        tables += [
            (f"LS means of {lsmeans}{margins}", out["lsmeans"]),
            ("Differences from reference", out["contrasts"]),
        ]
    for title, records in tables:
        lines += ["", text_table(bold(title), records)]
    sys.stdout.write("\n".join(lines) + "\n")


cli.add_command(score_group)
cli.add_command(power)
cli.add_command(estimand)
for _command in STORE_COMMANDS:
    cli.add_command(_command)
cli.add_command(report_command)
cli.add_command(demo_command)
cli.add_command(study_group)
cli.add_command(randomize_group)
for _command in WEB_COMMANDS:
    cli.add_command(_command)


@cli.command("completion", short_help="Print a shell completion script (bash, zsh, fish)")
@click.argument("shell", type=click.Choice(SHELLS))
def completion_command(shell: str) -> None:
    """Print the script that makes SHELL complete xerotrial's commands, options and choices.

    \b
    bash:  eval "$(xerotrial completion bash)"        (in ~/.bashrc)
    zsh:   eval "$(xerotrial completion zsh)"         (in ~/.zshrc)
    fish:  xerotrial completion fish > ~/.config/fish/completions/xerotrial.fish
    """
    from click.shell_completion import get_completion_class

    script = get_completion_class(shell)(cli, {}, "xerotrial", "_XEROTRIAL_COMPLETE")
    click.echo(script.source())


def main(args: list[str] | None = None) -> None:
    """Entry point: run the command line; a usage error exits with status 2 (click's rule),
    a data error with status 2 and ``error: ...`` naming the file, line and column."""
    cli.main(args, prog_name="xerotrial")


@cache
def _typer_app() -> typer.Typer:
    import typer

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    forward = {
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "allow_interspersed_args": False,
        "help_option_names": [],
    }

    def xerotrial(ctx) -> None:  # noqa: ANN001 - annotated below, once typer is imported
        main(list(ctx.args))

    xerotrial.__annotations__ = {"ctx": typer.Context, "return": None}
    app.command(context_settings=forward, add_help_option=False)(xerotrial)
    return app


def __getattr__(name: str) -> Any:
    """``app``: the command line as a ``typer.Typer`` whose one command hands its arguments to
    :func:`main` (so ``typer.testing.CliRunner().invoke(app, [...])`` runs ``xerotrial ...``);
    built, and typer imported, only when asked for."""
    if name == "app":
        return _typer_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":  # pragma: no cover
    main()
