"""The replicate API against ``fit`` on each replicate alone: one engine, the same numbers.

``fit_visit_means`` is the batched random-intercept fit the demo's calibration needs (LS means
by visit, each visit minus the first, containment df); ``fit_replicates`` is the general form
(any covariance, per-replicate missing values and covariates)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from xerotrial.stats.model import fit
from xerotrial.stats.replicates import fit_replicates, fit_visit_means

TOL = 1e-10


def _visit_data(R=6, S=9, T=4, seed=0):
    rng = np.random.default_rng(seed)
    y = 2.0 + rng.normal(0, 0.7, (R, S, 1)) + rng.normal(0, 0.4, (R, S, T))
    y += np.linspace(0.0, 0.6, T)
    y[0, 1, 2] = np.nan  # missing cells, a different set per replicate
    y[1, 0, 3] = y[1, 4, 1] = np.nan
    y[2, :3, 1] = np.nan
    y[3, 5, 0] = np.nan
    return y


def _long(y_r: np.ndarray) -> pd.DataFrame:
    S, T = y_r.shape
    d = pd.DataFrame(
        {
            "subject": np.repeat(np.arange(S), T),
            "visit": [f"v{t + 1}" for t in range(T)] * S,
            "y": y_r.ravel(),
        }
    )
    return d.dropna().reset_index(drop=True)


@pytest.mark.parametrize("df_method", ["containment", "kenward-roger"])
def test_visit_means_equal_single_fits(df_method):
    y = _visit_data()
    out = fit_visit_means(y, df_method=df_method)
    T = y.shape[2]
    for r in range(len(y)):
        res = fit(
            _long(y[r]),
            "y ~ visit",
            subject="subject",
            time="visit",
            covariance="random-intercept",
            time_order=[f"v{t + 1}" for t in range(T)],
        )
        ls = res.lsmeans("visit", df_method=df_method)
        ct = res.contrasts_vs_reference("visit", df_method=df_method)
        np.testing.assert_allclose(out["means"][r], ls["estimate"], rtol=TOL)
        np.testing.assert_allclose(out["se_means"][r], ls["se"], rtol=TOL)
        np.testing.assert_allclose(out["df_means"][r], ls["df"], rtol=TOL)
        np.testing.assert_allclose(out["diffs"][r, 1:], ct["estimate"], rtol=TOL, atol=1e-12)
        np.testing.assert_allclose(out["se_diffs"][r, 1:], ct["se"], rtol=TOL)
        np.testing.assert_allclose(out["df"][r, 1:], ct["df"], rtol=TOL)
        np.testing.assert_allclose(out["p"][r, 1:], ct["p"], rtol=TOL, atol=1e-14)
        np.testing.assert_allclose([out["s2u"][r], out["s2"][r]], res.theta, rtol=TOL)
        assert out["converged"][r] == res.converged
    assert (out["diffs"][:, 0] == 0).all() and (out["se_diffs"][:, 0] == 0).all()
    if df_method == "containment":  # N - rank([X Z]) = N - (visits + subjects - 1)
        N = (~np.isnan(y)).sum(axis=(1, 2))
        np.testing.assert_array_equal(out["df"][:, 1], N - (T + y.shape[1] - 1))


def _trial(R=5, S=14, T=3, seed=3):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": np.repeat(np.arange(S), T),
            "arm": np.repeat(np.where(np.arange(S) % 2, "b", "a"), T),
            "visit": [f"t{t}" for t in range(T)] * S,
        }
    )
    base = rng.normal(size=(R, S))
    L = np.linalg.cholesky(0.5 * np.eye(T) + 0.5)
    y = (
        rng.normal(size=(R, S, T)) @ L.T
        + 0.4 * base[:, :, None]
        + 0.3 * (frame["arm"].to_numpy() == "b").reshape(S, T)
    ).reshape(R, S * T)
    y[rng.random(y.shape) < 0.12] = np.nan  # arbitrary missing cells: many patterns
    return frame, y, np.repeat(base, T, axis=1)


@pytest.mark.parametrize("covariance", ["un", "ar1", "random-intercept"])
def test_general_replicates_equal_single_fits(covariance):
    frame, y, base = _trial()
    fits = fit_replicates(
        frame,
        "y ~ arm * visit + base",
        "id",
        y,
        time="visit",
        covariance=covariance,
        varying={"base": base},
    )
    for method in ("satterthwaite", "kenward-roger", "between-within", "containment"):
        labels, bys, got = fits.contrasts_vs_reference("arm", "a", by="visit", df_method=method)
        _, lsm = fits.lsmeans("visit", df_method=method)
        for r in range(len(y)):
            d = frame.assign(y=y[r], base=base[r]).dropna().reset_index(drop=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = fit(
                    d, "y ~ arm * visit + base", subject="id", time="visit", covariance=covariance
                )
            assert fits.converged[r] == res.converged
            np.testing.assert_allclose(fits.theta[r], res.theta, rtol=TOL)
            ct = res.contrasts_vs_reference("arm", "a", by="visit", df_method=method)
            assert list(ct["contrast"]) == labels and list(ct["visit"]) == bys
            for k in ("estimate", "se", "df", "p"):
                np.testing.assert_allclose(got[k][r], ct[k], rtol=TOL, atol=1e-14)
            ls = res.lsmeans("visit", df_method=method)  # at each replicate's mean base
            for k in ("estimate", "se", "df"):
                np.testing.assert_allclose(lsm[k][r], ls[k], rtol=TOL)


def test_a_replicate_does_not_depend_on_the_others():
    frame, y, base = _trial(R=6)
    full = fit_replicates(frame, "y ~ arm * visit", "id", y, time="visit", covariance="un")
    part = fit_replicates(frame, "y ~ arm * visit", "id", y[[1, 4]], time="visit", covariance="un")
    np.testing.assert_allclose(part.theta, full.theta[[1, 4]], rtol=1e-12)
    a = full.contrasts_vs_reference("arm", by="visit", df_method="kenward-roger")[2]
    b = part.contrasts_vs_reference("arm", by="visit", df_method="kenward-roger")[2]
    for k in ("estimate", "se", "df", "p"):
        np.testing.assert_allclose(b[k], a[k][[1, 4]], rtol=1e-12, atol=1e-15)


def test_a_replicate_without_a_valid_start_is_reported_not_hidden():
    y = _visit_data(R=4)
    y[1, :, 2] = np.nan  # visit 3 empty in replicate 1: X'V^-1X is singular
    out = fit_visit_means(y)
    assert out["converged"].tolist() == [True, False, True, True]
    assert np.isnan(out["means"][1]).all() and np.isfinite(out["means"][[0, 2, 3]]).all()
