"""The seed trial's efficacy models (all of Table 3: flow rates and their % changes, the XQ,
the QLQ-H&N35 scales, scintigraphy and saliva ions) run from its study definition: the
derivations and the single-arm analysis plan of ``data/studies/seed/study.toml``, on the demo's
seed store, give exactly the LS means and visit contrasts of the seed report's own models
(``analysis.efficacy.fit_outcome``), which ``test_demo_vs_r.py`` checks against R."""

from __future__ import annotations

from pathlib import Path

import pytest

from xerotrial.adam.bds import store_study, study_bds
from xerotrial.analysis.efficacy import OUTCOMES, derive_adeff, fit_outcome, outcome_visits
from xerotrial.analysis.plan import run_plan
from xerotrial.store.engine import open_store
from xerotrial.trial.protocol import load_protocol

# the seed definition's endpoints are named by the seed report's outcome codes
SEED_CODES = [o.paramcd for o in OUTCOMES]


@pytest.fixture(scope="module")
def fits(demo_output: Path):
    engine = open_store(demo_output / "trial.db")
    with engine.connect() as conn:
        study = store_study(conn)
        bds = study_bds(conn, study)
    plan = {r["name"]: r for r in run_plan(bds, study)}
    adeff = derive_adeff(engine)
    engine.dispose()
    return study, bds, plan, adeff


@pytest.mark.parametrize("param", SEED_CODES)
def test_the_definitions_plan_gives_the_seed_reports_numbers(fits, param: str) -> None:
    study, _, plan, adeff = fits
    endpoint = next(e for e in study.analysis.endpoints if e.key == param)
    # the endpoint's visits are the protocol's efficacy visits at which its form is due
    assert endpoint.visits == outcome_visits(adeff, param, load_protocol()).scheduled
    seed = fit_outcome(adeff, param, endpoint.visits, "day120")
    ours = plan[param]
    assert "not_run" not in ours
    assert ours["n_subjects"] == adeff.loc[adeff["PARAMCD"] == param, "USUBJID"].nunique()
    lsm = {x["AVISIT"]: x for x in ours["lsmeans"]}
    assert set(lsm) == set(seed.lsmeans["visit"])
    for row in seed.lsmeans.to_dict("records"):
        for k in ("estimate", "se", "df", "lower", "upper", "p"):
            assert lsm[row["visit"]][k] == row[k], (param, row["visit"], k)
    diffs = {x["contrast"]: x for x in ours["diffs"]}
    assert set(diffs) == set(seed.contrasts["contrast"])
    for row in seed.contrasts.to_dict("records"):
        for k in ("estimate", "se", "df", "lower", "upper", "p"):
            assert diffs[row["contrast"]][k] == row[k], (param, row["contrast"], k)


def test_the_population_is_the_patients(fits) -> None:
    _, bds, plan, adeff = fits
    patients = set(adeff["USUBJID"])
    assert set(bds.loc[bds["POPFL"] == "Y", "SUBJID"]) == patients
    controls = bds.loc[bds["POPFL"] != "Y"]
    assert len(controls) and set(controls["AVISIT"]) == {"day0"}
    n_uws = int((controls["PARAMCD"] == "UWS").sum())
    assert plan["uws_ml_min"]["left_out"] == {"not in the analysis population": n_uws}
