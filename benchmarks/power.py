"""Fits per second of the batched simulation engine against loops of single fits, in one run.

    .venv/bin/python benchmarks/power.py [--quick] [--json OUT] [--no-r]

Design: 2 arms x 20 subjects, 4 visits, 10% dropout per visit after the first, y ~ arm * visit.

* xerotrial: ``simulate.run_power`` (simulation + batched REML + the Kenward-Roger test of the
  last-visit difference), on all cores (local processes), and one chunk in this process.
* statsmodels ``MixedLM`` (random intercept, REML): a Python loop of fits, always.
* R, when ``Rscript`` is on PATH: a loop of ``lme4::lmer(y ~ arm*visit + (1|id))`` (random
  intercept) and of ``glmmTMB(y ~ arm*visit + us(0 + visit | id), dispformula = ~0,
  REML = TRUE)`` (unstructured), timed inside R after a warm-up fit (start-up and package
  loading excluded). The other tools fit only: no df, no test, no simulation.

Ratio = xerotrial fits/s / other tool's fits/s (goal: at least 100 for lme4 and glmmTMB).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from xerotrial.stats.simulate import TrialDesign, run_power, simulate_chunk, simulate_data

GOAL = 100.0
DESIGN = dict(visits=4, effect=(0.0, 0.0, 0.0, 0.05), sd=(0.1,), correlation=0.6, dropout=(0.1,))


def design(covariance: str) -> TrialDesign:
    return TrialDesign(**DESIGN, covariance=covariance, df_method="kenward-roger")


def xerotrial_rates(covariance: str, sims: int) -> dict[str, float]:
    d = design(covariance)
    simulate_chunk(d, 20, 0, 100, seed=99)  # warm-up
    t0 = time.perf_counter()
    simulate_chunk(d, 20, 1, 1000, seed=99)
    single = 1000 / (time.perf_counter() - t0)
    res = run_power(d, [20], n_sims=sims, seed=1, chunk_size=500)
    return {
        "one_process": single,
        "all_cores": res.fits_per_second,
        "power": res.results[0].power,
        "n_failed": res.results[0].n_failed,
    }


def replicate_frames(k: int) -> pd.DataFrame:
    sim = simulate_data(design("un"), 20, k, np.random.default_rng(2024))
    return pd.concat([sim.frame(r).assign(rep=r) for r in range(k)], ignore_index=True)


def statsmodels_rate(frames: pd.DataFrame, k: int) -> float:
    import statsmodels.formula.api as smf

    reps = [g for _, g in frames.groupby("rep")][:k]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smf.mixedlm("y ~ arm * visit", reps[0], groups=reps[0]["id"]).fit(reml=True)
        t0 = time.perf_counter()
        for g in reps:
            smf.mixedlm("y ~ arm * visit", g, groups=g["id"]).fit(reml=True)
    return len(reps) / (time.perf_counter() - t0)


#: The R program (lme4, glmmTMB): ``Rscript power_peers.R REPS.csv K_LMER K_TMB``.
R_SCRIPT = Path(__file__).with_name("power_peers.R")


def r_rates(frames: pd.DataFrame, k_lmer: int, k_tmb: int) -> dict[str, float] | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "reps.csv"
        frames.to_csv(csv, index=False)
        out = subprocess.run(
            [rscript, "--vanilla", str(R_SCRIPT), str(csv), str(k_lmer), str(k_tmb)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
    if out.returncode != 0:
        print("R failed:", out.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer fits (about 1 min)")
    ap.add_argument("--json", type=Path, help="also write the numbers as JSON")
    ap.add_argument("--no-r", action="store_true", help="skip the R loops")
    args = ap.parse_args()
    sims = 4000 if args.quick else 20000
    k_loop = 30 if args.quick else 100
    k_tmb = 10 if args.quick else 30
    print(f"machine: {os.cpu_count()} cores; design: 20/arm, 4 visits, 10% dropout per visit")
    ours = {c: xerotrial_rates(c, sims) for c in ("random-intercept", "un")}
    frames = replicate_frames(max(k_loop, k_tmb) + 1)
    sm = statsmodels_rate(frames, k_loop)
    rr = None if args.no_r else r_rates(frames, k_loop, k_tmb)
    rows = [("random-intercept", "statsmodels MixedLM", sm)]
    if rr:
        rows += [
            ("random-intercept", "lme4::lmer", rr["lme4"]),
            ("un", "glmmTMB us()", rr["glmmTMB"]),
        ]
    print()
    print(
        f"{'model':<18}{'xerotrial fits/s (all cores)':>30}{'(1 process)':>14}"
        f"{'other tool':>22}{'fits/s':>10}{'ratio':>9}  goal"
    )
    report = {"xerotrial": ours, "others": {}, "ratios": {}}
    for model, tool, rate in rows:
        x = ours[model]
        ratio = x["all_cores"] / rate
        goal = (
            f">= {GOAL:g}x: {'met' if ratio >= GOAL else 'NOT met'}"
            if tool != ("statsmodels MixedLM")
            else ""
        )
        print(
            f"{model:<18}{x['all_cores']:>30,.0f}{x['one_process']:>14,.0f}{tool:>22}"
            f"{rate:>10,.1f}{ratio:>8,.0f}x  {goal}"
        )
        report["others"][tool] = rate
        report["ratios"][tool] = ratio
    if rr is None and not args.no_r:
        print("(Rscript not found: no lme4 / glmmTMB columns)")
    print(
        "\nxerotrial's fits include simulating the data and the Kenward-Roger test; the "
        "others fit only."
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
