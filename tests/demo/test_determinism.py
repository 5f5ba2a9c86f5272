"""`xerotrial demo` gives the same bytes on every machine and BLAS thread count.

The demo's case report forms are fixed package data (``xerotrial/data/demo_crf``), so the
store, the analysis and every file of the report follow from fixed input. Two demo builds, in
subprocesses under ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` = 1
and 2, must write byte-identical files; ``report.html`` differs only in its source path,
generation time and audit chain head (its hashes cover the entries' timestamps), normalised
here, and ``trial.db`` holds the audit trail's timestamps.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from xerotrial.demo.build import demo_crf_files

pytestmark = pytest.mark.slow

REF = Path(__file__).resolve().parents[1] / "reference" / "demo_report.json"
#: Files of a demo run that are not a function of its input alone.
UNSTABLE = {"trial.db"}


def _build(out: Path, threads: int) -> subprocess.Popen:
    env = os.environ | {
        v: str(threads) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    }
    return subprocess.Popen(
        [sys.executable, "-m", "xerotrial", "demo", "--out", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _digest(path: Path) -> str:
    data = path.read_bytes()
    if path.name == "report.html":  # the source path, the generation time, the chain head
        data = re.sub(rb'<p class="meta">Source: .*?</p>', b"", data)
        data = re.sub(rb'<p class="meta">Audit trail: .*?</p>', b"", data)
    return hashlib.md5(data).hexdigest()


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): _digest(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in UNSTABLE
    }


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, str]]:
    folders = {t: tmp_path_factory.mktemp(f"demo-threads-{t}") for t in (1, 2)}
    procs = {t: _build(folders[t], t) for t in folders}
    for t, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"threads={t}: {stderr}"
    return {t: _digests(f) for t, f in folders.items()}


def test_same_bytes_under_one_and_two_blas_threads(builds):
    one, two = builds[1], builds[2]
    assert set(one) == set(two)
    assert {
        "report.html",
        "tables/table3.csv",
        "data/adeff.csv",
        "figures/figure2.svg",
        "crf/sialometry.csv",
    } <= set(one)
    differ = sorted(name for name in one if one[name] != two[name])
    assert not differ, f"these demo files depend on the BLAS thread count: {differ}"


def test_crf_files_are_the_bundled_ones_and_the_r_reference_input(builds):
    bundled = {f"crf/{p.name}": hashlib.md5(p.read_bytes()).hexdigest() for p in demo_crf_files()}
    assert {k: v for k, v in builds[1].items() if k.startswith("crf/")} == bundled
    ref = json.loads(REF.read_text())["_meta"]["crf_md5"]
    changed = sorted(k for k, md5 in ref.items() if bundled.get(f"crf/{k}") != md5)
    assert not changed, (
        f"the bundled demo CRFs {changed} changed since {REF.name} was made: "
        "rerun validation/demo_report.R (see its header)"
    )
