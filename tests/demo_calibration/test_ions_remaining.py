"""UWS potassium and SWS sodium (baseline and 4-month SEs differ) reproduced by the engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from demo_calibration import ions
from demo_calibration.analysis import table3_row

from xerotrial.demo.targets import TABLE3, mismatches

VISITS = ["day0", "day120"]


@pytest.mark.parametrize("paramcd", ["uws_potassium", "sws_sodium"])
def test_remaining_ion_row_reproduced_by_engine(paramcd: str) -> None:
    y = np.asarray(ions.ion_data(paramcd))
    assert np.nanmin(y) >= 2.0
    np.testing.assert_allclose(y * 100, np.rint(y * 100), atol=1e-6)
    rows = [
        (f"P{i + 1:02d}", v, y[i, j])
        for i in range(len(y))
        for j, v in enumerate(VISITS)
        if not np.isnan(y[i, j])
    ]
    df = pd.DataFrame(rows, columns=["subject", "visit", "AVAL"])
    row = TABLE3[paramcd]
    bad = mismatches(paramcd, table3_row(df, VISITS, outcome=paramcd))
    assert not bad, bad
    pairs = int((~np.isnan(y)).all(1).sum())
    assert pairs == row.n  # n printed = complete pairs
    baseline_only = int((~np.isnan(y[:, 0]) & np.isnan(y[:, 1])).sum())
    assert baseline_only == {"uws_potassium": 2, "sws_sodium": 1}[paramcd]
