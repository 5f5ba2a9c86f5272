"""Assurance (``stats.assurance``) against its closed form for a z test.

For a normal estimate with SE s and a N(m, t^2) prior of the true effect, the probability of a
significant result in the favoured direction is Phi((m - z s) / sqrt(s^2 + t^2)) (O'Hagan,
Stevens and Campbell 2005, for large n where the t test is a z test); the other tail adds
Phi((-m - z s) / sqrt(s^2 + t^2)) only to two-sided power, not to success.
"""

from __future__ import annotations

import math

import pytest
from scipy import stats as st

from xerotrial.errors import XerotrialError
from xerotrial.stats.assurance import assurance, prior_nodes
from xerotrial.stats.simulate import TrialDesign


def _closed_form(m: float, s: float, t: float, alpha: float = 0.05) -> float:
    z = st.norm.ppf(1 - alpha / 2)
    return float(st.norm.cdf((m - z * s) / math.hypot(s, t)))


@pytest.mark.parametrize(("discount", "mean"), [(1.0, 0.04), (0.5, 0.03)])
def test_assurance_matches_the_closed_form(discount, mean):
    n, sd = 150, 0.1
    design = TrialDesign(
        visits=2,
        effect=(0.0, 1.0),
        sd=(sd,),
        correlation=0.5,
        covariance="un",
        df_method="satterthwaite",
    )
    out = assurance(
        design,
        [n],
        prior_mean=mean,
        prior_se=0.015,
        discount=discount,
        sims=2000,
        nodes=20,
        seed=3,
        workers=1,
    )
    point = out.results[0]
    expected = _closed_form(mean, sd * math.sqrt(2 / n), 0.015 / math.sqrt(discount))
    assert abs(point.assurance - expected) < 4 * point.mc_se + 0.01, (point, expected)
    assert out.prior_sd == pytest.approx(0.015 / math.sqrt(discount))
    assert point.n_sims == 2000


def test_prior_nodes_are_the_strata_medians():
    nodes = prior_nodes(1.0, 2.0, 4)
    assert nodes.tolist() == pytest.approx(
        [1.0 + 2.0 * st.norm.ppf(q) for q in (0.125, 0.375, 0.625, 0.875)]
    )


def test_refusals():
    d = TrialDesign(visits=2, effect=(0.0, 0.0), sd=(1.0,), correlation=0.5)
    with pytest.raises(XerotrialError, match="effect's shape"):
        assurance(d, [10], 0.5, 0.1)
    d = TrialDesign(visits=2, effect=(0.0, 1.0), sd=(1.0,), correlation=0.5)
    with pytest.raises(XerotrialError, match="a0 lies in"):
        assurance(d, [10], 0.5, 0.1, discount=0.0)
    with pytest.raises(XerotrialError, match="positive SE"):
        assurance(d, [10], 0.5, -1.0)
