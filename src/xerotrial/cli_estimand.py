"""``xerotrial estimand``: an estimand's analysis by reference-based imputation, as R rbmi.

``estimand`` is a click command; ``cli.py`` adds it to the ``xerotrial`` group. The work is
``xerotrial.stats.estimand.run``; this module reads the files and prints.

Example
-------
    xerotrial estimand antidepressant.csv --outcome CHANGE --subject PATIENT --visit VISIT \\
        --group THERAPY --reference PLACEBO --covariates "BASVAL*VISIT,THERAPY*VISIT" \\
        --analysis-covariates BASVAL --ice ice.csv --method condmean-jackknife --json
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

from .cli_common import fail_error, json_safe
from .errors import XerotrialError
from .stats.options import IMPUTATION_METHODS, VISIT_COVARIANCES

__all__ = ["estimand"]

_PATH = click.Path(path_type=Path, exists=True, dir_okay=False)


def _terms(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _read(path: Path):
    from .tables import read_table

    frame = read_table(path)
    frame.attrs["file"] = str(path)
    return frame


def _number(value: float, digits: int = 3) -> str:
    return "" if not math.isfinite(value) else f"{value:.{digits}f}"


def _p(value: float) -> str:
    if not math.isfinite(value):
        return ""
    return "<.001" if value < 0.001 else f"{value:.3f}"


def _text_report(result, data) -> str:
    first, second = data.groups
    counts: dict[str, int] = {}
    for s, i in zip(data.strategy, data.ice, strict=True):
        if i < len(data.visits):
            counts[s] = counts.get(s, 0) + 1
    ice = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
    lines = [
        f"estimand: {result.method}, {result.n_samples} samples, pooled by {result.pool}"
        + (f", seed {result.seed}" if result.seed is not None else ""),
        f"subjects: {data.n_subjects} ({first} {int((data.arm == 0).sum())}, {second} "
        f"{int((data.arm == 1).sum())}); intercurrent events: {ice}; imputed values: "
        f"{int((data.y != data.y).sum())}; reference group: {data.reference}",
        f"trt = {second} minus {first}; lsm_ref = {first}, lsm_alt = {second} (rbmi's names)",
        "",
    ]
    header = ("parameter", "visit", "estimate", "SE", "95% CI", "p")
    rows = [
        (
            r["parameter"],
            r["visit"],
            _number(r["est"]),
            _number(r["se"]),
            f"{_number(r['lci'])} to {_number(r['uci'])}",
            _p(r["pval"]),
        )
        for r in result.results
    ]
    widths = [max(len(str(x[i])) for x in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        lines.append(
            "  ".join(
                str(v).ljust(w) if i < 2 else str(v).rjust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    if result.n_failed:
        lines.append(f"\n{result.n_failed} bootstrap fit(s) failed and were replaced")
    return "\n".join(lines)


@click.command(
    "estimand", short_help="Reference-based multiple imputation (rbmi's methods) per visit"
)
@click.argument("data_file", metavar="DATA.csv", type=_PATH)
@click.option("--outcome", required=True, help="Outcome column (change from baseline, say)")
@click.option("--subject", required=True, help="Subject column")
@click.option("--visit", required=True, help="Visit column")
@click.option("--group", required=True, help="Treatment group column (two groups)")
@click.option("--reference", required=True, help="The reference group of JR, CR and CIR (placebo)")
@click.option(
    "--covariates",
    default="",
    help="Imputation model terms besides group and visit: 'BASVAL*VISIT,THERAPY*VISIT'",
)
@click.option("--analysis-covariates", default="", help="ANCOVA covariates per visit: BASVAL")
@click.option("--visit-order", help="The visits in time order: 4,5,6,7 (default: as they appear)")
@click.option(
    "--group-order",
    help="The groups in the analysis's order (default: sorted); trt = second minus first",
)
@click.option("--ice", "ice_file", type=_PATH, help="ICE.csv: subject, visit, strategy")
@click.option("--delta", "delta_file", type=_PATH, help="DELTA.csv: subject, visit, delta")
@click.option(
    "--method", required=True, type=click.Choice(IMPUTATION_METHODS), help="rbmi's method"
)
@click.option("--samples", type=int, help="Bootstrap samples (B of bootstrap-mi)")
@click.option(
    "--draws",
    type=int,
    default=2,
    show_default=True,
    help="bootstrap-mi: imputations per bootstrap sample (D)",
)
@click.option(
    "--pool",
    type=click.Choice(("percentile", "normal")),
    default="percentile",
    show_default=True,
    help="condmean-bootstrap: the interval",
)
@click.option("--seed", type=int, help="Random seed (printed when not given)")
@click.option(
    "--covariance",
    type=click.Choice([c for c in VISIT_COVARIANCES if c != "random-intercept"]),
    default="un",
    show_default=True,
    help="Covariance of the imputation model over the visits",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object")
def estimand(
    data_file: Path,
    outcome: str,
    subject: str,
    visit: str,
    group: str,
    reference: str,
    covariates: str,
    analysis_covariates: str,
    visit_order: str | None,
    group_order: str | None,
    ice_file: Path | None,
    delta_file: Path | None,
    method: str,
    samples: int | None,
    draws: int,
    pool: str,
    seed: int | None,
    covariance: str,
    as_json: bool,
) -> None:
    """Multiple imputation under MAR, JR, CR, CIR or LMCF (per subject, from --ice), an
    ANCOVA per visit, and results pooled as rbmi pools them."""
    from .stats.estimand import run
    from .stats.imputation import long_data

    try:
        data = long_data(
            _read(data_file),
            outcome=outcome,
            subject=subject,
            visit=visit,
            group=group,
            reference=reference,
            covariates=_terms(covariates),
            analysis_covariates=_terms(analysis_covariates),
            visit_order=_terms(visit_order) or None,
            group_order=_terms(group_order) or None,
            ice=_read(ice_file) if ice_file else None,
            delta=_read(delta_file) if delta_file else None,
            source=str(data_file),
        )
        result = run(
            data,
            method,
            analysis_covariates=_terms(analysis_covariates),
            covariance=covariance,
            samples=samples,
            draws=draws,
            seed=seed,
            pool=pool,
        )
    except XerotrialError as exc:
        fail_error(exc)
    if as_json:
        sys.stdout.write(json.dumps(json_safe(result.as_dict()), indent=1) + "\n")
        return
    sys.stdout.write(_text_report(result, data) + "\n")
