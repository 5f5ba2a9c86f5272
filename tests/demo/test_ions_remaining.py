"""UWS potassium and SWS sodium (baseline and 4-month SEs differ) reproduced by the engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xerotrial.demo import ions
from xerotrial.demo.targets import PAPER_INCONSISTENCIES, TABLE3, p_close, rounds_to
from xerotrial.stats.model import fit

VISITS = ["day0", "day120"]


@pytest.mark.parametrize("paramcd", ["uws_potassium", "sws_sodium"])
def test_remaining_ion_row_reproduced_by_engine(paramcd: str) -> None:
    y = np.asarray(ions.ion_data(paramcd))
    assert np.nanmin(y) >= 2.0
    np.testing.assert_allclose(y * 100, np.rint(y * 100), atol=1e-6)
    rows = [(f"P{i + 1:02d}", v, y[i, j]) for i in range(len(y)) for j, v in enumerate(VISITS)
            if not np.isnan(y[i, j])]
    df = pd.DataFrame(rows, columns=["subject", "visit", "AVAL"])
    res = fit(df, "AVAL ~ visit", subject="subject", time="visit",
              covariance="random-intercept", time_order=VISITS)
    ls = res.lsmeans("visit", df_method="containment").set_index("visit")
    con = res.contrasts_vs_reference("visit", "day0", df_method="containment").iloc[0]
    row = TABLE3[paramcd]
    skip = {f for (c, f) in PAPER_INCONSISTENCIES if c == paramcd}
    got = {
        "baseline": (ls.loc["day0", "estimate"], row.baseline.estimate),
        "baseline_se": (ls.loc["day0", "se"], row.baseline.se),
        "follow_up": (ls.loc["day120", "estimate"], row.follow_up.estimate),
        "follow_up_se": (ls.loc["day120", "se"], row.follow_up.se),
        "difference": (con["estimate"], row.difference),
        "lower": (con["lower"], row.lower),
        "upper": (con["upper"], row.upper),
    }
    bad = {k: (v, p) for k, (v, p) in got.items() if k not in skip and not rounds_to(v, p)}
    assert not bad, bad
    assert p_close(con["p"], row.p)
    pairs = int((~np.isnan(y)).all(1).sum())
    assert pairs == row.n  # n printed = complete pairs
    baseline_only = int((~np.isnan(y[:, 0]) & np.isnan(y[:, 1])).sum())
    assert baseline_only == {"uws_potassium": 2, "sws_sodium": 1}[paramcd]
