"""``xerotrial power``: simulation-based power (and sample size) of the phase II trial.

``power`` is a click command; ``cli.py`` adds it to the ``xerotrial`` group.

Example
-------
    xerotrial power --n-per-arm 20,30 --visits 4 --effect 0,0,0,0.05 --sd 0.1 \\
        --correlation 0.6 --dropout 0.1 --covariance un --df kenward-roger \\
        --sims 2000 --seed 1 --json
"""

from __future__ import annotations

import json
import math
import sys
import tomllib
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click

from .cli_common import fail, fail_error, stderr_console, warn
from .errors import XerotrialError
from .stats.options import DF_METHODS, VISIT_COVARIANCES

__all__ = ["power", "parse_list", "build_design"]


_PATH = click.Path(path_type=Path)


def parse_list(text: str | None, name: str, kind: type = float) -> list | None:
    """Comma-separated numbers (``"0,0,0.05"``) as a list; None stays None.

    >>> parse_list("20, 30", "--n-per-arm", int)
    [20, 30]
    """
    if text is None:
        return None
    try:
        out = [kind(v.strip()) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise XerotrialError(f"{name} {text!r}: expected comma-separated numbers") from None
    if not out:
        raise XerotrialError(f"{name} is empty")
    if any(isinstance(v, float) and not math.isfinite(v) for v in out):
        raise XerotrialError(f"{name} {text!r}: values must be finite")
    return out


def _as_list(v: Any) -> list | None:
    if v is None:
        return None
    return list(v) if isinstance(v, list | tuple) else [v]


def build_design(settings: dict[str, Any]):
    """A ``TrialDesign`` from merged settings (TOML keys or flags; lists for per-visit values).

    >>> d = build_design({"visits": 3, "effect": [0, 0, 0.5], "sd": [1.0], "correlation": 0.5})
    >>> d.visits, d.effect
    (3, (0.0, 0.0, 0.5))
    """
    from .stats.simulate import TrialDesign

    fields = TrialDesign.__dataclass_fields__
    unknown = sorted(set(settings) - set(fields))
    if unknown:
        raise XerotrialError(f"unknown design setting(s): {', '.join(unknown)}")
    kw: dict[str, Any] = {}
    for k, v in settings.items():
        if v is None:
            continue
        if k in ("effect", "sd", "placebo_mean", "dropout", "contrast"):
            kw[k] = tuple(float(x) for x in _as_list(v))
        elif k == "correlation_matrix":
            kw[k] = tuple(tuple(float(x) for x in row) for row in v)
        else:
            kw[k] = v
    if "visits" not in kw:
        for k in ("effect", "sd", "placebo_mean"):
            if k in kw and len(kw[k]) > 1:
                kw["visits"] = len(kw[k])
                break
    return TrialDesign(**kw)


def _from_data(
    path: Path,
    formula: str,
    subject: str,
    time: str,
    arm: str,
    reference: str | None,
    covariance: str,
) -> dict[str, Any]:
    """Assumptions from a fitted data set: per-visit LS-mean differences and the covariance.

    The file is read as ``fit`` reads it (``xerotrial.tables.read_table``: strict, numeric
    columns as numbers, errors naming the file's line)."""
    import numpy as np

    from .stats.model import fit
    from .tables import read_table

    frame = read_table(path, numeric=True)
    res = fit(frame, formula, subject=subject, time=time, covariance=covariance, source=str(path))
    tab = res.contrasts_vs_reference(arm, reference, by=time, df_method="kenward-roger")
    if len(tab) != len(res.design.time_levels):
        raise XerotrialError(f"--from-data needs exactly two arms in {arm!r}")
    V = res.covariance_matrix(0)
    sd = np.sqrt(np.diag(V))
    ls = res.lsmeans(arm, by=time, df_method="kenward-roger")
    ref = reference or res.design.factors[arm][0]
    placebo = ls[ls[arm].astype(str) == str(ref)]
    return {
        "visits": len(res.design.time_levels),
        "effect": [float(v) for v in tab["estimate"]],
        "placebo_mean": [float(v) for v in placebo["estimate"]],
        "sd": [float(v) for v in sd],
        "correlation_structure": "un",
        "correlation_matrix": (V / np.outer(sd, sd)).tolist(),
    }


def _plot(path: Path, result, target: float | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [r.n_per_arm for r in result.results]
    pw = [r.power for r in result.results]
    se = [r.mc_se for r in result.results]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(
        ns,
        pw,
        yerr=[2 * s for s in se],
        marker="o",
        capsize=3,
        label="simulated power (+/- 2 MC SE)",
    )
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", label=f"target {target:g}")
    ax.set_xlabel("n per arm")
    ax.set_ylabel("power")
    ax.set_ylim(0, 1)
    d = result.design
    ax.set_title(f"{d.covariance}, {d.df_method}, alpha {d.alpha:g}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@click.command("power", short_help="Simulated power (and sample size) of a two-arm trial")
@click.option("--n-per-arm", type=str, help="n per arm (placebo), one value or a list: 20,30,40")
@click.option("--visits", type=int, help="Number of visits")
@click.option("--effect", type=str, help="Active - placebo mean difference: one value or per visit")
@click.option("--sd", type=str, help="Outcome SD: one value or per visit")
@click.option("--correlation", type=float, help="Correlation between visits (cs or ar1)")
@click.option(
    "--correlation-structure", type=str, help="Correlation of the simulated data: cs or ar1"
)
@click.option(
    "--intercept-sd", type=float, help="Simulate a random intercept with this SD (+ residual)"
)
@click.option("--residual-sd", type=float, help="Residual SD with --intercept-sd")
@click.option(
    "--dropout", type=str, help="Per-visit probability of leaving before a visit (one or per visit)"
)
@click.option(
    "--placebo-response", type=str, help="Placebo arm's mean (change): one value or per visit"
)
@click.option("--allocation", type=float, help="Active subjects per placebo subject")
@click.option(
    "--baseline-slope", type=float, help="Add a baseline covariate with this slope (data + model)"
)
@click.option("--baseline-sd", type=float, help="SD of the baseline covariate")
@click.option(
    "--covariance", type=click.Choice(VISIT_COVARIANCES), help="Covariance of the analysis model"
)
@click.option("--df", type=click.Choice(DF_METHODS), help="Denominator df method")
@click.option(
    "--contrast", type=str, help="Weights of the per-visit differences (default: the last visit)"
)
@click.option("--alpha", type=float, help="Two-sided significance level")
@click.option("--sims", type=int, help="Simulated trials per n")
@click.option("--seed", type=int, help="Random seed")
@click.option("--chunk-size", type=int, help="Trials per chunk (part of the random stream)")
@click.option("--workers", type=int, help="Local processes (default: one per core)")
@click.option("--dask", type=str, help="Dask cluster: 'local' or a scheduler tcp://HOST:PORT")
@click.option(
    "--target-power", type=float, help="Report the smallest n per arm reaching this power"
)
@click.option("--config", type=_PATH, help="TOML file of design settings (flags override it)")
@click.option("--from-data", type=_PATH, help="Take effect and covariance from a fitted data set")
@click.option("--formula", type=str, help="With --from-data: e.g. 'y ~ arm*visit'")
@click.option("--subject", type=str, help="With --from-data: subject column")
@click.option("--time", type=str, help="With --from-data: visit column")
@click.option("--arm", type=str, help="With --from-data: treatment column")
@click.option("--reference", type=str, help="With --from-data: the placebo level of --arm")
@click.option(
    "--prior-estimate",
    type=float,
    help="Assurance: an earlier trial's estimate of the tested contrast (the prior's mean)",
)
@click.option("--prior-se", type=float, help="Assurance: that estimate's SE")
@click.option(
    "--prior-discount",
    type=float,
    help="Assurance: the earlier trial's weight a0 in (0, 1] (prior SD = SE / sqrt(a0))",
)
@click.option("--prior-nodes", type=int, help="Assurance: equal-probability prior strata (20)")
@click.option("--plot", type=_PATH, help="Write the power curve to a .png or .svg file")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object")
def power(
    n_per_arm: str | None,
    visits: int | None,
    effect: str | None,
    sd: str | None,
    correlation: float | None,
    correlation_structure: str | None,
    intercept_sd: float | None,
    residual_sd: float | None,
    dropout: str | None,
    placebo_response: str | None,
    allocation: float | None,
    baseline_slope: float | None,
    baseline_sd: float | None,
    covariance: str | None,
    df: str | None,
    contrast: str | None,
    alpha: float | None,
    sims: int | None,
    seed: int | None,
    chunk_size: int | None,
    workers: int | None,
    dask: str | None,
    target_power: float | None,
    config: Path | None,
    from_data: Path | None,
    formula: str | None,
    subject: str | None,
    time: str | None,
    arm: str | None,
    reference: str | None,
    prior_estimate: float | None,
    prior_se: float | None,
    prior_discount: float | None,
    prior_nodes: int | None,
    plot: Path | None,
    as_json: bool,
) -> None:
    """Simulated power of the AT-MSC vs placebo trial, analysed with the engine's mixed model."""
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        fail(f"--plot {plot}: the file name must end in .png or .svg")
    if target_power is not None and not 0 < target_power < 1:
        fail("--target-power must lie in (0, 1)")
    if covariance is not None and covariance not in VISIT_COVARIANCES:  # called from Python
        fail(f"--covariance {covariance!r} is not one of: {', '.join(VISIT_COVARIANCES)}")
    if df is not None and df not in DF_METHODS:
        fail(f"--df {df!r} is not one of: {', '.join(DF_METHODS)}")
    if sims is not None and sims < 1:
        fail("--sims must be at least 1")
    assured = prior_estimate is not None or prior_se is not None
    if assured and (target_power is not None or plot is not None):
        fail("--target-power and --plot are for power curves, not for assurance (--prior-*)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result, target, n_req = _power(SimpleNamespace(**locals()))
    messages = list(dict.fromkeys(str(w.message) for w in caught))
    for msg in messages:
        warn(msg)
    if assured:
        if as_json:
            out = result.to_dict()
            if messages:
                out["warnings"] = messages
            sys.stdout.write(json.dumps(out, indent=2) + "\n")
        else:
            _print_assurance(result)
        return
    if plot is not None:
        _plot(plot, result, target)
    if as_json:
        out = result.to_dict()
        if target is not None:
            out["target_power"] = target
            out["n_per_arm_required"] = n_req
        if messages:  # the contract's keys stay as they were when nothing went wrong
            out["warnings"] = messages
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return
    _print(result, target, n_req)


def _power(o: SimpleNamespace):
    """``power``'s work: the design, the simulation, the smallest n (errors exit 2); ``o``
    holds the command's options by name."""
    try:
        settings: dict[str, Any] = {}
        run: dict[str, Any] = {}
        if o.config is not None:
            if not o.config.exists():
                raise XerotrialError(f"{o.config}: no such file")
            try:
                settings = tomllib.loads(o.config.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise XerotrialError(f"{o.config}: not valid TOML ({exc})") from None
            for k in ("n_per_arm", "sims", "seed", "chunk_size", "target_power"):
                if k in settings:
                    run[k] = settings.pop(k)
        if o.from_data is not None:
            missing = [
                n
                for n, v in (
                    ("--formula", o.formula),
                    ("--subject", o.subject),
                    ("--time", o.time),
                    ("--arm", o.arm),
                )
                if not v
            ]
            if missing:
                raise XerotrialError(f"--from-data needs {', '.join(missing)}")
            settings.update(
                _from_data(
                    o.from_data,
                    o.formula,
                    o.subject,
                    o.time,
                    o.arm,
                    o.reference,
                    o.covariance or "un",
                )
            )
        flags = {
            "visits": o.visits,
            "effect": parse_list(o.effect, "--effect"),
            "sd": parse_list(o.sd, "--sd"),
            "correlation": o.correlation,
            "correlation_structure": o.correlation_structure,
            "intercept_sd": o.intercept_sd,
            "residual_sd": o.residual_sd,
            "dropout": parse_list(o.dropout, "--dropout"),
            "placebo_mean": parse_list(o.placebo_response, "--placebo-response"),
            "allocation": o.allocation,
            "baseline_slope": o.baseline_slope,
            "baseline_sd": o.baseline_sd,
            "covariance": o.covariance,
            "df_method": o.df,
            "contrast": parse_list(o.contrast, "--contrast"),
            "alpha": o.alpha,
        }
        if o.intercept_sd is not None and o.correlation_structure is None:
            flags["correlation_structure"] = "random-intercept"
        settings.update({k: v for k, v in flags.items() if v is not None})
        if o.correlation is not None and "correlation_structure" not in flags:
            settings.pop("correlation_matrix", None)
        design = build_design(settings)
        ns = parse_list(o.n_per_arm, "--n-per-arm", int) or _as_list(run.get("n_per_arm"))
        if not ns:
            raise XerotrialError("give --n-per-arm (one value or a list)")
        n_sims = o.sims if o.sims is not None else int(run.get("sims", 1000))
        the_seed = o.seed if o.seed is not None else int(run.get("seed", 1))
        size = o.chunk_size if o.chunk_size is not None else int(run.get("chunk_size", 500))
        target = o.target_power if o.target_power is not None else run.get("target_power")
        if o.prior_estimate is not None or o.prior_se is not None:
            return _assurance(o, design, [int(n) for n in ns], n_sims, the_seed, size), None, None

        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from .stats.simulate import run_power, smallest_n

        total = len(ns) * n_sims
        err = stderr_console()
        with Progress(
            TextColumn("simulating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        ) as bar:
            task = bar.add_task("power", total=total)
            result = run_power(
                design,
                [int(n) for n in ns],
                n_sims=n_sims,
                seed=the_seed,
                chunk_size=size,
                workers=o.workers,
                dask=o.dask,
                progress=lambda k: bar.advance(task, k),
            )
    except XerotrialError as exc:
        fail_error(exc)
    except ValueError as exc:
        fail(str(exc))
        raise AssertionError from exc  # unreachable
    return result, target, smallest_n(result, target) if target is not None else None


def _print(result, target: float | None, n_req: int | None) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    d = result.design
    con.print(
        f"[bold]Simulated power[/]: {d.visits} visits, model {d.covariance}, df {d.df_method}, "
        f"alpha {d.alpha:g}, contrast value {d.true_difference():.6g}; seed {result.seed}"
    )
    t = Table(show_edge=False, header_style="bold")
    for col in ("n per arm", "power", "MC SE", "95% MC interval", "sims", "failed fits"):
        t.add_column(col, justify="right")
    for r in result.results:
        if not r.estimable:  # every fit failed: no power to report (the warning says why)
            t.add_row(str(r.n_per_arm), "not estimable", "-", "-", str(r.n_sims), str(r.n_failed))
            continue
        lo, hi = max(r.power - 1.96 * r.mc_se, 0), min(r.power + 1.96 * r.mc_se, 1)
        t.add_row(
            str(r.n_per_arm),
            f"{r.power:.4f}",
            f"{r.mc_se:.4f}",
            f"{lo:.3f}-{hi:.3f}",
            str(r.n_sims),
            str(r.n_failed),
        )
    con.print(t)
    con.print(f"{result.fits_per_second:,.0f} fits per second ({result.seconds:.2f} s)")
    if target is not None:
        if n_req is None:
            con.print(f"No n per arm in the list reaches power {target:g}.")
        else:
            con.print(f"Smallest n per arm with power >= {target:g}: [bold]{n_req}[/]")


def _assurance(o: SimpleNamespace, design, ns: list[int], sims: int, seed: int, size: int):
    """The assurance of ``design`` under the prior of ``--prior-*`` (errors exit 2)."""
    from .stats.assurance import assurance

    if o.prior_estimate is None or o.prior_se is None:
        raise XerotrialError("assurance needs both --prior-estimate and --prior-se")
    return assurance(
        design,
        ns,
        o.prior_estimate,
        o.prior_se,
        discount=1.0 if o.prior_discount is None else o.prior_discount,
        sims=sims,
        nodes=20 if o.prior_nodes is None else o.prior_nodes,
        seed=seed,
        chunk_size=size,
        workers=o.workers,
        dask=o.dask,
    )


def _print_assurance(result) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    con.print(
        f"[bold]Assurance[/]: prior N({result.prior_mean:.4g}, {result.prior_sd:.4g}^2) for the "
        f"tested contrast (discount a0 = {result.discount:g}); P(effect favourable) = "
        f"{result.probability_effect_favourable:.3f}"
    )
    t = Table(show_edge=False, header_style="bold")
    for col in ("n per arm", "assurance", "MC SE", "power at prior mean", "sims", "failed fits"):
        t.add_column(col, justify="right")
    for r in result.results:
        t.add_row(
            str(r.n_per_arm),
            f"{r.assurance:.4f}",
            f"{r.mc_se:.4f}",
            f"{r.power_at_prior_mean:.4f}",
            str(r.n_sims),
            str(r.n_failed),
        )
    con.print(t)
    con.print(
        "Success: significant with the prior mean's sign; the assurance averages it over the "
        "prior (20 equal-probability strata unless --prior-nodes)."
    )
