"""The form preview (:mod:`xerotrial.store.form_preview`): the live checks, branching and
calculations of the form page, by the rules a save applies."""

from __future__ import annotations

from pathlib import Path

import pytest

from xerotrial.store.form_preview import preview_form
from xerotrial.store.study_import import FormRow, SubjectRow, validate_rows
from xerotrial.study import load_study

STUDY = load_study(Path(__file__).parent / "study_data" / "two_arms.toml")


@pytest.mark.parametrize(
    ("symptoms", "shown"), [("", False), ("1", False), ("2", True), ("1,2", True)]
)
def test_branching_asks_a_field_when_its_logic_holds(symptoms: str, shown: bool) -> None:
    p = preview_form(STUDY, "enrolment", {"age": "40", "symptoms": symptoms}, status=0)
    assert p.shown == {"pain_detail": shown}
    assert p.errors == {} and p.checks == []


def test_hard_limits_refuse_and_soft_limits_note() -> None:
    p = preview_form(STUDY, "enrolment", {"age": "17"}, status=0)
    assert p.errors == {"age": "must be >= 18"}
    p = preview_form(STUDY, "enrolment", {"age": "85"}, status=0)
    assert p.errors == {} and p.notes == {"age": "85 is above the expected 80 (soft limit)"}
    p = preview_form(STUDY, "enrolment", {"age": "forty"}, status=0)
    assert p.errors == {"age": "must be a whole number"}


def test_calculated_fields_and_form_checks_follow_the_values() -> None:
    p = preview_form(STUDY, "saliva", {"before_g": "1.25", "after_g": "3.5"}, status=0)
    assert p.calculated == {"diff_g": "2.25"} and p.checks == []
    p = preview_form(STUDY, "saliva", {"before_g": "3.5", "after_g": "1.25"}, status=0)
    assert p.calculated == {"diff_g": "-2.25"}
    assert p.checks == ["error: check failed: cup weight after must be at least before"]
    p = preview_form(STUDY, "saliva", {"before_g": "1.25"}, status=0)
    assert p.calculated == {"diff_g": ""}


def test_required_blank_is_an_error_only_in_a_complete_form() -> None:
    assert preview_form(STUDY, "enrolment", {"age": ""}, status=0).errors == {}
    p = preview_form(STUDY, "enrolment", {"age": ""}, status=2)
    assert p.errors == {"age": "required, must not be empty (the form is marked complete)"}


def test_a_required_field_the_branching_hides_is_not_required() -> None:
    """REDCap's rule: a field is required only where it is asked."""
    text = (Path(__file__).parent / "study_data" / "two_arms.toml").read_text()
    old = 'pain_detail = {type = "text", show_if'
    text = text.replace(old, 'pain_detail = {type = "text", required = true, show_if')
    from xerotrial.study.check import build
    from xerotrial.study.load import parse_text

    data, locate, problems = parse_text(text, "two_arms (edited)", "toml")
    study = build(data, "two_arms (edited)", locate, problems)
    subject = [SubjectRow("1", "rh", "arm_1")]

    def save(symptoms: str) -> list:
        row = FormRow("enrolment", "1", "baseline", 1, 2, {"age": "40", "symptoms": symptoms})
        return validate_rows(study, subject, [row], "test").problems

    assert save("1") == []  # pain not ticked: pain_detail not asked, not required
    assert [p.column for p in save("2")] == ["pain_detail"]  # asked: required
    assert preview_form(study, "enrolment", {"age": "40", "symptoms": "2"}, status=2).errors == {
        "pain_detail": "required, must not be empty (the form is marked complete)"
    }
