"""The ``xerotrial`` command line: thin wrappers that parse, call the library and print.

Example
-------
    xerotrial fit examples/trial_uws.csv --formula "uws ~ visit" --subject subject \\
        --time visit --covariance random-intercept --df kenward-roger --lsmeans visit \\
        --reference day0
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from .cli_common import err, fail
from .cli_power import power as power_command
from .cli_report import demo_command, report_command
from .cli_score import score_app
from .cli_store import store_app
from .stats.errors import XerotrialError
from .stats.options import COVARIANCES, DF_METHODS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="xerotrial: data and statistics of a salivary-gland cell-therapy trial.",
)
app.add_typer(score_app, name="score")
app.command("power")(power_command)
app.add_typer(store_app)
app.command("report")(report_command)
app.command("demo")(demo_command)



def _clean(obj):
    """JSON-safe: NaN and infinities become null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        fail(f"{path}: no such file")
    try:
        if path.suffix.lower() in (".xlsx", ".xls"):
            return pd.read_excel(path)
        return pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a user error here
        fail(f"{path}: cannot read it as a table ({exc})")
    raise AssertionError  # unreachable


def _table(title: str, frame: pd.DataFrame) -> Table:
    t = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for col in frame.columns:
        t.add_column(str(col), justify="right" if frame[col].dtype.kind in "fi" else "left")
    for rec in frame.itertuples(index=False):
        cells = []
        for v in rec:
            if isinstance(v, float):
                cells.append(f"{v:.6g}")
            else:
                cells.append(str(v))
        t.add_row(*cells)
    return t


@app.command("fit")
def fit_command(
    data: Annotated[Path, typer.Argument(help="CSV (or Excel) file, one row per subject and time")],
    formula: Annotated[str, typer.Option(help='Fixed effects, e.g. "uws ~ visit"')],
    subject: Annotated[str, typer.Option(help="Column identifying the subject")],
    time: Annotated[str | None, typer.Option(help="Repeated (time) factor column")] = None,
    covariance: Annotated[
        str, typer.Option(help=f"One of: {', '.join(COVARIANCES)}")
    ] = "un",
    group: Annotated[
        str | None, typer.Option(help="Separate R-side covariance per level (SAS GROUP=)")
    ] = None,
    df: Annotated[str, typer.Option("--df", help=f"One of: {', '.join(DF_METHODS)}")] = (
        "kenward-roger"
    ),
    lsmeans: Annotated[str | None, typer.Option(help="Factor to compute LS means for")] = None,
    by: Annotated[str | None, typer.Option(help="LS means within levels of this factor")] = None,
    reference: Annotated[
        str | None, typer.Option(help="Level of the --lsmeans factor to contrast against")
    ] = None,
    time_order: Annotated[
        str | None, typer.Option(help="Comma-separated time levels in order")
    ] = None,
    method: Annotated[str, typer.Option(help="REML or ML")] = "REML",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Fit a repeated-measures mixed model (REML) and print estimates, LS means and contrasts."""
    if covariance not in COVARIANCES:
        fail(f"--covariance {covariance!r} is not one of: {', '.join(COVARIANCES)}")
    if df not in DF_METHODS:
        fail(f"--df {df!r} is not one of: {', '.join(DF_METHODS)}")
    if method.upper() not in ("REML", "ML"):
        fail(f"--method {method!r} is not REML or ML")
    if method.upper() == "ML" and df.startswith("kenward-roger"):
        fail("Kenward-Roger is defined for REML fits only; use --method REML or another --df")
    if (by or reference) and not lsmeans:
        fail("--by and --reference need --lsmeans FACTOR")
    from .stats.model import fit  # heavy imports only when fitting

    frame = _read_table(data)
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
            )
            out = res.to_dict(df_method=df, lsmeans=lsmeans, by=by, reference=reference)
        caught = [str(x.message) for x in w]
    except XerotrialError as exc:
        fail(str(exc))
    for msg in caught:
        err.print(f"[yellow]warning:[/] {msg}", highlight=False)
    out["warnings"] = caught
    if as_json:
        sys.stdout.write(json.dumps(_clean(out), indent=2) + "\n")
        return
    _print_fit(res, out, df, lsmeans, by, reference)


def _print_fit(res, out, df, lsmeans, by, reference) -> None:
    con = Console(width=max(Console().width, 120))
    con.print(
        f"[bold]{res.method} fit[/] of {res.design.response}: {out['n_obs']} observations, "
        f"{out['n_subjects']} subjects ({out['n_missing_response']} rows with a missing "
        f"response left out); covariance {res.covariance}; df {df}"
    )
    ll_key = "neg2_reml_loglik" if res.method == "REML" else "neg2_loglik"
    status = "converged" if out["converged"] else "[red]NOT converged[/]"
    ic = out["information_criteria"]
    con.print(
        f"-2 log-likelihood {out[ll_key]:.4f}, AIC {ic['AIC']:.4f}, BIC {ic['BIC']:.4f}; "
        f"{status} in {out['iterations']} iterations"
    )
    con.print(_table("Covariance parameters", res.covariance_parameters()))
    con.print(_table("Fixed effects", pd.DataFrame(out["fixed"])))
    con.print(_table("Type 3 tests", pd.DataFrame(out["type3"])))
    if lsmeans:
        con.print(_table(f"LS means of {lsmeans}", pd.DataFrame(out["lsmeans"])))
        con.print(_table("Differences from reference", pd.DataFrame(out["contrasts"])))


@app.callback()
def _root() -> None:
    """xerotrial: REML mixed models that match SAS PROC MIXED, and the trial around them."""


def main() -> None:
    """Entry point: run the app; a usage error exits with status 2 (typer's convention)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
