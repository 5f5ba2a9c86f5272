"""The engine against R mmrm on a large trial, side by side in one run (issue 17's speed goals).

    .venv/bin/python benchmarks/mmrm_large.py [--quick] [--json OUT] [--no-r]

* ``bcva``: mmrm's bcva_data (1,000 subjects x 10 visits, 8,605 rows, many missingness
  patterns), read in place from ../shared/anchors/mmrm/data, BCVA_CHG ~ BCVA_BL + RACE +
  ARMCD * AVISIT with an unstructured covariance, REML; the fit and its coefficient table
  with Satterthwaite df, and with Kenward-Roger (linear). mmrm: the same model with
  ``method = "Satterthwaite"`` and with ``vcov = "Kenward-Roger-Linear"``, ``summary()``
  included. Goal: each at most 1/20 of mmrm's time.
* ``large``: 10,000 subjects x 10 visits simulated with an unstructured covariance and
  monotone dropout (xerotrial only): the fit and its Satterthwaite table, with the peak
  resident memory of its own process (``resource.getrusage``), and how much of it the fit
  added. Goal: seconds.

Both sides are timed inside their process (start-up and package loading excluded): median of
the repeats after one warm-up. Ratio = mmrm's median / xerotrial's median.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from xerotrial.stats.model import fit

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "anchors" / "mmrm" / "data" / "bcva_data.csv"
FORMULA = "BCVA_CHG ~ BCVA_BL + RACE + ARMCD * AVISIT"

R_SCRIPT = r"""
suppressPackageStartupMessages(library(mmrm))
d <- read.csv("{data}")
d$USUBJID <- factor(d$USUBJID)
d$AVISIT <- factor(d$AVISIT, levels = sprintf("VIS%02d", 1:10))
d$ARMCD <- factor(d$ARMCD, levels = c("CTL", "TRT"))
d$RACE <- factor(d$RACE)
f <- BCVA_CHG ~ BCVA_BL + RACE + ARMCD * AVISIT + us(AVISIT | USUBJID)
sat <- function() summary(mmrm(f, data = d, method = "Satterthwaite"))
kr <- function() summary(mmrm(f, data = d, method = "Kenward-Roger", vcov = "Kenward-Roger-Linear"))
time_it <- function(g, n) {{
  g()
  vapply(seq_len(n), function(i) system.time(g(), gcFirst = FALSE)[["elapsed"]], 0)
}}
cat(jsonlite::toJSON(list(satterthwaite = time_it(sat, {n}), kr_linear = time_it(kr, {n})),
                     digits = NA), "\n")
"""


def _median_time(fn, n: int) -> list[float]:
    fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _bcva() -> pd.DataFrame:
    return pd.read_csv(DATA)


def _xerotrial_bcva(data: pd.DataFrame, df_method: str):
    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fit(data, FORMULA, "USUBJID", "AVISIT", "un")
        return res.fixed_effects(df_method)

    return run


def _large(n_subjects: int = 10_000, t: int = 10, seed: int = 17) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sd = np.linspace(4, 8, t)
    corr = 0.5 ** np.abs(np.subtract.outer(np.arange(t), np.arange(t))) * 0.6 + 0.4 * np.eye(t)
    corr = corr / np.sqrt(np.outer(np.diag(corr), np.diag(corr)))
    S = corr * np.outer(sd, sd)
    arm = rng.integers(0, 2, n_subjects)
    y = rng.multivariate_normal(np.zeros(t), S, size=n_subjects)
    y += np.arange(t) * 0.5 + np.outer(arm, np.arange(t)) * 0.3
    drop = rng.integers(3, t + 8, n_subjects)  # monotone dropout after visit drop (or none)
    y[np.arange(t)[None, :] >= drop[:, None]] = np.nan
    return pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_subjects), t),
            "visit": np.tile([f"V{v:02d}" for v in range(1, t + 1)], n_subjects),
            "arm": np.repeat(np.where(arm == 1, "TRT", "CTL"), t),
            "y": y.reshape(-1),
        }
    )


def _large_only(repeats: int) -> None:
    """The 10,000 x 10 fit alone: times, rows, and the process's peak resident memory before
    and after fitting (data and libraries loaded: the difference is the fit's)."""
    large = _large()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        times = _median_time(
            lambda: fit(large, "y ~ arm * visit", "id", "visit", "un").fixed_effects(
                "satterthwaite"
            ),
            repeats,
        )
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"large_rows": int(large["y"].notna().sum()), "xerotrial_large": times,
                      "rss_before_fit_mib": before, "peak_rss_mib": after}))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large-only", type=int, metavar="REPEATS", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--no-r", action="store_true", help="xerotrial only")
    ap.add_argument("--json", type=Path, help="also write every sample as JSON")
    args = ap.parse_args()
    if args.large_only:  # the large fit's own process (below)
        _large_only(args.large_only)
        return
    n = 2 if args.quick else 5
    data = _bcva()
    results: dict = {"platform": platform.platform(), "python": platform.python_version()}
    for key, method in (("satterthwaite", "satterthwaite"), ("kr_linear", "kenward-roger-linear")):
        results[f"xerotrial_{key}"] = _median_time(_xerotrial_bcva(data, method), n)
    if not args.no_r and shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "bench.R"
            script.write_text(R_SCRIPT.format(data=DATA, n=max(n // 2, 1) + 1))
            out = subprocess.run(
                ["Rscript", "--vanilla", str(script)], capture_output=True, text=True, check=True
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results["mmrm_satterthwaite"] = r["satterthwaite"]
            results["mmrm_kr_linear"] = r["kr_linear"]
    # the large fit in a fresh process, so that its peak memory is its own
    out = subprocess.run(
        [sys.executable, __file__, "--large-only", str(1 if args.quick else 3)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    results.update(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'case':34} {'xerotrial':>10} {'mmrm':>10} {'ratio':>7}")
    for key, label in (
        ("satterthwaite", "bcva UN, Satterthwaite"),
        ("kr_linear", "bcva UN, KR-linear"),
    ):
        ours = statistics.median(results[f"xerotrial_{key}"])
        theirs = results.get(f"mmrm_{key}")
        if theirs:
            med = statistics.median(theirs)
            print(f"{label:34} {ours:9.3f}s {med:9.3f}s {med / ours:6.1f}x")
        else:
            print(f"{label:34} {ours:9.3f}s {'-':>10} {'-':>7}")
    big = statistics.median(results["xerotrial_large"])
    peak, grown = results["peak_rss_mib"], results["peak_rss_mib"] - results["rss_before_fit_mib"]
    print(f"{'10,000 x 10 UN, Satterthwaite':34} {big:9.3f}s  ({results['large_rows']:,} rows;"
          f" peak RSS {peak:.0f} MiB, {grown:.0f} MiB of it the fit's)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
