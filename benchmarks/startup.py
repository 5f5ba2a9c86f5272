"""Start-up time of the ``xerotrial`` command: wall time of a fresh subprocess, median of N.

    .venv/bin/python benchmarks/startup.py [--runs 7] [--json OUT]

Cases (each a new process, as a user at a shell gets it):

* ``import xerotrial.cli``  ``python -c 'import xerotrial.cli'``: the cost of loading the
  command line, paid by every command;
* ``xerotrial --help``      the console script, top-level help;
* ``xerotrial fit --help``  help of one command;
* ``xerotrial fit``         ``fit`` on the bundled 50-row ``example_uws.csv`` (random intercept,
  Kenward-Roger, LS means by visit), tables and ``--json``;
* ``import ...``            the heavy libraries alone, for comparison.

Goals (issue 10): ``xerotrial --help`` <= 0.3 s, ``xerotrial fit`` on 50 rows <= 1.0 s wall on
the project's 2-core machine. Timings on a shared machine vary: the wall median and minimum and
the median CPU time (user + system, steadier under load) are printed; nothing is asserted (the
tests check *what* is imported, not how long it takes).
``python -X importtime -c 'import xerotrial.cli'`` shows where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "src" / "xerotrial" / "data" / "example_uws.csv"
GOALS = {"xerotrial --help": 0.3, "xerotrial fit": 1.0, "xerotrial fit --json": 1.0}


def _command() -> list[str]:
    """The console script next to this Python, else ``python -m xerotrial``."""
    script = Path(sys.executable).with_name("xerotrial")
    if script.exists():
        return [str(script)]
    found = shutil.which("xerotrial")
    return [found] if found else [sys.executable, "-m", "xerotrial"]


def cases() -> dict[str, list[str]]:
    xt = _command()
    fit = [
        *xt,
        "fit",
        str(EXAMPLE),
        "--formula",
        "uws ~ visit",
        "--subject",
        "subject",
        "--time",
        "visit",
        "--covariance",
        "random-intercept",
        "--df",
        "kenward-roger",
        "--lsmeans",
        "visit",
        "--reference",
        "day0",
    ]
    py = [sys.executable, "-c"]
    return {
        "python -c pass": [*py, "pass"],
        "import xerotrial.cli": [*py, "import xerotrial.cli"],
        "xerotrial --help": [*xt, "--help"],
        "xerotrial --version": [*xt, "--version"],
        "xerotrial fit --help": [*xt, "fit", "--help"],
        "xerotrial fit": fit,
        "xerotrial fit --json": [*fit, "--json"],
        "import numpy": [*py, "import numpy"],
        "import pandas": [*py, "import pandas"],
        "import scipy.special": [*py, "import scipy.special"],
        "import scipy.stats": [*py, "import scipy.stats"],
        "import formulaic": [*py, "import formulaic"],
        "import xerotrial.stats.model": [*py, "import xerotrial.stats.model"],
    }


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def time_command(argv: list[str], runs: int) -> dict[str, list[float]] | str:
    """Wall and CPU (user + system) seconds of ``runs`` runs after one warm-up (which fills
    the OS file cache), or the last line of the error of a command that fails. CPU time is
    the steadier figure on a shared machine: other processes stretch wall time only."""
    env = dict(os.environ, COLUMNS="100")
    out: dict[str, list[float]] = {"wall": [], "cpu": []}
    for i in range(runs + 1):
        cpu, start = _cpu(), time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env=env, cwd=ROOT)
        seconds, cpu = time.perf_counter() - start, _cpu() - cpu
        if done.returncode != 0:
            lines = done.stderr.decode(errors="replace").strip().splitlines() or [""]
            return f"exit {done.returncode}: {lines[-1][:60]}"
        if i:
            out["wall"].append(seconds)
            out["cpu"].append(cpu)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (default 7)")
    parser.add_argument("--json", type=Path, help="also write every sample to this file")
    parser.add_argument("--only", help="comma-separated case names (default: all)")
    args = parser.parse_args()
    todo = cases()
    if args.only:
        todo = {k: v for k, v in todo.items() if k in args.only.split(",")}
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; Python {platform.python_version()}; "
        f"{args.runs} runs per case, seconds per fresh process"
    )
    print(f"{'case':28s} {'wall median':>11s} {'wall min':>9s} {'CPU median':>11s}  goal")
    samples = {}
    for name, argv in todo.items():
        s = time_command(argv, args.runs)
        samples[name] = s
        if isinstance(s, str):
            print(f"{name:28s} {s}", flush=True)
            continue
        goal = GOALS.get(name)
        med = statistics.median(s["wall"])
        mark = "" if goal is None else f"<= {goal:g} s {'met' if med <= goal else 'NOT met'}"
        print(
            f"{name:28s} {med:11.3f} {min(s['wall']):9.3f} {statistics.median(s['cpu']):11.3f}"
            f"  {mark}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(samples, indent=2) + "\n")


if __name__ == "__main__":
    main()
