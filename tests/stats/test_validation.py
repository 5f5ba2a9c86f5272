"""The library enforces its own rules, with the same error type everywhere: Kenward-Roger needs
REML; an unknown covariance structure, df method or fitting method is a DataValidationError
that says what to choose (fit, the replicate fits, simulation power)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xerotrial.stats import covariance, inference, options
from xerotrial.stats.covariance import get_structure
from xerotrial.stats.errors import DataValidationError
from xerotrial.stats.model import fit
from xerotrial.stats.replicates import fit_replicates, fit_visit_means
from xerotrial.stats.simulate import TrialDesign


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    n = 10
    d = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n), 3),
            "visit": ["a", "b", "c"] * n,
            "arm": np.repeat(np.where(np.arange(n) % 2, "x", "y"), 3),
        }
    )
    d["y"] = rng.normal(size=n)[d["id"]] + rng.normal(size=3 * n)
    return d


@pytest.fixture(scope="module")
def ml_fit(data):
    return fit(data, "y ~ visit + arm", subject="id", time="visit", covariance="cs", method="ML")


@pytest.mark.parametrize("df_method", ["kenward-roger", "kenward-roger-linear"])
def test_kenward_roger_needs_reml(ml_fit, df_method):
    calls = [
        lambda: ml_fit.lsmeans("visit", df_method=df_method),
        lambda: ml_fit.contrasts_vs_reference("visit", df_method=df_method),
        lambda: ml_fit.pairwise("visit", df_method=df_method),
        lambda: ml_fit.type3(df_method),
        lambda: ml_fit.fixed_effects(df_method),
        lambda: ml_fit.test(np.eye(len(ml_fit.beta))[1:2], df_method),
        lambda: ml_fit.to_dict(df_method),
    ]
    for call in calls:
        with pytest.raises(DataValidationError, match=r"REML fits only.*method='REML'"):
            call()
    # the same fit with another df method works
    assert len(ml_fit.lsmeans("visit", df_method="satterthwaite")) == 3


def test_kenward_roger_needs_reml_in_replicate_fits(data):
    layout = data[["id", "visit", "arm"]]
    y = np.stack([data["y"].to_numpy(), data["y"].to_numpy()[::-1]])
    fits = fit_replicates(layout, "y ~ visit", "id", y, time="visit", covariance="un", method="ML")
    with pytest.raises(DataValidationError, match="REML"):
        fits.lsmeans("visit", df_method="kenward-roger")
    with pytest.raises(DataValidationError, match="REML"):
        fit_visit_means(y.reshape(2, 10, 3), df_method="kenward-roger", method="ML")


def test_unknown_df_method(data, ml_fit):
    res = fit(data, "y ~ visit", subject="id", time="visit", covariance="un")
    for call in (
        lambda: res.lsmeans("visit", df_method="exact"),
        lambda: res.type3("exact"),
        lambda: ml_fit.contrasts_vs_reference("visit", df_method="exact"),
        lambda: res.fits.t_tests(np.eye(3)[:1], "exact"),
        lambda: fit_visit_means(
            np.ones((1, 4, 2)) + np.arange(8).reshape(1, 4, 2), df_method="exact"
        ),
        lambda: TrialDesign(df_method="exact"),
    ):
        with pytest.raises(DataValidationError, match="unknown df method 'exact'|df method"):
            call()


def test_unknown_covariance_and_method(data):
    y = data["y"].to_numpy()[None]
    for call in (
        lambda: fit(data, "y ~ visit", subject="id", time="visit", covariance="banded"),
        lambda: fit_replicates(
            data[["id", "visit"]], "y ~ visit", "id", y, time="visit", covariance="banded"
        ),
        lambda: fit_visit_means(y.reshape(1, 10, 3), covariance="banded"),
        lambda: TrialDesign(covariance="banded"),
        lambda: get_structure("banded"),
    ):
        with pytest.raises(DataValidationError, match="banded"):
            call()
    with pytest.raises(DataValidationError, match="'GLS' is not 'REML' or 'ML'"):
        fit(data, "y ~ visit", subject="id", time="visit", covariance="un", method="GLS")


def test_one_list_of_covariances_and_df_methods():
    # options.py is the numpy-free copy the command line checks before importing the engine
    assert options.COVARIANCES == covariance.NAMES
    assert set(covariance.NAMES) == {covariance.G_SIDE, *covariance.STRUCTURES}
    assert inference.DF_METHODS is options.DF_METHODS


@pytest.mark.parametrize("name", sorted(set(covariance.STRUCTURES) - set(covariance.SPATIAL)))
def test_every_structure_runs_in_simulation_power(name):
    from xerotrial.stats.simulate import run_power

    d = TrialDesign(
        visits=3,
        effect=(0.0, 0.0, 1.0),
        sd=(1.0,),
        correlation=0.4,
        covariance=name,
        df_method="kenward-roger",
    )
    res = run_power(d, [12], n_sims=20, seed=1, workers=1).results[0]
    assert res.n_sims == 20 and res.n_failed <= 4
