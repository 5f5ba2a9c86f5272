"""The synthetic per-gland scintigraphy reproduces Table 3's six scint rows with the engine."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from demo_calibration import scintigraphy
from demo_calibration.analysis import table3_row

from xerotrial.demo.targets import TABLE3, mismatches
from xerotrial.trial.scintigraphy import derive_scintigraphy

VISITS = list(scintigraphy.VISITS)
ROWS = [c for c in TABLE3 if c.startswith("scint_")]


@cache
def _derived() -> pd.DataFrame:
    return derive_scintigraphy(scintigraphy.scintigraphy_records())


def test_records_are_valid_per_gland_data() -> None:
    rec = scintigraphy.scintigraphy_records()
    assert set(rec["subject"]) == {f"P{i:02d}" for i in range(1, 11)}
    assert set(rec["visit"]) == set(VISITS)
    assert not rec.duplicated(["subject", "visit", "gland"]).any()
    up = rec["uptake_score"].dropna().astype(float)
    assert up.between(0, 4).all() and (up == np.floor(up)).all()
    ex = rec["excretion_fraction_pct"].dropna()
    assert ex.between(0, 100).all()
    np.testing.assert_allclose(ex * 10, np.rint(ex * 10), atol=1e-6)
    # a gland without uptake has no excretion fraction
    assert (rec.loc[rec["excretion_fraction_pct"].isna(), "uptake_score"] == 0).all()
    assert len(_derived()) == 20 and not _derived().isna().any().any()


@pytest.mark.parametrize("paramcd", ROWS)
def test_scint_row_reproduced_by_engine(paramcd: str) -> None:
    d = _derived().rename(columns={paramcd: "AVAL"})[["subject", "visit", "AVAL"]]
    row = TABLE3[paramcd]
    computed = table3_row(d, VISITS, outcome=paramcd)
    assert not mismatches(paramcd, computed)
    assert int(computed["df"]) == 9
    assert d["subject"].nunique() == row.n
