"""`xerotrial demo` gives the same bytes on every machine and BLAS thread count.

The demo's case report forms are fixed package data (``xerotrial/data/demo_crf``), so the
store, the analysis and every file of the report follow from fixed input. Two demo builds, in
subprocesses under ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` = 1
and 2, must write byte-identical files; ``report.html`` differs only in its source path,
generation time and audit chain head (its hashes cover the entries' timestamps), normalised
here, and ``trial.db`` holds the audit trail's timestamps.

The builds are the session's (``demo_builds`` in ``tests/conftest.py``): the 1-thread one is
also the ``demo_output`` the other tests read, and the digests are taken as each build ends.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from xerotrial.demo.build import demo_crf_files

pytestmark = pytest.mark.slow

REF = Path(__file__).resolve().parents[1] / "reference" / "demo_report.json"


@pytest.fixture(scope="module")
def builds(demo_builds) -> dict[int, dict[str, str]]:
    return {t: demo_builds.digests(t) for t in (1, 2)}


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
