"""The engine against R on tests/reference/r_mixed.json (made by validation/make_r_references.R).

* lme4 + lmerTest + pbkrtest + emmeans (random intercept, random slope): estimates, SEs and
  variances to 1e-6, Satterthwaite and Kenward-Roger df to 1e-4, Type III F tests.
* nlme::gls for un, cs, csh, ar1, arh1, diag on two unbalanced data sets; each fit was polished
  with Newton steps in R to the true REML optimum (see the script), so estimates compare to
  1e-6. emmeans's gls df are a numerical approximation and are not compared here.
* glmmTMB (us, toep = SAS TOEPH, cs = SAS CSH, ar1, diag): its own optimiser is loose, so we
  compare with the polished optimum the script stores beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xerotrial.stats.model import fit

REF = Path(__file__).resolve().parents[1] / "reference"
CASES = json.loads((REF / "r_mixed.json").read_text())
COV = {"unstructured": "un"}


def _data(case: dict) -> pd.DataFrame:
    d = pd.read_csv(REF / "data" / case["data"])
    if "dayx" in case["formula"]:
        d["dayx"] = d["day"]
    return d


def _fit(case: dict, cov: str, method: str = "REML", slopes=None, kr_information="observed"):
    formula = case["formula"].split("+ (")[0].strip()
    time = None if slopes else case["time"]
    return fit(
        _data(case),
        formula,
        subject=case["subject"],
        time=time,
        covariance=cov,
        method=method,
        time_order=None if slopes else case["time_levels"],
        random_slopes=slopes,
        kr_information=kr_information,
    )


LMER = ["trial_like_ri_visit_reml", "trial_like_ri_visit_ml", "trial_like_ri_arm_visit_base_reml"]


@pytest.mark.parametrize("name", LMER)
def test_lmer_random_intercept(name):
    case = CASES[name]
    # pbkrtest uses the expected information in the Kenward-Roger adjustment (SAS: observed);
    # lmerTest's Satterthwaite uses the observed one, as we always do.
    res = _fit(case, "random-intercept", case["method"], kr_information="expected")
    assert res.neg2_loglik == pytest.approx(case["neg2_loglik_sas"], rel=1e-9)
    cp = case["covariance_parameters"]
    assert res.theta == pytest.approx([cp["Intercept"], cp["Residual"]], rel=1e-6)
    np.testing.assert_allclose(res.covariance_matrix(), case["covariance_matrix"], rtol=1e-6)
    blocks = [("satterthwaite", "fixed_satterthwaite")]
    if case["method"] == "REML":
        blocks.append(("kenward-roger", "fixed_kenward_roger"))
    for method, key in blocks:
        fe = res.fixed_effects(method)
        for ours, theirs in zip(fe.to_dict("records"), case[key], strict=True):
            assert ours["estimate"] == pytest.approx(theirs["estimate"], rel=1e-6, abs=1e-9)
            assert ours["se"] == pytest.approx(theirs["se"], rel=1e-6)
            assert ours["df"] == pytest.approx(theirs["df"], rel=1e-4)
            assert ours["p"] == pytest.approx(theirs["p"], rel=1e-4, abs=1e-12)


@pytest.mark.parametrize("method", ["satterthwaite", "kenward-roger"])
def test_lmer_lsmeans_contrasts_and_type3(method):
    case = CASES["trial_like_ri_arm_visit_base_reml"]
    res = _fit(case, "random-intercept", kr_information="expected")
    key = method.replace("-", "_")
    lsm = res.lsmeans("visit", df_method=method)
    theirs_l = case["emmeans"][key].get("lsmeans", case["lsmeans"])
    for ours, theirs in zip(lsm.to_dict("records"), theirs_l, strict=True):
        assert ours["visit"] == theirs["visit"]
        assert ours["estimate"] == pytest.approx(theirs["emmean"], rel=1e-6)
        assert ours["se"] == pytest.approx(theirs["SE"], rel=1e-6)
        assert ours["df"] == pytest.approx(theirs["df"], rel=1e-4)
    t3 = res.type3(method).set_index("term")
    for row in case["type3"][key]:
        ours = t3.loc[row["term"]]
        assert ours["num_df"] == row["NumDF"]
        assert ours["den_df"] == pytest.approx(row["DenDF"], rel=1e-4)
        assert ours["F"] == pytest.approx(row["F"], rel=1e-5)
        assert ours["p"] == pytest.approx(row["p"], rel=1e-4)


def test_lmer_random_slope():
    case = CASES["trial_like_rslope_day_reml"]
    res = _fit(case, "random-intercept", slopes=["dayx"], kr_information="expected")
    assert res.neg2_loglik == pytest.approx(case["neg2_loglik_sas"], rel=1e-9)
    cp = case["covariance_parameters"]
    assert res.theta == pytest.approx(
        [cp["UN(1,1)"], cp["UN(2,1)"], cp["UN(2,2)"], cp["Residual"]], rel=1e-5
    )
    for method, key in (
        ("satterthwaite", "fixed_satterthwaite"),
        ("kenward-roger", "fixed_kenward_roger"),
    ):
        fe = res.fixed_effects(method)
        for ours, theirs in zip(fe.to_dict("records"), case[key], strict=True):
            assert ours["estimate"] == pytest.approx(theirs["estimate"], rel=1e-6)
            assert ours["se"] == pytest.approx(theirs["se"], rel=1e-5)
            assert ours["df"] == pytest.approx(theirs["df"], rel=1e-4)


GLS = [k for k in CASES if "_gls_" in k]


@pytest.mark.parametrize("name", GLS)
def test_gls_structures(name):
    case = CASES[name]
    cov = name.rsplit("_", 1)[1]
    res = _fit(case, cov)
    assert res.converged
    assert res.n_obs == case["n_obs"]
    assert res.neg2_loglik == pytest.approx(case["neg2_loglik_sas"], rel=1e-9)
    np.testing.assert_allclose(res.covariance_matrix(), case["covariance_matrix"], rtol=1e-6)
    ours = dict(zip(res.cov.param_names, res.theta, strict=True))
    for k, v in case["covariance_parameters"].items():
        if k in ours:
            assert ours[k] == pytest.approx(v, rel=1e-6, abs=1e-9), k
    if case["data"].startswith("trial_like"):  # same factor coding as R
        for o, t in zip(
            res.fixed_effects("residual").to_dict("records"), case["fixed"], strict=True
        ):
            assert o["estimate"] == pytest.approx(t["estimate"], rel=1e-6, abs=1e-9)
            assert o["se"] == pytest.approx(t["se"], rel=1e-6)
    factor = case["time"]
    lsm = res.lsmeans(factor, df_method="residual")
    keys = [factor]
    got = {tuple(r[k] for k in keys): r for r in lsm.to_dict("records")}
    for theirs in case["lsmeans"]:
        o = got[tuple(theirs[k] for k in keys)]
        assert o["estimate"] == pytest.approx(theirs["emmean"], rel=1e-6)
        assert o["se"] == pytest.approx(theirs["SE"], rel=1e-6)


TMB = {"us": "un", "toep": "toeph", "cs": "csh", "ar1": "ar1", "diag": "diag"}


@pytest.mark.parametrize("kind", sorted(TMB))
def test_glmmtmb_structures_polished(kind):
    case = CASES[f"trial_like_glmmtmb_{kind}"]
    exact = case["exact_polished"]
    res = _fit(case, TMB[kind])
    assert res.converged
    assert res.neg2_loglik == pytest.approx(exact["neg2_loglik_sas"], rel=1e-9)
    np.testing.assert_allclose(res.covariance_matrix(), exact["covariance_matrix"], rtol=1e-6)
    for o, t in zip(res.fixed_effects("residual").to_dict("records"), exact["fixed"], strict=True):
        assert o["estimate"] == pytest.approx(t["estimate"], rel=1e-6, abs=1e-9)
        assert o["se"] == pytest.approx(t["se"], rel=1e-6)


def test_type3_with_covariate_interaction_holds_covariate_at_zero():
    """lmerTest type 3 (like SAS) tests 'arm' at base = 0 when arm:base is in the model."""
    ref = json.loads((REF / "r_type3_covariate.json").read_text())
    d = pd.read_csv(REF / "data" / "trial_like.csv")
    res = fit(
        d,
        "y ~ arm * base + visit",
        subject="subject",
        time="visit",
        covariance="random-intercept",
        kr_information="expected",
        time_order=["day0", "day1", "day5", "day30", "day120"],
    )
    for method, key in (("satterthwaite", "Satterthwaite"), ("kenward-roger", "Kenward-Roger")):
        t3 = res.type3(method).set_index("term")
        for row in ref[key]:
            ours = t3.loc[row["term"]]
            assert ours["num_df"] == row["NumDF"]
            assert ours["den_df"] == pytest.approx(row["DenDF"], rel=1e-4)
            assert ours["F"] == pytest.approx(row["F"], rel=1e-4, abs=1e-6)
