"""UWS potassium and SWS sodium (baseline and 4-month SEs differ): their missing-data patterns
and 0.01 mmol/L grid (the engine's reproduction of their rows is in test_ions.py)."""

from __future__ import annotations

import numpy as np
import pytest
from demo_calibration import generate, ions

from xerotrial.demo.targets import TABLE3


@pytest.mark.parametrize("paramcd", ["uws_potassium", "sws_sodium"])
def test_remaining_ion_row_pattern(paramcd: str) -> None:
    y = generate.bundled_ion_rows([paramcd])[paramcd]
    np.testing.assert_array_equal(~np.isnan(y), ions.ION_PATTERNS[paramcd])
    assert np.nanmin(y) >= ions.MIN_MMOL_L
    np.testing.assert_allclose(y * 100, np.rint(y * 100), atol=1e-6)
    pairs = int((~np.isnan(y)).all(1).sum())
    assert pairs == TABLE3[paramcd].n  # n printed = complete pairs
    baseline_only = int((~np.isnan(y[:, 0]) & np.isnan(y[:, 1])).sum())
    assert baseline_only == {"uws_potassium": 2, "sws_sodium": 1}[paramcd]
