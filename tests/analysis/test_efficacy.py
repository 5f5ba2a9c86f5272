"""The efficacy analysis on small hand-made datasets: each outcome's visits from the protocol's
schedule and data, one responder rule, and the analyses that cannot run yet with why."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from xerotrial.analysis.efficacy import (
    NotRun,
    cohort_comparison,
    early_look,
    fit_outcome,
    fit_outcomes,
    not_run_table,
    outcome_visits,
    responder_text,
    responders,
    table3,
    unscheduled_table,
    wilcoxon_sensitivity,
)
from xerotrial.stats.errors import DataValidationError
from xerotrial.trial.protocol import load_protocol

P = load_protocol()
SUBJECTS = [f"P{i:02d}" for i in range(1, 9)]


def _adeff(paramcd: str, visits: tuple[str, ...], form: str, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i, s in enumerate(SUBJECTS):
        level = 1.0 + 0.2 * i
        for k, v in enumerate(visits):
            rows.append(
                {
                    "USUBJID": s,
                    "PARAMCD": paramcd,
                    "AVISIT": v,
                    "AVAL": level * (1 + 0.1 * k) + rng.normal(0, 0.05),
                    "ANL01FL": "Y",
                    "SRCDOM": form,
                }
            )
    return pd.DataFrame(rows)


def _strict(protocol=P):
    return dataclasses.replace(
        protocol, analysis=dataclasses.replace(protocol.analysis, unscheduled="exclude")
    )


def _lenient(protocol=P):
    return dataclasses.replace(
        protocol, analysis=dataclasses.replace(protocol.analysis, unscheduled="include")
    )


def test_outcome_visits_follow_the_schedule_and_the_data():
    every = P.analysis.efficacy_visits
    xq = _adeff("xq_summary", every, "xq")
    ov = outcome_visits(xq, "xq_summary", P)
    assert ov.form == "xq" and ov.scheduled == ("day0", "day30", "day120")
    assert ov.with_data == every and ov.unscheduled == ("day1", "day5")
    assert ov.model == ("day0", "day30", "day120")  # the bundled protocol: "exclude"
    assert outcome_visits(xq, "xq_summary", _lenient()).model == every
    strict = outcome_visits(xq, "xq_summary", _strict())
    assert strict.model == ("day0", "day30", "day120")
    assert "leaves them out" in strict.missing("day5", _strict())
    # scheduled AND has data: scintigraphy at day 0 only so far
    scint = outcome_visits(
        _adeff("scint_uptake_all", ("day0",), "scintigraphy"), "scint_uptake_all", P
    )
    assert scint.scheduled == ("day0", "day120") and scint.model == ("day0",)
    assert scint.missing("day120", P) == "no day120 (4 months) data yet"
    assert scint.missing("day5", P) == "scintigraphy is not scheduled at day5 (Day 5)"
    # non-analysis records (ANL01FL) and non-efficacy visits do not count
    uws = _adeff("uws_ml_min", ("day0", "day1", "year2"), "sialometry")
    uws.loc[uws["AVISIT"] == "day1", "ANL01FL"] = ""
    assert outcome_visits(uws, "uws_ml_min", P).model == ("day0",)


def test_fit_outcome_needs_the_reference_and_another_visit():
    one = _adeff("uws_ml_min", ("day0",), "sialometry")
    with pytest.raises(DataValidationError, match="at least one more visit"):
        fit_outcome(one, "uws_ml_min", ("day0", "day1"), "day120")
    later = _adeff("uws_ml_min", ("day1", "day5"), "sialometry")
    with pytest.raises(DataValidationError, match="reference visit"):
        fit_outcome(later, "uws_ml_min", ("day0", "day1", "day5"), "day120")
    f = fit_outcome(
        _adeff("uws_ml_min", ("day0", "day1"), "sialometry"),
        "uws_ml_min",
        ("day0", "day1", "day120"),
        "day120",
    )
    assert f.row is None and np.isnan(f.df) and f.visits == ("day0", "day1")
    assert f.contrasts["visit"].tolist() == ["day1"]


def test_a_store_at_day_5():
    visits = ("day0", "day1", "day5")
    adeff = pd.concat(
        [
            _adeff("uws_ml_min", visits, "sialometry"),
            _adeff("sws_ml_min", visits, "sialometry", 2),
            _adeff("uws_sodium", ("day0",), "saliva_ions"),
            _adeff("xq_summary", ("day0",), "xq"),
        ],
        ignore_index=True,
    )
    models = fit_outcomes(adeff, P)
    assert list(models.fits) == ["uws_ml_min", "sws_ml_min"]
    assert models.why["uws_sodium"] == (
        "only baseline data so far (next scheduled visit: day120 (4 months))"
    )
    assert models.why["xq_summary"] == (
        "only baseline data so far (next scheduled visit: day30 (1 month))"
    )
    assert models.why["HNDR"] == "no qlq_hn35 data yet"
    t3, not_run = table3(models, adeff, P)
    assert t3.empty and len(not_run) == 22
    assert {n.reason for n in not_run if n.outcome in ("uws_ml_min", "uws_sodium")} == {
        "no day120 (4 months) data yet"
    }
    early, skipped = early_look(models, adeff, P)
    assert early.empty and {n.reason for n in skipped} == {"no day30 (1 month) data yet"}
    w, skipped = wilcoxon_sensitivity(adeff, P)
    assert w.empty and len(skipped) == 20
    r, skipped = responders(adeff, P)
    assert r.empty and [n.outcome for n in skipped] == ["uws_ml_min", "sws_ml_min"]
    cohorts = pd.Series(["CS5"] * 4 + ["CS10"] * 4, index=SUBJECTS)
    c, skipped = cohort_comparison(adeff, cohorts, P)
    assert c["outcome"].tolist() == ["uws_ml_min", "sws_ml_min"]
    assert (c["num_df"] == 2).all()  # cohort x visit over the three visits so far
    only_cs5 = pd.Series("CS5", index=SUBJECTS)
    c, skipped = cohort_comparison(adeff, only_cs5, P)
    assert c.empty
    assert {n.reason for n in skipped if n.outcome == "uws_ml_min"} == {
        "only cohort CS5 has data so far"
    }


def test_responders_are_derive_responders_with_the_protocols_rule():
    adeff = pd.DataFrame(
        {
            "USUBJID": ["a", "a", "b", "b", "c", "c", "d", "d"],
            "PARAMCD": "uws_ml_min",
            "AVISIT": ["day0", "day120"] * 4,
            "AVAL": [0.10, 0.14, 0.10, 0.115, 0.10, 0.13, 0.0, 0.05],
            "ANL01FL": "Y",
            "SRCDOM": "sialometry",
        }
    )
    r, _ = responders(adeff, P)
    assert r.loc[0, ["n", "responders", "subjects"]].tolist() == [3, 1, "a"]  # 0 baseline: NA
    ten = dataclasses.replace(P, responder=dataclasses.replace(P.responder, value=10.0))
    r, _ = responders(adeff, ten)
    assert r.loc[0, ["responders", "subjects"]].tolist() == [3, "a, b, c"]
    assert responder_text(ten.responder) == ("> 10% increase", "rose by more than 10%")
    at_most = dataclasses.replace(ten.responder, operator="<=")
    assert responder_text(at_most)[1] == "changed by at most 10%"


def test_unscheduled_table():
    adeff = pd.concat(
        [
            _adeff("xq_summary", P.analysis.efficacy_visits, "xq"),
            _adeff("uws_ml_min", ("day0", "year2"), "sialometry"),
        ],
        ignore_index=True,
    )
    u = unscheduled_table(adeff, _lenient())
    assert u[["form", "visit", "participants"]].values.tolist() == [
        ["sialometry", "year2", 8],
        ["xq", "day1", 8],
        ["xq", "day5", 8],
    ]
    assert (
        u["handling"].tolist()
        == ["not an efficacy visit: not analysed"] + ["analysed in the outcome's model"] * 2
    )
    assert set(unscheduled_table(adeff, _strict())["handling"][1:]) == {
        "left out of the outcome's model"
    }


def test_not_run_table_groups_by_analysis_and_reason():
    rows = [
        NotRun("table3", "uws_ml_min", "no day120 data yet"),
        NotRun("table3", "sws_ml_min", "no day120 data yet"),
        NotRun("table3", "HNDR", "no qlq_hn35 data yet"),
        NotRun("long_term", "", "no year2 visit yet"),
    ]
    t = not_run_table(rows, {"uws_ml_min": "UWS"}, {"table3": "Table 3"})
    assert t.values.tolist() == [
        ["Table 3", "no day120 data yet", "UWS; sws_ml_min"],
        ["Table 3", "no qlq_hn35 data yet", "HNDR"],
        ["long_term", "no year2 visit yet", ""],
    ]
    assert list(not_run_table([], {}).columns) == ["analysis", "reason", "outcomes"]
