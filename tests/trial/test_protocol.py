"""The protocol: bundled values from the paper, the visit mapping, and every load error."""

from __future__ import annotations

import copy
import math
import tomllib
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xerotrial.stats.errors import DataValidationError
from xerotrial.trial.protocol import (
    GLANDS,
    Protocol,
    Rule,
    Window,
    compare,
    load_protocol,
    normalize_gland,
    parse_protocol,
    standalone_text,
)

BUNDLED_TEXT = standalone_text(
    resources.files("xerotrial").joinpath("data", "protocol.toml").read_text()
)


@pytest.fixture(scope="module")
def p() -> Protocol:
    return load_protocol()


def doc() -> dict:
    return copy.deepcopy(tomllib.loads(BUNDLED_TEXT))


# ------------------------------------------------------------------------------ bundled


def test_bundled_is_cached_and_frozen(p):
    assert load_protocol() is p
    with pytest.raises(AttributeError):
        p.visits = ()  # type: ignore[misc]


def test_trial_info(p):
    assert p.trial.id == "NCT03874572"
    assert p.trial.eudract == "2018-003856-19"
    assert p.trial.sample_size == 10
    assert p.trial.study_day_origin == "injection"


def test_visits_match_the_paper(p):
    assert [(v.name, v.planned_day, v.avisitn) for v in p.visits] == [
        ("day0", 0, 0),
        ("day1", 1, 1),
        ("day5", 5, 5),
        ("day30", 30, 30),
        ("day120", 120, 120),
        ("year2", 730, 730),  # the 2-year safety follow-up of four patients
    ]
    assert p.baseline_visit.name == "day0"
    assert p.visit("day120").label == "4 months"
    assert p.visit("day120").window == Window(80, 150)
    assert p.visit("day120").target == Window(106, 134)
    with pytest.raises(DataValidationError, match="unknown visit 'day60'"):
        p.visit("day60")


@pytest.mark.parametrize(
    ("day", "visit", "deviation"),
    [
        (-8, None, True),
        (-7, "day0", True),
        (-1, "day0", True),
        (0, "day0", False),
        (1, "day1", False),
        (2, "day1", True),
        (3, "day5", True),
        (4, "day5", False),
        (5, "day5", False),
        (6, "day5", False),
        (14, "day5", True),
        (15, "day30", True),
        (23, "day30", False),
        (30, "day30", False),
        (37, "day30", False),
        (38, "day30", True),
        (50, "day30", True),
        (51, None, True),
        (79, None, True),
        (80, "day120", True),
        (92, "day120", True),
        (105, "day120", True),
        (106, "day120", False),
        (120, "day120", False),
        (134, "day120", False),
        (135, "day120", True),
        (150, "day120", True),
        (151, None, True),
    ],
)
def test_map_visit_table(p, day, visit, deviation):
    a = p.map_visit(day)
    assert a.visit == visit
    assert a.deviation is deviation
    assert a.study_day == day
    assert a.mapped is (visit is not None)
    if visit is not None:
        assert a.planned_day == p.visit(visit).planned_day
        assert a.avisitn == p.visit(visit).avisitn
    assert (a.reason == "") is (not deviation)


def test_day_92_is_the_4_month_visit_with_a_deviation(p):
    a = p.map_visit(92)
    assert (a.visit, a.planned_day, a.deviation) == ("day120", 120, True)
    assert "outside the target window [106, 134]" in a.reason
    assert "14 day(s) early" in a.reason
    assert "accepted in its window [80, 150]" in a.reason
    assert "2 day(s) late" in p.map_visit(39).reason


def test_map_visit_accepts_integer_like_days(p):
    assert p.map_visit(92.0).visit == "day120"
    assert p.map_visit(np.int64(30)).visit == "day30"


def test_map_visit_unmapped_and_strict(p):
    a = p.map_visit(60)
    assert a.visit is None and a.planned_day is None and a.avisitn is None
    assert "outside every visit window" in a.reason
    with pytest.raises(DataValidationError, match="study day 60 is outside every visit window"):
        p.map_visit(60, strict=True)


@pytest.mark.parametrize("bad", [1.5, float("nan"), None, "5", True, float("inf")])
def test_map_visit_rejects_non_days(p, bad):
    with pytest.raises(DataValidationError, match="not a whole number of days"):
        p.map_visit(bad)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-40, max_value=250))
def test_map_visit_property(day):
    p = load_protocol()
    a = p.map_visit(day)
    holders = [v for v in p.visits if v.window.contains(day)]
    assert len(holders) <= 1  # windows never overlap
    if not holders:
        assert a.visit is None and a.deviation
    else:
        v = holders[0]
        assert a.visit == v.name
        assert a.deviation is (not v.target.contains(day))


# ------------------------------------------------------------------------------ doses


def test_doses_from_the_paper(p):
    # 25 million cells per submandibular and 50 million per parotid gland at 50 million/mL
    assert p.volume_ml("left_submandibular") == 0.5
    assert p.volume_ml("right_submandibular") == 0.5
    assert p.volume_ml("left_parotid") == 1.0
    assert p.volume_ml("right_parotid") == 1.0
    assert p.volume_ml("submandibular") == 0.5
    assert p.volume_ml("Left Parotid") == 1.0
    assert p.dosing.cells_million("right-submandibular") == 25.0
    assert len(p.dosing.glands) == 4
    assert p.dosing.total_cells_million == 150.0
    assert p.dosing.total_volume_ml == 3.0
    assert p.dosing.concentration_million_per_ml == 50.0


@pytest.mark.parametrize("bad", ["sublingual", "left", 3])
def test_volume_of_unknown_gland(p, bad):
    with pytest.raises(DataValidationError):
        p.volume_ml(bad)


def test_normalize_gland():
    assert normalize_gland("  Right  Submandibular ") == "right_submandibular"
    assert set(map(normalize_gland, GLANDS)) == set(GLANDS)
    with pytest.raises(DataValidationError, match="not text"):
        normalize_gland(None)


# ------------------------------------------------------------------------------ cohorts


def test_cohorts(p):
    assert [p.cohort_for(i) for i in range(1, 11)] == ["CS5"] * 5 + ["CS10"] * 5
    assert p.cohort_for(11) == "CS10"  # the last cohort is open-ended
    assert p.cohort_for(5.0) == "CS5"
    assert p.cohorts[0].dmso_pct == 5.0 and p.cohorts[1].dmso_pct == 10.0
    assert p.cohorts[1].excipient == "CryoStor CS10"


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, None, float("nan"), "3"])
def test_cohort_rejects(p, bad):
    with pytest.raises(DataValidationError, match="enrolment order"):
        p.cohort_for(bad)


# ------------------------------------------------------------------------------ criteria


def test_eligibility_as_data(p):
    inc = {r.name: r for r in p.inclusion}
    assert list(inc) == ["age", "stage", "relapse_free", "objective_damage", "subjective_damage"]
    age = inc["age"]
    assert (age.variable, age.operator, age.value) == ("age", "between", (18.0, 75.0))
    assert [age.holds(a) for a in (17, 18, 75, 76)] == [False, True, True, False]
    assert inc["stage"].holds("II") and inc["stage"].holds("i") and not inc["stage"].holds("III")
    assert inc["relapse_free"].holds(2) and not inc["relapse_free"].holds(1.9)
    exc = {r.name: r for r in p.exclusion}
    assert list(exc) == [
        "other_cancer",
        "xerogenic_medication",
        "penicillin_streptomycin_allergy",
        "other_salivary_gland_disease",
        "previous_stem_cell_therapy",
        "previous_salivary_gland_surgery",
        "alcohol_abuse",
        "smoking",
        "pregnancy",
    ]
    assert exc["other_cancer"].holds(4) and not exc["other_cancer"].holds(4.5)
    assert not exc["other_cancer"].holds(None)  # no other cancer
    assert all(r.description and r.variable for r in p.inclusion + p.exclusion)
    assert exc["smoking"].holds(True) and not exc["smoking"].holds(False)


def test_release_criteria(p):
    rules = {r.name: r for r in p.release}
    assert {k: (r.operator, r.value) for k, r in rules.items() if k.startswith("cd")} == {
        "cd90": (">", 80.0),
        "cd105": (">", 80.0),
        "cd73": (">", 80.0),
        "cd45": ("<", 3.0),
    }
    assert (rules["viability"].operator, rules["viability"].value) == (">", 80.0)
    assert (rules["hla_dr"].operator, rules["hla_dr"].value) == ("<", 5.0)
    batch = {
        "viability": 92.0,
        "cd90": 99.0,
        "cd105": 97.0,
        "cd73": 99.5,
        "cd45": 0.4,
        "hla_dr": 1.2,
        "sterility": "Negative",
        "mycoplasma": "negative",
        "endotoxin": " NEGATIVE ",
        "donor_serology": "negative",
    }
    assert all(r.holds(batch[r.variable]) for r in p.release)
    # strict inequalities: exactly at the limit fails
    assert not rules["viability"].holds(80.0)
    assert not rules["cd45"].holds(3.0)
    assert not rules["hla_dr"].holds(5.0)
    assert not rules["sterility"].holds("positive")
    assert not rules["viability"].holds(float("nan"))


def test_thresholds(p):
    uws, sws = p.hyposalivation["UWS"], p.hyposalivation["SWS"]
    assert (uws.operator, uws.value, sws.operator, sws.value) == ("<=", 0.1, "<=", 0.5)
    assert uws.holds(0.1) and not uws.holds(0.1000001)
    assert (p.responder.operator, p.responder.value) == (">", 30.0)
    assert not p.responder.holds(30.0) and p.responder.holds(30.1)
    assert (p.hla_positive.operator, p.hla_positive.value) == (">", 1000.0)
    assert not p.hla_positive.holds(1000) and p.hla_positive.holds(1001)
    assert dict(p.collection_minutes) == {"UWS": 10.0, "SWS": 5.0}
    assert dict(p.max_flow_ml_min) == {"UWS": 5.0, "SWS": 10.0}
    assert set(p.saliva_max_mmol_l) == {"Na", "K", "Cl", "PO4"}


def test_with_hyposalivation(p):
    q = p.with_hyposalivation("sws", "<", 0.7)
    assert q.hyposalivation["SWS"].holds(0.66) and not q.hyposalivation["SWS"].holds(0.7)
    assert p.hyposalivation["SWS"].value == 0.5  # the original is unchanged
    assert q.hyposalivation["UWS"] == p.hyposalivation["UWS"]
    with pytest.raises(DataValidationError, match="must be one of"):
        p.with_hyposalivation("XWS", "<=", 0.7)
    with pytest.raises(DataValidationError, match="operator '=<'"):
        p.with_hyposalivation("SWS", "=<", 0.7)
    with pytest.raises(DataValidationError, match="not a number"):
        p.with_hyposalivation("SWS", "<=", "0.7")


def test_compare():
    assert compare(np.array([1, 2, 3]), ">=", 2).tolist() == [False, True, True]
    s = compare(pd.Series([1.0, None], index=["a", "b"]), "!=", 5)
    assert s.to_dict() == {"a": True, "b": False}  # missing never satisfies a rule
    assert compare("x", "not in", ["y"]) and not compare("Y", "not in", ["y"])
    assert compare(1, "==", True) and not compare("1", "==", 1)
    with pytest.raises(DataValidationError, match="unknown operator"):
        compare(1, "=>", 0)
    with pytest.raises(DataValidationError, match="cannot compare the text"):
        compare("high", ">", 80)
    assert str(Rule("x", "<", 3.0)) == "x < 3.0"


# ------------------------------------------------------------------------------ loading


def test_load_from_a_path(tmp_path, p):
    f = tmp_path / "protocol.toml"
    f.write_text(BUNDLED_TEXT.replace("value = 0.5\n", "value = 0.7\n"))
    q = load_protocol(f)
    assert q.hyposalivation["SWS"].value == 0.7
    assert q.source == str(f)
    assert q.visits == p.visits
    assert load_protocol(str(f)).hyposalivation["SWS"].value == 0.7


def test_load_errors(tmp_path):
    with pytest.raises(DataValidationError, match="cannot read the protocol file"):
        load_protocol(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[trial\nid = 1")
    with pytest.raises(DataValidationError, match="not valid TOML"):
        load_protocol(bad)


def _set(d: dict, path: list, value) -> dict:
    t = d
    for k in path[:-1]:
        t = t[k]
    if value is KeyError:
        del t[path[-1]]
    else:
        t[path[-1]] = value
    return d


@pytest.mark.parametrize(
    ("path", "value", "key", "message"),
    [
        (["trial", "id"], KeyError, "trial.id", "missing"),
        (["trial", "sample_size"], 0, "trial.sample_size", "must be >= 1"),
        (["trial", "sample_size"], "ten", "trial.sample_size", "must be an integer"),
        (["trial", "colour"], "red", "trial.colour", "unknown key"),
        (["extra"], {}, "extra", "unknown key"),
        (["visits"], KeyError, "visits", "missing"),
        (["visits"], [], "visits", "non-empty array"),
        (["visits", 1, "windw"], [1, 2], "visits[1].windw", "unknown key"),
        (["visits", 1, "window"], KeyError, "visits[1].window", "missing"),
        (["visits", 1, "window"], [2, 1], "visits[1].window", "day range"),
        (["visits", 1, "window"], [1.0, 2], "visits[1].window", "day range"),
        (["visits", 1, "avisitn"], "1", "visits[1].avisitn", "integer"),
        (["visits", 1, "target"], [1, 3], "visits[1].target", "not inside the window"),
        (["visits", 1, "planned_day"], 2, "visits[1].planned_day", "not in the target"),
        (["visits", 1, "name"], "day0", "visits[1].name", "repeats visits[0]"),
        (["visits", 1, "avisitn"], 0, "visits[1].avisitn", "repeats visits[0]"),
        (["visits", 1, "baseline"], True, "visits.baseline", "exactly one"),
        (["visits", 0, "baseline"], False, "visits.baseline", "exactly one"),
        (["visits", 2, "window"], [2, 14], "visits[2].window", "overlaps"),
        (["dose", "concentration_million_per_ml"], 0, "dose.concentration", "positive"),
        (["dose", "million_cells", "sublingual"], 5.0, "dose.million_cells.sublingual", "unknown"),
        (["dose", "million_cells", "parotid"], -50, "dose.million_cells.parotid", "positive"),
        (["dose", "glands", "left_parotid"], "submandibular", "dose.glands.left_parotid", "is a"),
        (["dose", "glands", "sublingual"], "parotid", "dose.glands.sublingual", "unknown key"),
        (["dose", "glands"], {}, "dose.glands", "no gland"),
        (["dose", "million_cells"], {"parotid": 50.0}, "dose.million_cells.submandibular", ""),
        (["cohorts", 1, "first_patient"], 7, "cohorts", "expected 6"),
        (["cohorts", 0, "last_patient"], KeyError, "cohorts", "only the last cohort"),
        (["cohorts", 0, "last_patient"], 0, "cohorts[0].first_patient", "bad enrolment"),
        (["cohorts", 0, "dmso_pct"], 105, "cohorts[0].dmso_pct", "between 0 and 100"),
        (["eligibility", "inclusion"], KeyError, "eligibility.inclusion", "missing"),
        (["eligibility", "inclusion", 0, "operator"], "=>", "inclusion[0].operator", "bad op"),
        (["eligibility", "inclusion", 0, "value"], [75, 18], "inclusion[0].value", "between"),
        (["eligibility", "inclusion", 0, "value"], KeyError, "inclusion[0].value", "missing"),
        (["eligibility", "inclusion", 1, "value"], [], "inclusion[1].value", "non-empty list"),
        (["eligibility", "inclusion", 2, "value"], "two", "inclusion[2].value", "needs a number"),
        (["eligibility", "inclusion", 3, "value"], [True], "inclusion[3].value", "text, number"),
        (["eligibility", "inclusion", 3, "name"], "age", "eligibility", "more than once"),
        (["release", 0, "operator"], "greater", "release[0].operator", "bad operator"),
        (["release", 0, "name"], KeyError, "release[0].name", "missing"),
        (["release", 0, "unit"], 5, "release[0].unit", "string"),
        (["thresholds", "hyposalivation", "SWS"], KeyError, "hyposalivation.SWS", "missing"),
        (["thresholds", "hyposalivation", "SWS", "operator"], "in", "SWS.operator", "bad op"),
        (["thresholds", "hyposalivation", "SWS", "name"], "x", "SWS.name", "unknown key"),
        (["thresholds", "responder"], KeyError, "thresholds.responder", "missing"),
        (["thresholds", "hla_positive", "value"], "1000", "hla_positive.value", "number"),
        (["thresholds", "hla_positive"], 1000, "thresholds.hla_positive", "must be a table"),
        (["sialometry", "collection_minutes", "UWS"], 0, "collection_minutes.UWS", "positive"),
        (["sialometry", "max_flow_ml_min", "SWS"], KeyError, "max_flow_ml_min.SWS", "missing"),
        (["saliva", "max_mmol_l", "Ca"], 5.0, "saliva.max_mmol_l.Ca", "unknown key"),
        (["saliva"], KeyError, "saliva", "missing"),
        (["schedule"], KeyError, "schedule", "missing"),
        (["schedule"], {}, "schedule", "no form is scheduled"),
        (["schedule"], [], "schedule", "must be a table"),
        (["schedule", "xq"], "day0", "schedule.xq", "non-empty list of visit names"),
        (["schedule", "xq"], [], "schedule.xq", "non-empty list"),
        (["schedule", "xq", 1], "day60", "schedule.xq[1]", "unknown visit 'day60'"),
        (["schedule", "xq", 1], 30, "schedule.xq[1]", "unknown visit 30"),
        (["schedule", "xq", 2], "day0", "schedule.xq[2]", "listed twice"),
        (["schedule", "Sialometry"], ["day0"], "schedule.Sialometry", "lower case"),
        (["analysis"], KeyError, "analysis", "missing"),
        (["analysis", "primary"], KeyError, "analysis.primary", "missing"),
        (["analysis", "primary"], "day60", "analysis.primary", "unknown visit 'day60'"),
        (["analysis", "primary"], "day0", "analysis.primary", "must be a follow-up visit"),
        (["analysis", "primary"], "year2", "analysis.primary", "must be a follow-up visit"),
        (["analysis", "early"], "", "analysis.early", "must be a string"),
        (["analysis", "early"], "day0", "analysis.early", "must be a follow-up visit"),
        (["analysis", "long_term"], "day120", "analysis.long_term", "is an efficacy visit"),
        (["analysis", "long_term"], "year3", "analysis.long_term", "unknown visit"),
        (["analysis", "efficacy_visits"], KeyError, "analysis.efficacy_visits", "missing"),
        (["analysis", "efficacy_visits"], ["day0"], "analysis.efficacy_visits", "at least 2"),
        (
            ["analysis", "efficacy_visits"],
            ["day1", "day120"],
            "analysis.efficacy_visits",
            "must start with the baseline visit 'day0'",
        ),
        (["analysis", "efficacy_visits", 1], "day6", "analysis.efficacy_visits[1]", "unknown"),
        (["analysis", "unscheduled"], "keep", "analysis.unscheduled", "'include', 'exclude'"),
        (["analysis", "visits"], [], "analysis.visits", "unknown key"),
    ],
)
def test_parse_errors_name_the_key(path, value, key, message):
    d = _set(doc(), path, value)
    with pytest.raises(DataValidationError) as err:
        parse_protocol(d, "t.toml")
    text = str(err.value)
    assert text.startswith("t.toml: key '")
    assert key in text
    assert message in text


def test_parse_optional_keys_default():
    d = doc()
    for k in ("reference", "eudract", "sample_size", "study_day_origin"):
        del d["trial"][k]
    del d["visits"][1]["label"]
    del d["cohorts"][1]["dmso_pct"]
    with pytest.raises(DataValidationError, match="cohorts\\[1\\].dmso_pct"):
        parse_protocol(d)
    d["cohorts"][1]["dmso_pct"] = 10
    q = parse_protocol(d)
    assert q.trial.sample_size is None and q.trial.reference == ""
    assert q.visit("day1").label == "day1"
    assert math.isclose(q.cohorts[1].dmso_pct, 10.0)


# ------------------------------------------------------------------------------ schedule


def test_schedule_of_the_bundled_protocol(p):
    every = ("day0", "day1", "day5", "day30", "day120")
    assert dict(p.schedule) == {
        "sialometry": every,
        "saliva_ions": ("day0", "day120"),
        "xq": ("day0", "day30", "day120"),  # the paper's p-values: a three-visit model
        "qlq_hn35": ("day0", "day30", "day120"),
        "scintigraphy": ("day0", "day120"),
        "safety_labs": ("day0", "day30", "day120"),
        "hla_antibodies": ("day0", "day30", "day120"),
    }
    assert p.scheduled("adverse_events") == ()
    assert not any("year2" in due for due in p.schedule.values())  # safety follow-up only


def test_schedule_names_forms_of_the_store_with_visits(p):
    from xerotrial.store.forms import FORMS

    for form in p.schedule:
        columns = FORMS[form].columns
        assert "visit" in columns or "study_day" in columns, form


def test_schedule_is_kept_in_visit_order():
    d = doc()
    d["schedule"]["xq"] = ["day120", "day0", "day30"]
    assert parse_protocol(d).scheduled("xq") == ("day0", "day30", "day120")


def test_analysis_plan_of_the_bundled_protocol(p):
    a = p.analysis
    assert a.efficacy_visits == ("day0", "day1", "day5", "day30", "day120")
    assert (a.primary, a.early, a.long_term) == ("day120", "day30", "year2")
    assert (p.visit(a.primary).label, p.visit(a.early).label) == ("4 months", "1 month")
    assert a.unscheduled == "exclude"


def test_analysis_optional_keys():
    d = doc()
    for k in ("early", "long_term", "unscheduled"):
        del d["analysis"][k]
    a = parse_protocol(d).analysis
    assert (a.early, a.long_term, a.unscheduled) == (None, None, "exclude")


def test_a_plan_with_other_visits():
    d = doc()
    d["analysis"].update(
        efficacy_visits=["day30", "day0", "day120"], primary="day30", early="day120"
    )
    a = parse_protocol(d).analysis
    assert a.efficacy_visits == ("day0", "day30", "day120") and a.primary == "day30"


def test_no_form_at_a_follow_up_visit():
    d = doc()
    d["schedule"] = {"sialometry": ["day0"], "safety_labs": ["year2"]}
    with pytest.raises(
        DataValidationError, match="key 'schedule': no form is scheduled at a follow-up visit"
    ):
        parse_protocol(d)
