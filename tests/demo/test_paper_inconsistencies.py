"""Each printed number the demo does not meet is proven impossible by the paper's own numbers.

``xerotrial.demo.targets.PAPER_INCONSISTENCIES`` lists them; these tests prove each, and that
the questionnaires' printed p-values require their three-visit schedule.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xerotrial.demo.targets import PAPER_INCONSISTENCIES, TABLE3, p_close, rounds_to
from xerotrial.stats.model import fit


def _centre(paramcd: str) -> tuple[Decimal, Decimal]:
    """The interval of CI centres that the two printed (rounded) bounds allow."""
    row = TABLE3[paramcd]
    half_unit = Decimal(10) ** -len(row.lower.split(".")[1]) / 2
    mid = (Decimal(row.lower) + Decimal(row.upper)) / 2
    return mid - half_unit, mid + half_unit


def test_the_list_is_exactly_the_proven_cases():
    assert set(PAPER_INCONSISTENCIES) == {
        ("sws_potassium", "difference"),
        ("scint_excretion_pg", "difference"),
        ("HNSW", "upper"),
    }


@pytest.mark.parametrize("paramcd", ["sws_potassium", "scint_excretion_pg"])
def test_difference_contradicts_its_own_ci(paramcd: str):
    """A Wald CI is centred on the difference: every centre the rounded bounds allow prints
    otherwise than the printed difference."""
    lo, hi = _centre(paramcd)
    printed = TABLE3[paramcd].difference
    grid = np.linspace(float(lo), float(hi), 1001)
    assert not any(rounds_to(v, printed) for v in grid), (
        f"{paramcd}: CI centre in [{lo}, {hi}] never prints as {printed}: "
        f"{PAPER_INCONSISTENCIES[(paramcd, 'difference')]}"
    )


def test_hnsw_bounds_cannot_both_print():
    """HNSW's LS means fix the visit sums (k units of 100/12), the difference is then -10.000
    exactly, and no half-width prints both bounds."""
    unit = 100 / 12
    row = TABLE3["HNSW"]
    sums = {
        visit: [s for s in range(0, 121) if rounds_to(s / 10 * unit, est)]
        for visit, est in (("day0", row.baseline.estimate), ("day120", row.follow_up.estimate))
    }
    assert sums == {"day0": [32], "day120": [20]}
    d = (20 - 32) / 10 * unit
    assert abs(d + 10) < 1e-12
    h = np.linspace(7.0, 9.0, 200001)
    both = [rounds_to(d - x, row.lower) and rounds_to(d + x, row.upper) for x in h]
    assert not any(both), PAPER_INCONSISTENCIES[("HNSW", "upper")]


def test_lsmeans_of_fully_observed_visits_are_their_means():
    """The step the HNSW proof rests on: in the random-intercept model, a visit observed in
    every subject has its raw mean as LS mean, whatever is missing at other visits."""
    rng = np.random.default_rng(7)
    for _ in range(20):
        y = rng.normal(size=(10, 1)) + rng.normal(size=(10, 3))
        y[rng.choice(10, int(rng.integers(1, 4)), replace=False), 1] = np.nan
        df = pd.DataFrame(
            {
                "subject": np.repeat(np.arange(10), 3),
                "visit": np.tile(["day0", "day30", "day120"], 10),
                "y": y.ravel(),
            }
        )
        res = fit(
            df,
            "y ~ visit",
            subject="subject",
            time="visit",
            covariance="random-intercept",
            time_order=["day0", "day30", "day120"],
        )
        ls = res.lsmeans("visit", df_method="containment").set_index("visit")["estimate"]
        np.testing.assert_allclose(
            [ls["day0"], ls["day120"]], [y[:, 0].mean(), y[:, 2].mean()], rtol=0, atol=1e-10
        )


@pytest.mark.parametrize("paramcd", ["xq_summary", "HNDR", "HNSS", "HNSW"])
def test_questionnaire_p_needs_three_visits(paramcd: str):
    """p from the printed CI: containment df 18 (10 patients x 3 visits) gives the printed p;
    df 36 (5 visits) does not."""
    row = TABLE3[paramcd]
    d = (float(row.lower) + float(row.upper)) / 2
    p = {}
    for df in (18, 36):
        se = (float(row.upper) - float(row.lower)) / 2 / stats.t.ppf(0.975, df)
        p[df] = 2 * stats.t.sf(abs(d) / se, df)
    assert p_close(p[18], row.p, rel=0.15), (paramcd, p)
    assert not p_close(p[36], row.p, rel=0.1), (paramcd, p)
