"""A small valid study definition (a randomized phase II sketch) and helpers that break it."""

from __future__ import annotations

from pathlib import Path

from xerotrial.errors import Problem
from xerotrial.study.check import StudyDefinitionError
from xerotrial.study.load import load_study
from xerotrial.study.model import StudyDefinition

GOOD = """\
version = "1"

[study]
id = "P2"
title = "Randomized phase II"
nct = "NCT00000000"
sponsor = "A university hospital"

[study.sites.cph]
name = "Copenhagen"
country = "DK"

[allocation]
method = "block"
stratify = ["participants.sex"]

[allocation.arms.active]
label = "AT-MSC"
ratio = 2

[allocation.arms.placebo]
ratio = 1

[visits.baseline]
label = "Baseline"
day = 0
window = [-14, 0]
baseline = true

[visits.month1]
label = "1 month"
day = 30
window = [20, 40]
on_time = [25, 35]

[schedule]
unscheduled = true
repeating = ["adverse_events"]

[schedule.due]
sialometry = ["baseline", "month1"]

[forms.participants]
title = "Participants"
key = ["subject"]

[forms.participants.fields]
subject = {type = "text", required = true, sdtm = "DM.SUBJID"}
sex = {type = "choice", required = true, choices = {F = "female", M = "male"}}

[forms.sialometry]
title = "Sialometry"
key = ["subject", "visit"]
checks = [
  {expr = "cup_after_g >= cup_before_g", message = "the cup weighs less after than before"},
]

[forms.sialometry.fields]
subject = {type = "text", required = true}
visit = {type = "text", required = true}
cup_before_g = {type = "decimal", precision = 2, unit = "g", lo = 0, soft_hi = 50}
cup_after_g = {type = "decimal", precision = 2, unit = "g", lo = 0}
minutes = {type = "decimal", unit = "min", lo = 0.1, hi = 60, soft_lo = 4, soft_hi = 11}
flow_ml_min = {type = "calculated", calc = "(cup_after_g - cup_before_g) / minutes"}
note = {type = "text", show_if = "minutes > 11"}

[forms.adverse_events]
title = "Adverse events"
key = ["subject", "ae_id"]

[[forms.adverse_events.checks]]
expr = "grade < 3 or not blank(serious)"
message = "grade 3 or more needs the seriousness"
level = "warning"

[forms.adverse_events.fields]
subject = {type = "text", required = true}
ae_id = {type = "integer", required = true, lo = 1}
onset = {type = "date"}
grade = {type = "integer", lo = 1, hi = 5}
serious = {type = "yesno"}
criteria = {type = "checkbox", choices = {"1" = "death", "2" = "hospital"}, show_if = "serious"}
"""


def line_of(text: str, snippet: str) -> int:
    """The 1-based line of the first occurrence of ``snippet`` in ``text``."""
    return text[: text.index(snippet)].count("\n") + 1


def load_text(tmp: Path, text: str, name: str = "study.toml") -> StudyDefinition:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return load_study(path)


def problems(tmp: Path, text: str, name: str = "study.toml") -> list[Problem]:
    """The problems of a definition that must be rejected."""
    try:
        load_text(tmp, text, name)
    except StudyDefinitionError as exc:
        assert exc.problems
        return exc.problems
    raise AssertionError("the definition was accepted")


def the_problem(found: list[Problem], key: str, rule: str = "") -> Problem:
    """The one problem at key path ``key`` (whose rule contains ``rule``)."""
    at = [p for p in found if p.column == key and rule in p.rule]
    assert len(at) == 1, [str(p) for p in found]
    return at[0]
