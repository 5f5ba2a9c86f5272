"""Invariances the engine must have (hypothesis): order of rows and subjects does not matter;
shifting and scaling the response shifts and scales the estimates exactly."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from xerotrial.stats.errors import ConvergenceWarning
from xerotrial.stats.model import fit

VISITS = ["day0", "day1", "day5", "day30", "day120"]


def _data(seed: int, n: int = 16, drop: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        u = rng.normal(0, 0.5)
        for j, v in enumerate(VISITS):
            rows.append(
                {
                    "id": f"S{i}",
                    "visit": v,
                    "arm": "A" if i % 2 else "B",
                    "y": 1 + 0.1 * j + u + rng.normal(0, 0.3),
                }
            )
    d = pd.DataFrame(rows)
    d.loc[rng.choice(len(d), size=drop, replace=False), "y"] = np.nan
    return d


def _summary(d: pd.DataFrame, cov: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        r = fit(d, "y ~ visit + arm", subject="id", time="visit", covariance=cov, time_order=VISITS)
    lsm = r.lsmeans("visit", df_method="kenward-roger")
    return r, lsm


COVS = ["random-intercept", "cs", "ar1", "un"]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), perm_seed=st.integers(0, 10_000), cov=st.sampled_from(COVS))
def test_shuffling_rows_and_subjects_changes_nothing(seed, perm_seed, cov):
    d = _data(seed)
    r1, l1 = _summary(d, cov)
    assume(r1.converged)  # a non-converged fit is reported, not compared
    shuffled = d.sample(frac=1.0, random_state=perm_seed).reset_index(drop=True)
    r2, l2 = _summary(shuffled, cov)
    assert r2.neg2_loglik == pytest.approx(r1.neg2_loglik, rel=1e-10, abs=1e-8)
    np.testing.assert_allclose(r2.theta, r1.theta, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(l2["estimate"], l1["estimate"], rtol=1e-8)
    np.testing.assert_allclose(l2["se"], l1["se"], rtol=1e-6)
    np.testing.assert_allclose(l2["df"], l1["df"], rtol=1e-5)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    a=st.floats(-100, 100),
    b=st.floats(0.01, 100),
    cov=st.sampled_from(COVS),
)
def test_affine_response_transforms_estimates_exactly(seed, a, b, cov):
    d = _data(seed)
    r1, l1 = _summary(d, cov)
    assume(r1.converged)
    d2 = d.assign(y=a + b * d["y"])
    r2, l2 = _summary(d2, cov)
    np.testing.assert_allclose(l2["estimate"], a + b * l1["estimate"], rtol=1e-7, atol=1e-7 * b)
    np.testing.assert_allclose(l2["se"], b * l1["se"], rtol=1e-6)
    np.testing.assert_allclose(l2["df"], l1["df"], rtol=1e-5)
    # -2 log-likelihood shifts by 2 (N - p) log b under REML
    shift = 2 * (r1.n_obs - len(r1.beta)) * np.log(b)
    assert r2.neg2_loglik == pytest.approx(r1.neg2_loglik + shift, rel=1e-9, abs=1e-7)
