"""Simulation-based power: the batched engine against ``fit`` replicate by replicate, and the
simulated power against exact answers (noncentral t; Lu, Luo & Chen 2008), type I error for
every df method, and determinism however the chunks are spread."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from xerotrial.stats.model import fit
from xerotrial.stats.power import mmrm_power_lu_luo_chen, mmrm_variance_factor, ttest_power
from xerotrial.stats.simulate import (
    TrialDesign,
    analyse,
    run_power,
    simulate_chunk,
    simulate_data,
    smallest_n,
)

T4 = ("v1", "v2", "v3", "v4")
DF_CHECKED = (
    "kenward-roger",
    "kenward-roger-linear",
    "satterthwaite",
    "between-within",
    "residual",
    "containment",
)


def _design(**kw) -> TrialDesign:
    base = dict(
        visits=4, effect=(0.0, 0.02, 0.03, 0.05), sd=(0.1, 0.11, 0.12, 0.13), correlation=0.6
    )
    base.update(kw)
    return TrialDesign(**base)


@pytest.mark.parametrize("covariance", ["un", "cs", "ar1", "random-intercept"])
@pytest.mark.parametrize("dropout", [0.0, 0.15])
def test_batched_matches_fit_per_replicate(covariance, dropout):
    baseline = 0.5 if covariance in ("un", "ar1") else None
    sim_design = _design(dropout=(dropout,), covariance=covariance, baseline_slope=baseline)
    sim = simulate_data(sim_design, 10, 3, np.random.default_rng(11))
    formula = "y ~ arm * visit" + (" + baseline" if baseline is not None else "")
    for r in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fit(
                sim.frame(r),
                formula,
                subject="id",
                time="visit",
                covariance=covariance,
                time_order=list(T4),
            )
        for df_method in DF_CHECKED:
            d = TrialDesign(**{**sim_design.to_dict(), "df_method": df_method})
            tests, conv = analyse(d, sim)
            row = res.contrasts_vs_reference(
                "arm", "control", by="visit", df_method=df_method
            ).iloc[-1]
            assert conv[r] == res.converged
            np.testing.assert_allclose(
                tests["estimate"][r], row["estimate"], rtol=1e-12, atol=1e-14
            )
            np.testing.assert_allclose(tests["se"][r], row["se"], rtol=1e-12)
            np.testing.assert_allclose(tests["df"][r], row["df"], rtol=1e-12)
            np.testing.assert_allclose(tests["p"][r], row["p"], rtol=1e-12, atol=1e-15)


def test_complete_unstructured_is_the_two_sample_t_test_trial_by_trial():
    d = _design(covariance="un", df_method="kenward-roger")
    sim = simulate_data(d, 9, 20, np.random.default_rng(3))
    tests, conv = analyse(d, sim)
    assert conv.all()
    last = sim.y[:, :, -1]
    ref = stats.ttest_ind(last[:, sim.arm == 1], last[:, sim.arm == 0], axis=1)
    np.testing.assert_allclose(tests["df"], 16.0, rtol=1e-8)
    np.testing.assert_allclose(tests["t"], ref.statistic, rtol=1e-8)
    np.testing.assert_allclose(tests["p"], ref.pvalue, rtol=1e-7)


def test_power_complete_data_equals_noncentral_t():
    d = _design(effect=(0.0, 0.0, 0.0, 0.05), sd=(0.1,), covariance="un", df_method="kenward-roger")
    res = run_power(d, [20], n_sims=4000, seed=5, workers=1)
    pt = res.results[0]
    exact = ttest_power(20, 20, 0.05, 0.1, 0.05)
    assert pt.n_failed == 0
    assert abs(pt.power - exact) < 3 * np.sqrt(exact * (1 - exact) / pt.n_sims)


def test_lu_luo_chen_reproduces_longpower():
    # longpower::power.mmrm(N = 174, Ra = CS(0.25), ra = c(1, .9, .8, .7), delta = .5)
    C = np.full((4, 4), 0.25) + 0.75 * np.eye(4)
    r = np.array([1.0, 0.9, 0.8, 0.7])
    # (longpower solves for the power with uniroot, tolerance ~1e-4)
    assert mmrm_power_lu_luo_chen(87, 87, 0.5, 1.0, C, r, r) == pytest.approx(0.800037, abs=1e-4)
    assert mmrm_variance_factor(C, np.ones(4)) == pytest.approx(1.0)


def test_power_with_dropout_agrees_with_lu_luo_chen():
    d = _design(
        effect=(0.0, 0.0, 0.0, 0.05),
        sd=(0.1,),
        correlation=0.6,
        dropout=(0.1,),
        covariance="un",
        df_method="kenward-roger",
    )
    n, sims = 40, 4000
    res = run_power(d, [n], n_sims=sims, seed=9, workers=1).results[0]
    ret = d.retention()
    exact = mmrm_power_lu_luo_chen(
        n, n, 0.05, 0.1, d.correlation_over_visits(), ret, ret, df=2 * n * ret[-1] - 2
    )
    assert res.n_failed == 0
    assert abs(res.power - exact) < 3 * np.sqrt(exact * (1 - exact) / sims)


@pytest.mark.parametrize(
    ("covariance", "df_method"),
    [
        ("un", "residual"),
        ("un", "between-within"),
        ("un", "satterthwaite"),
        ("un", "kenward-roger"),
        ("ar1", "kenward-roger-linear"),
        ("random-intercept", "containment"),
    ],
)
def test_type_one_error_is_alpha(covariance, df_method):
    corr = dict(correlation_structure="ar1") if covariance == "ar1" else {}
    if covariance == "random-intercept":
        corr = dict(correlation_structure="random-intercept", intercept_sd=0.08, residual_sd=0.06)
    d = _design(
        effect=(0.0,), sd=(0.1,), dropout=(0.1,), covariance=covariance, df_method=df_method, **corr
    )
    sims = 3000
    res = run_power(d, [15], n_sims=sims, seed=21, workers=1).results[0]
    assert res.n_failed <= 0.01 * sims
    assert abs(res.power - 0.05) < 3 * np.sqrt(0.05 * 0.95 / sims)


def test_results_do_not_depend_on_how_chunks_are_spread():
    d = _design(dropout=(0.1,), covariance="cs")
    one = run_power(d, [8, 10], n_sims=90, seed=4, chunk_size=40, workers=1)
    two = run_power(d, [8, 10], n_sims=90, seed=4, chunk_size=40, workers=2)
    assert one.to_dict()["results"] == two.to_dict()["results"]
    p1 = np.concatenate([c.p for c in one.chunks])
    p2 = np.concatenate([c.p for c in two.chunks])
    np.testing.assert_array_equal(p1, p2)
    # a chunk is the same whichever run computes it
    again = simulate_chunk(d, 10, 1, 40, seed=4)
    np.testing.assert_array_equal(again.p, one.chunks[4].p)


def test_dask_local_gives_identical_results():
    pytest.importorskip("dask.distributed")
    d = _design(
        covariance="random-intercept",
        correlation_structure="random-intercept",
        intercept_sd=0.08,
        residual_sd=0.06,
    )
    ref = run_power(d, [6], n_sims=60, seed=2, chunk_size=20, workers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dk = run_power(d, [6], n_sims=60, seed=2, chunk_size=20, dask="local")
    assert dk.to_dict()["results"] == ref.to_dict()["results"]


def test_sample_size_search_and_failures_reported():
    d = _design(effect=(0.0, 0.0, 0.0, 0.08), sd=(0.1,), covariance="cs")
    res = run_power(d, [5, 15, 40], n_sims=200, seed=1, workers=1)
    powers = [r.power for r in res.results]
    assert powers == sorted(powers)
    assert smallest_n(res, 0.8) == 40
    assert smallest_n(res, 0.999) is None
    assert all(r.n_sims == 200 and r.n_failed >= 0 for r in res.results)


def test_design_validation():
    from xerotrial.stats.errors import DataValidationError

    with pytest.raises(DataValidationError, match="one per visit"):
        TrialDesign(visits=4, effect=(0.0, 1.0, 2.0))
    with pytest.raises(DataValidationError, match="dropout"):
        TrialDesign(dropout=(1.5,))
    with pytest.raises(DataValidationError, match="covariance"):
        TrialDesign(covariance="banded")
    with pytest.raises(DataValidationError, match="df method"):
        TrialDesign(df_method="exact")
