"""Reference-based imputation against R rbmi, side by side in one run.

    .venv/bin/python benchmarks/rbmi.py [--quick] [--json OUT] [--no-r]

Data: rbmi's example (the antidepressant trial, 172 subjects x 4 visits), read in place from
../shared/reference/rbmi; ICEs and jump to reference as rbmi's vignettes set them.

* ``condmean-jackknife``: conditional mean imputation and the jackknife, 173 MMRM fits (the
  full data and each subject left out), the ANCOVA per visit on each imputed set, pooling.
  Goal: at least 100x faster than R rbmi.
* ``bootstrap-mi`` with 1,000 bootstrap samples x 2 imputations, and ``approx-bayes`` with
  1,000 samples: the goal is seconds.

Both sides are timed inside their process (start-up and package loading excluded): xerotrial
with ``time.perf_counter`` around ``stats.estimand.run`` (the grid built from the file
included), R with ``system.time`` around draws + impute + analyse + pool. Median of the
repeats after one warm-up. Ratio = R's median / xerotrial's median.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from xerotrial.stats.estimand import run
from xerotrial.stats.imputation import long_data
from xerotrial.tables import read_table

HERE = Path(__file__).resolve().parent
RBMI = HERE.parents[1] / "shared" / "reference" / "rbmi"
GOAL = 100.0


def ice_frame() -> pd.DataFrame:
    ice = json.loads((RBMI / "rbmi_condmean_jackknife.json").read_text())["ice"]
    frame = pd.DataFrame(ice).rename(columns={"PATIENT": "subject", "VISIT": "visit"})
    return frame.assign(strategy="JR")


def analysis(method: str, samples: int | None = None):
    data = long_data(
        read_table(RBMI / "antidepressant_data.csv"),
        outcome="CHANGE",
        subject="PATIENT",
        visit="VISIT",
        group="THERAPY",
        reference="PLACEBO",
        covariates=["BASVAL*VISIT", "THERAPY*VISIT"],
        analysis_covariates=["BASVAL"],
        visit_order=["4", "5", "6", "7"],
        ice=ice_frame(),
    )
    return run(data, method, analysis_covariates=["BASVAL"], samples=samples, seed=1)


def timed(fn, repeats: int) -> tuple[float, list[float]]:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), samples


def r_side(repeats: int, boot: int) -> dict | None:
    if not shutil.which("Rscript"):
        print("R: Rscript not on PATH, the R column is skipped")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        ice = Path(tmp) / "ice.csv"
        ice_frame().to_csv(ice, index=False)
        cmd = [
            "Rscript",
            "--vanilla",
            str(HERE / "rbmi_peers.R"),
            str(RBMI / "antidepressant_data.csv"),
            str(ice),
            str(repeats),
            str(boot),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        print("R: rbmi failed or is not installed, the R column is skipped:\n" + out.stderr[-800:])
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, no R bootstrap")
    ap.add_argument("--json", type=Path, help="write every number as JSON")
    ap.add_argument("--no-r", action="store_true", help="xerotrial only")
    args = ap.parse_args()
    if not (RBMI / "antidepressant_data.csv").exists():
        sys.exit(f"rbmi's example data not found at {RBMI} (shared/ is absent)")
    repeats = 3 if args.quick else 7
    ours = {}
    ours["condmean_jackknife"] = timed(lambda: analysis("condmean-jackknife"), repeats)
    ours["bmlmi_1000"] = timed(lambda: analysis("bootstrap-mi", 1000), 1 if args.quick else 3)
    ours["approxbayes_1000"] = timed(lambda: analysis("approx-bayes", 1000), 1 if args.quick else 3)
    theirs = None if args.no_r else r_side(1 if args.quick else 3, 0 if args.quick else 100)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )
    print(f"{'case':<28}{'xerotrial s':>12}{'R rbmi s':>10}{'ratio':>8}")
    rows = {}
    for case, (median, samples) in ours.items():
        r = None
        if theirs is not None:
            r = theirs.get("condmean_jackknife") if case == "condmean_jackknife" else None
            if case == "bmlmi_1000" and theirs.get("bmlmi") is not None:
                r = theirs["bmlmi"] * 10  # R ran B = 100: its time scales with B
        ratio = r / median if r else None
        rows[case] = {"xerotrial_s": median, "samples": samples, "r_s": r, "ratio": ratio}
        print(
            f"{case:<28}{median:>12.3f}{(f'{r:.2f}' if r else '-'):>10}"
            f"{(f'{ratio:.0f}x' if ratio else '-'):>8}"
        )
    if rows["condmean_jackknife"]["ratio"]:
        ok = rows["condmean_jackknife"]["ratio"] >= GOAL
        print(
            f"goal condmean-jackknife >= {GOAL:.0f}x faster than R rbmi: "
            f"{'met' if ok else 'NOT met'}"
        )
    if theirs and theirs.get("bmlmi") is not None:
        print("bmlmi_1000's R time is R's B = 100 run x 10 (rbmi fits one MMRM per sample)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "r": theirs}, indent=1))


if __name__ == "__main__":
    main()
