"""RANDOM and REPEATED together (a random intercept, or intercept and slope, beside an AR(1)
residual) against an independent R reference: nlme::lme with corAR1, polished on SAS's
-2 REML log L written out in R, with Satterthwaite and Kenward-Roger computed there from
their formulas (``validation/make_random_repeated_references.R``,
``tests/reference/random_repeated.json``; the reference's KR code reproduces R mmrm on a
plain AR(1) model)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xerotrial.stats.errors import DataValidationError
from xerotrial.stats.model import fit

from .sas_listing import ANCHORS

REF = Path(__file__).resolve().parents[1] / "reference" / "random_repeated.json"
pytestmark = pytest.mark.skipif(
    not ANCHORS.exists(), reason=f"mmrm anchors not found at {ANCHORS} (shared/ is absent)"
)
VISITS = ["VIS1", "VIS2", "VIS3", "VIS4"]


@pytest.fixture(scope="module")
def fev() -> pd.DataFrame:
    return pd.read_csv(ANCHORS / "data" / "fev_data.csv")


def _name(term: str) -> str:
    parts = []
    for part in term.replace("(Intercept)", "Intercept").split(":"):
        for factor in ("RACE", "SEX", "ARMCD", "AVISIT"):
            if part.startswith(factor):
                part = f"{factor}[T.{part[len(factor) :]}]"
                break
        parts.append(part)
    return ":".join(parts)


def _cases() -> list[dict]:
    return json.loads(REF.read_text())["cases"] if REF.exists() else []


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_random_beside_repeated_is_the_reference(fev, case: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit(fev, case["formula"], "USUBJID", "AVISIT", "ar1", random=case["random"],
                  time_order=VISITS)  # fmt: skip
    assert res.converged
    cp = res.covariance_parameters()
    assert cp["parameter"].tolist() == case["parameter_names"]
    assert np.allclose(res.theta, case["theta"], rtol=1e-6, atol=1e-8)
    assert res.neg2_loglik == pytest.approx(case["neg2_reml"], abs=1e-7)
    assert res.n_obs == case["n_obs"] and res.n_subjects == case["n_subjects"]
    tables = {m: res.fixed_effects(m).set_index("term") for m in
              ("satterthwaite", "kenward-roger", "kenward-roger-linear")}  # fmt: skip
    for row in case["coefficients"]:
        term = _name(row["term"])
        sat, kr, krl = (tables[m].loc[term] for m in tables)
        assert sat["estimate"] == pytest.approx(row["estimate"], rel=1e-6, abs=1e-7)
        assert sat["se"] == pytest.approx(row["se"], rel=1e-6)
        assert sat["df"] == pytest.approx(row["df_satterthwaite"], rel=1e-5)
        assert kr["se"] == pytest.approx(row["se_kr"], rel=1e-6)
        assert kr["df"] == pytest.approx(row["df_kr"], rel=1e-5)
        assert krl["se"] == pytest.approx(row["se_kr_linear"], rel=1e-6)
    names = res.design.column_names
    for key, method in (("interaction_test_kr", "kenward-roger"),
                        ("interaction_test_kr_linear", "kenward-roger-linear")):  # fmt: skip
        ref = case[key]
        idx = [names.index(_name(c)) for c in ref["columns"]]
        L = np.zeros((len(idx), len(names)))
        L[np.arange(len(idx)), idx] = 1.0
        t = res.test(L, method)
        assert t.num_df == ref["num_df"]
        assert t.den_df == pytest.approx(ref["den_df"], rel=1e-5)
        assert t.statistic == pytest.approx(ref["F"], rel=1e-5)
    if case["random"] == "~ 1":
        V = np.array(case["covariance_matrix"])
        assert np.allclose(res.covariance_matrix(), V, rtol=1e-6)


def test_a_random_intercept_that_duplicates_the_structure_is_refused(fev) -> None:
    for structure in ("un", "cs", "toep"):
        with pytest.raises(DataValidationError, match="is not identifiable"):
            fit(fev, "FEV1 ~ ARMCD", "USUBJID", "AVISIT", structure, random="~ 1")
    with pytest.raises(DataValidationError, match="give '~ 1'"):
        fit(fev, "FEV1 ~ ARMCD", "USUBJID", "AVISIT", "ar1", random="~ VISITN")
    with pytest.raises(DataValidationError, match="beside an R-side --covariance"):
        fit(fev, "FEV1 ~ ARMCD", "USUBJID", "AVISIT", "random-intercept", random="~ 1")
