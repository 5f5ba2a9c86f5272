"""The derivations and analysis plan of a definition: read as written, and every mistake
located by file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from .definitions import GOOD, line_of, load_text, problems, the_problem

PLAN = """
[derivations.UWS]
label = "UWS flow rate (mL/min)"
function = "flow_rate"
form = "sialometry"
inputs = {cup_before_g = "cup_before_g", cup_after_g = "cup_after_g", minutes = "minutes"}
params = {kind = "UWS"}

[analysis]
arms = ["active", "placebo"]

[[analysis.endpoints]]
param = "UWS"
primary = true
response = "CHG"
visits = ["month1"]
covariates = ["BASE"]
covariance = "un"
df = "kenward-roger"
primary_visit = "month1"
"""


def test_the_plan_is_read_as_written(tmp_path: Path) -> None:
    study = load_text(tmp_path, GOOD + PLAN)
    (d,) = study.derivations
    assert (d.param, d.function, d.form, dict(d.params)) == (
        "UWS",
        "flow_rate",
        "sialometry",
        {"kind": "UWS"},
    )
    assert d.inputs["minutes"] == "minutes"
    (e,) = study.analysis.endpoints
    assert study.analysis.arms == ("active", "placebo")
    assert (e.param, e.response, e.visits, e.covariance, e.df, e.primary_visit) == (
        "UWS",
        "CHG",
        ("month1",),
        "un",
        "kenward-roger",
        "month1",
    )


def test_a_definition_without_a_plan_has_none(tmp_path: Path) -> None:
    study = load_text(tmp_path, GOOD)
    assert study.derivations == () and study.analysis is None


BAD = [
    (
        'function = "flow_rate"',
        'function = "flowrate"',
        "derivations.UWS.function",
        "unknown function 'flowrate'",
    ),
    ('form = "sialometry"', 'form = "saliva"', "derivations.UWS.form", "not defined"),
    (
        'minutes = "minutes"}',
        'minutes = "mins"}',
        "derivations.UWS.inputs.minutes",
        "'mins' is not a field of form sialometry",
    ),
    (
        'minutes = "minutes"}',
        'seconds = "minutes"}',
        "derivations.UWS.inputs.seconds",
        "flow_rate has no input 'seconds'",
    ),
    (
        'params = {kind = "UWS"}',
        'params = {kind = "UUS"}',
        "derivations.UWS.params.kind",
        "kind must be one of UWS, SWS",
    ),
    (
        'arms = ["active", "placebo"]',
        'arms = ["active", "sham"]',
        "analysis.arms.1",
        "arm 'sham' is not an arm",
    ),
    ('param = "UWS"', 'param = "SWS"', "analysis.endpoints.0.param", "has no derivation"),
    (
        'visits = ["month1"]',
        'visits = ["month2"]',
        "analysis.endpoints.0.visits.0",
        "visit 'month2' does not exist",
    ),
    (
        'visits = ["month1"]',
        'visits = ["baseline", "month1"]',
        "analysis.endpoints.0.visits.0",
        "the baseline visit 'baseline' has no change",
    ),
    (
        'covariance = "un"',
        'covariance = "unstructured"',
        "analysis.endpoints.0.covariance",
        "unknown covariance",
    ),
    ('df = "kenward-roger"', 'df = "kr"', "analysis.endpoints.0.df", "unknown df method"),
    (
        'response = "CHG"',
        'response = "CHANGE"',
        "analysis.endpoints.0.response",
        "response must be one of AVAL, CHG, PCHG",
    ),
    (
        'primary_visit = "month1"',
        'primary_visit = "baseline"',
        "analysis.endpoints.0.primary_visit",
        "not one of the endpoint's visits",
    ),
    ("[derivations.UWS]", "[derivations.uws]", "derivations.uws", "PARAMCD 'uws'"),
]


@pytest.mark.parametrize(
    ("old", "new", "key", "rule"), BAD, ids=[b[2] + ":" + b[3][:20] for b in BAD]
)
def test_each_mistake_is_located(tmp_path: Path, old: str, new: str, key: str, rule: str) -> None:
    text = GOOD + PLAN.replace(old, new, 1)
    if old == "[derivations.UWS]":
        text = text.replace('param = "UWS"', 'param = "uws"')
    p = the_problem(problems(tmp_path, text), key, rule)
    assert p.line == line_of(text, new.split(" = ")[0] if " = " in new else new) or p.line


def test_study_diff_shows_plan_changes(tmp_path: Path) -> None:
    from xerotrial.study.diff import diff_studies

    old = load_text(tmp_path, GOOD + PLAN, "a.toml")
    new_text = GOOD.replace('version = "1"', 'version = "2"') + PLAN.replace(
        'df = "kenward-roger"', 'df = "satterthwaite"'
    ).replace('params = {kind = "UWS"}', 'params = {kind = "SWS"}')
    new = load_text(tmp_path, new_text, "b.toml")
    lines = diff_studies(old, new)
    assert "~ endpoint UWS: df 'kenward-roger' -> 'satterthwaite'" in lines
    assert any(line.startswith("~ derivation UWS: params") for line in lines)
    assert diff_studies(old, load_text(tmp_path, GOOD, "c.toml"))[-1] == "- analysis plan"


SINGLE = (
    PLAN.replace('arms = ["active", "placebo"]\n', "")
    .replace('visits = ["month1"]', 'visits = ["baseline", "month1"]')
    .replace('response = "CHG"', 'response = "AVAL"')
    .replace('covariates = ["BASE"]\n', "")
)


def test_a_single_arm_plan_compares_each_visit_with_the_baseline(tmp_path: Path) -> None:
    (e,) = load_text(tmp_path, GOOD + SINGLE).analysis.endpoints
    assert (e.reference_visit, e.covariates, e.visits) == ("baseline", (), ("baseline", "month1"))


def test_single_arm_mistakes_are_located(tmp_path: Path) -> None:
    no_ref = GOOD + SINGLE.replace('visits = ["baseline", "month1"]', 'visits = ["month1"]')
    the_problem(problems(tmp_path, no_ref), "analysis.endpoints.0.visits", "reference visit")
    with_arms = GOOD + PLAN.replace('primary_visit = "month1"', 'reference_visit = "month1"')
    the_problem(
        problems(tmp_path, with_arms), "analysis.endpoints.0.reference_visit", "compares the arms"
    )
