"""Every rule of the checker, each on a broken copy of a good definition: the problem names
the file, the line and the key path; all problems are reported together."""

from __future__ import annotations

from pathlib import Path

import pytest

from xerotrial.errors import DataValidationError
from xerotrial.study.check import StudyDefinitionError, describe

from .definitions import GOOD, line_of, load_text, problems, the_problem


def test_the_good_definition_loads(tmp_path: Path) -> None:
    d = load_text(tmp_path, GOOD)
    assert d.summary() == "study P2 version 1: 3 forms, 15 fields, 2 visits"
    assert [a.ratio for a in d.allocation.arms] == [2, 1]
    assert d.allocation.stratify == ("participants.sex",)
    assert d.schedule.due["sialometry"] == ("baseline", "month1")
    assert d.schedule.repeating == ("adverse_events",) and d.schedule.unscheduled
    cup = d.form("sialometry").field("cup_before_g")
    assert (cup.type, cup.precision, cup.lo, cup.soft_hi, cup.unit) == ("decimal", 2, 0, 50, "g")
    assert dict(d.form("participants").field("sex").choices) == {"F": "female", "M": "male"}
    ae = d.form("adverse_events")
    assert ae.checks[0].level == "warning" and ae.field("criteria").show_if == "serious"
    assert d.visit("month1").on_time == (25, 35) and d.visit("baseline").baseline


# (old text, new text, key path, snippet on the problem's line, words of the rule)
BROKEN = [
    pytest.param(
        'cup_after_g = {type = "decimal"',
        'cup_after_g = {type = "decmal"',
        "forms.sialometry.fields.cup_after_g.type",
        "cup_after_g =",
        "unknown type 'decmal' (did you mean 'decimal'?)",
        id="unknown-type",
    ),
    pytest.param(
        'precision = 2, unit = "g", lo = 0, soft_hi',
        'precison = 2, unit = "g", lo = 0, soft_hi',
        "forms.sialometry.fields.cup_before_g.precison",
        "cup_before_g =",
        "unknown key 'precison' (did you mean 'precision'?)",
        id="unknown-field-key",
    ),
    pytest.param(
        "[visits.month1]\nlabel",
        "[visits.month1]\nlable",
        "visits.month1.lable",
        "lable",
        "unknown key 'lable' (did you mean 'label'?)",
        id="unknown-visit-key",
    ),
    pytest.param(
        'sponsor = "A',
        'sponser = "A',
        "study.sponser",
        "sponser",
        "unknown key 'sponser'",
        id="unknown-study-key",
    ),
    pytest.param(
        'version = "1"',
        'version = "1"\nvesion = "2"',
        "vesion",
        "vesion",
        "unknown key 'vesion' (did you mean 'version'?)",
        id="unknown-top-key",
    ),
    pytest.param(
        'sialometry = ["baseline", "month1"]',
        'sialometry = ["baseline", "month2"]',
        "schedule.due.sialometry.1",
        'sialometry = ["baseline"',
        "form 'sialometry' is due at visit 'month2', which does not exist (did you mean 'month1'?)",
        id="due-at-unknown-visit",
    ),
    pytest.param(
        'sialometry = ["baseline", "month1"]',
        'sialometry = ["baseline", "month1"]\nsaliva = ["baseline"]',
        "schedule.due.saliva",
        "saliva =",
        "form 'saliva' is not defined",
        id="due-unknown-form",
    ),
    pytest.param(
        'repeating = ["adverse_events"]',
        'repeating = ["adverse_event"]',
        "schedule.repeating.0",
        "repeating =",
        "form 'adverse_event' is not defined",
        id="repeating-unknown-form",
    ),
    pytest.param(
        'sialometry = ["baseline", "month1"]',
        'sialometry = ["baseline", "month1", "baseline"]',
        "schedule.due.sialometry.2",
        "sialometry = [",
        "duplicate visit 'baseline'",
        id="duplicate-scheduled-visit",
    ),
    pytest.param(
        'note = {type = "text"',
        'Cup_After_G = {type = "text"',
        "forms.sialometry.fields.Cup_After_G",
        "Cup_After_G =",
        "duplicate field 'Cup_After_G' (already given as 'cup_after_g')",
        id="duplicate-field-case",
    ),
    pytest.param(
        "[allocation.arms.placebo]",
        "[allocation.arms.Active]",
        "allocation.arms.Active",
        "[allocation.arms.Active]",
        "duplicate arm 'Active'",
        id="duplicate-arm-case",
    ),
    pytest.param(
        "[study.sites.cph]",
        "[study.sites.CPH]\n[study.sites.cph]",
        "study.sites.cph",
        "[study.sites.cph]",
        "duplicate site 'cph' (already given as 'CPH')",
        id="duplicate-site-case",
    ),
    pytest.param(
        'key = ["subject", "visit"]',
        'key = ["subject", "visit", "subject"]',
        "forms.sialometry.key.2",
        'key = ["subject", "visit"',
        "duplicate key field 'subject'",
        id="duplicate-key-field",
    ),
    pytest.param(
        'key = ["subject", "visit"]',
        'key = ["subject", "vist"]',
        "forms.sialometry.key.1",
        'key = ["subject", "vist"',
        "key field 'vist' is not a field of the form",
        id="key-unknown-field",
    ),
    pytest.param(
        'onset = {type = "date"}',
        'onset = {type = "date", lo = 0}',
        "forms.adverse_events.fields.onset.lo",
        "onset =",
        "a date field takes no limit (lo)",
        id="limit-on-date",
    ),
    pytest.param(
        'subject = {type = "text", required = true, sdtm',
        'subject = {type = "text", required = true, hi = 9, sdtm',
        "forms.participants.fields.subject.hi",
        'subject = {type = "text", required = true, hi',
        "a text field takes no limit (hi)",
        id="limit-on-text",
    ),
    pytest.param(
        'grade = {type = "integer", lo = 1, hi = 5}',
        'grade = {type = "integer", lo = 5, hi = 1}',
        "forms.adverse_events.fields.grade.lo",
        "grade =",
        "lo 5 is above hi 1",
        id="lo-above-hi",
    ),
    pytest.param(
        "soft_lo = 4, soft_hi = 11",
        "soft_lo = 12, soft_hi = 11",
        "forms.sialometry.fields.minutes.soft_lo",
        "minutes =",
        "soft_lo 12 is above soft_hi 11",
        id="soft-lo-above-soft-hi",
    ),
    pytest.param(
        "soft_lo = 4, soft_hi = 11",
        "soft_lo = 4, soft_hi = 90",
        "forms.sialometry.fields.minutes.soft_hi",
        "minutes =",
        "soft_hi 90 is outside the hard limits [0.1, 60]",
        id="soft-outside-hard",
    ),
    pytest.param(
        'sex = {type = "choice", required = true, choices = {F = "female", M = "male"}}',
        'sex = {type = "choice", required = true}',
        "forms.participants.fields.sex",
        "sex =",
        "a choice field needs choices",
        id="choice-without-choices",
    ),
    pytest.param(
        'criteria = {type = "checkbox", choices = {"1" = "death", "2" = "hospital"}',
        'criteria = {type = "checkbox"',
        "forms.adverse_events.fields.criteria",
        "criteria =",
        "a checkbox field needs choices",
        id="checkbox-without-choices",
    ),
    pytest.param(
        'serious = {type = "yesno"}',
        'serious = {type = "yesno", choices = ["y", "n"]}',
        "forms.adverse_events.fields.serious.choices",
        "serious =",
        "a yesno field takes no choices",
        id="choices-on-yesno",
    ),
    pytest.param(
        'calc = "(cup_after_g - cup_before_g) / minutes"',
        'calc = "(cup_after_g - cup_before_g) / minute"',
        "forms.sialometry.fields.flow_ml_min.calc",
        "flow_ml_min =",
        "names an unknown field 'minute' (did you mean 'minutes'?)",
        id="calc-unknown-field",
    ),
    pytest.param(
        'calc = "(cup_after_g - cup_before_g) / minutes"',
        'calc = "(cup_after_g - cup_before_g) ** minutes"',
        "forms.sialometry.fields.flow_ml_min.calc",
        "flow_ml_min =",
        "does not parse: at column 0",
        id="calc-does-not-parse",
    ),
    pytest.param(
        'flow_ml_min = {type = "calculated", calc = "(cup_after_g - cup_before_g) / minutes"}',
        'flow_ml_min = {type = "calculated"}',
        "forms.sialometry.fields.flow_ml_min",
        "flow_ml_min =",
        "a calculated field needs calc",
        id="calculated-without-calc",
    ),
    pytest.param(
        'show_if = "minutes > 11"',
        'show_if = "minutes >> 11"',
        "forms.sialometry.fields.note.show_if",
        "note =",
        "show_if 'minutes >> 11' does not parse",
        id="show-if-does-not-parse",
    ),
    pytest.param(
        'show_if = "serious"',
        'show_if = "seriuos"',
        "forms.adverse_events.fields.criteria.show_if",
        "criteria =",
        "names an unknown field 'seriuos' (did you mean 'serious'?)",
        id="show-if-unknown-field",
    ),
    pytest.param(
        'expr = "cup_after_g >= cup_before_g"',
        'expr = "cup_after_g >= cup_before"',
        "forms.sialometry.checks.0.expr",
        "{expr =",
        "check 'cup_after_g >= cup_before' names an unknown field 'cup_before'",
        id="check-unknown-field",
    ),
    pytest.param(
        'expr = "grade < 3 or not blank(serious)"',
        'expr = "grade < 3 or not exists(serious)"',
        "forms.adverse_events.checks.0.expr",
        'expr = "grade',
        "only the functions blank, days, ticked may be called",
        id="check-does-not-parse",
    ),
    pytest.param(
        'sex = {type = "choice", required = true, choices = {F = "female", M = "male"}}',
        'sex = {type = "choice", required = true, choices = {F = "female", M = "male"}}\n'
        'pregnant = {type = "yesno", show_if = "sex == \'W\'"}',
        "forms.participants.fields.pregnant.show_if",
        "pregnant =",
        "'W' is not a code of sex (one of F, M)",
        id="show-if-unknown-choice-code",
    ),
    pytest.param(
        'show_if = "serious"',
        "show_if = \"serious == 'yes'\"",
        "forms.adverse_events.fields.criteria.show_if",
        "criteria =",
        "serious is yes/no (True or False): it is never 'yes'",
        id="yesno-compared-with-text",
    ),
    pytest.param(
        'show_if = "minutes > 11"',
        "show_if = \"minutes > '11'\"",
        "forms.sialometry.fields.note.show_if",
        "note =",
        "minutes is a number: it is never '11'",
        id="number-compared-with-text",
    ),
    pytest.param(
        'expr = "grade < 3 or not blank(serious)"',
        "expr = \"grade < 3 or onset > '2024-01-01'\"",
        "forms.adverse_events.checks.0.expr",
        'expr = "grade',
        "onset is a date: compare dates through days(a, b)",
        id="date-compared-with-literal",
    ),
    pytest.param(
        'level = "warning"',
        'level = "warn"',
        "forms.adverse_events.checks.0.level",
        'level = "warn"',
        "level must be one of error, warning",
        id="check-level",
    ),
    pytest.param(
        "window = [20, 40]",
        "window = [0, 40]",
        "visits.month1.window",
        "window = [0, 40]",
        "window [0, 40] of visit 'month1' overlaps the window [-14, 0] of visit 'baseline'",
        id="overlapping-windows",
    ),
    pytest.param(
        "day = 30",
        "day = 45",
        "visits.month1.day",
        "day = 45",
        "target day 45 is outside the window [20, 40]",
        id="target-outside-window",
    ),
    pytest.param(
        "on_time = [25, 35]",
        "on_time = [15, 35]",
        "visits.month1.on_time",
        "on_time =",
        "on-time window [15, 35] is not inside the window [20, 40]",
        id="on-time-outside-window",
    ),
    pytest.param(
        "window = [20, 40]",
        "window = [40, 20]",
        "visits.month1.window",
        "window = [40, 20]",
        "lower 40 is above upper 20",
        id="window-reversed",
    ),
    pytest.param(
        "window = [20, 40]",
        'window = "20-40"',
        "visits.month1.window",
        'window = "20',
        "must be a pair of whole numbers [lower, upper]",
        id="window-type",
    ),
    pytest.param(
        'method = "block"',
        'method = "blocks"',
        "allocation.method",
        'method = "blocks"',
        "unknown allocation method 'blocks'",
        id="allocation-method",
    ),
    pytest.param(
        'stratify = ["participants.sex"]',
        'stratify = ["participants.gender"]',
        "allocation.stratify.0",
        "stratify =",
        "stratification factor 'participants.gender' names no field",
        id="stratify-unknown-field",
    ),
    pytest.param(
        "ratio = 2",
        "ratio = 0",
        "allocation.arms.active.ratio",
        "ratio = 0",
        "ratio must be at least 1",
        id="arm-ratio",
    ),
    pytest.param(
        "ratio = 2",
        'ratio = "2"',
        "allocation.arms.active.ratio",
        'ratio = "2"',
        "must be a whole number, not '2'",
        id="value-type",
    ),
    pytest.param(
        'subject = {type = "text", required = true, sdtm = "DM.SUBJID"}',
        'subject = {type = "text", required = true, sdtm = "dm-subjid"}',
        "forms.participants.fields.subject.sdtm",
        'subject = {type = "text", required = true, sdtm = "dm',
        "must be DOMAIN.VARIABLE",
        id="sdtm-annotation",
    ),
    pytest.param(
        'serious = {type = "yesno"}',
        'serious = {type = "yesno", precision = 1}',
        "forms.adverse_events.fields.serious.precision",
        "serious =",
        "a yesno field takes no precision",
        id="precision-on-yesno",
    ),
    pytest.param(
        'note = {type = "text"',
        'Note = {type = "text"',
        "forms.sialometry.fields.Note",
        "Note =",
        "field name 'Note' must be lower case",
        id="field-name",
    ),
    pytest.param(
        'label = "1 month"\n',
        'label = "1 month"\narms = ["active", "verum"]\n',
        "visits.month1.arms.1",
        "arms = [",
        "unknown arm 'verum' (the arms: active, placebo)",
        id="visit-unknown-arm",
    ),
    pytest.param(
        "day = 30\n",
        "",
        "visits.month1.window",
        "window = [20, 40]",
        "a window needs a target day",
        id="window-without-day",
    ),
    pytest.param(
        'note = {type = "text", show_if',
        'note = {type = "text", validation = "e-mail", show_if',
        "forms.sialometry.fields.note.validation",
        "note =",
        "unknown validation 'e-mail' (did you mean 'email'?)",
        id="unknown-validation",
    ),
    pytest.param(
        'onset = {type = "date"}',
        'onset = {type = "date", validation = "email"}',
        "forms.adverse_events.fields.onset.validation",
        "onset =",
        "a date field takes no validation (a text rule)",
        id="validation-on-a-date",
    ),
    pytest.param(
        'onset = {type = "date"}',
        'onset = {type = "date", redcap = {section_heder = "AE"}}',
        "forms.adverse_events.fields.onset.redcap.section_heder",
        "onset =",
        "unknown key 'section_heder' (did you mean 'section_header'?)",
        id="unknown-redcap-key",
    ),
    pytest.param(
        'onset = {type = "date"}',
        'onset = {type = "date", redcap = {field_type = "dropdown"}}',
        "forms.adverse_events.fields.onset.redcap.field_type",
        "onset =",
        "a date field cannot be the REDCap field type 'dropdown'",
        id="redcap-field-type-of-another-type",
    ),
    pytest.param(
        'onset = {type = "date"}',
        'onset = {type = "date", redcap = {validation = "number_1dp"}}',
        "forms.adverse_events.fields.onset.redcap.validation",
        "onset =",
        "'number_1dp' is not a REDCap validation type of a date field",
        id="redcap-validation-of-another-type",
    ),
    pytest.param(
        'onset = {type = "date"}',
        'onset = {type = "descriptive", required = true}',
        "forms.adverse_events.fields.onset.required",
        "onset =",
        "a descriptive field holds no data: never required",
        id="descriptive-required",
    ),
    pytest.param(
        'sponsor = "A',
        'subject_field = "Record ID"\nsponsor = "A',
        "study.subject_field",
        "subject_field",
        "subject field name 'Record ID' must be lower case",
        id="subject-field-name",
    ),
    pytest.param(
        'title = "Sialometry"\n',
        "",
        "forms.sialometry.title",
        "[forms.sialometry]",
        "'title' is required",
        id="required-key",
    ),
]


@pytest.mark.parametrize(("old", "new", "key", "snippet", "rule"), BROKEN)
def test_each_rule_names_the_file_line_and_key(
    tmp_path: Path, old: str, new: str, key: str, snippet: str, rule: str
) -> None:
    assert old in GOOD, old
    text = GOOD.replace(old, new, 1)
    p = the_problem(problems(tmp_path, text), key, rule)
    assert p.file == str(tmp_path / "study.toml")
    assert p.line == line_of(text, snippet), str(p)
    assert rule in p.rule, str(p)


def test_every_problem_is_reported_in_one_error(tmp_path: Path) -> None:
    text = (
        GOOD.replace('type = "decimal", precision = 2, unit = "g", lo = 0}', 'type = "decmal"}')
        .replace("day = 30", "day = 45")
        .replace('sialometry = ["baseline", "month1"]', 'sialometry = ["baseline", "m1"]')
        .replace('show_if = "serious"', 'show_if = "serius"')
    )
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(DataValidationError) as info:
        load_text(tmp_path, text, "s.toml")
    exc = info.value
    assert isinstance(exc, StudyDefinitionError) and exc.file == str(path)
    assert [p.column for p in exc.problems] == [
        "forms.sialometry.fields.cup_after_g.type",
        "forms.adverse_events.fields.criteria.show_if",
        "visits.month1.day",
        "schedule.due.sialometry.1",
    ]
    assert str(exc).splitlines()[0] == f"{path}: 4 problems in the study definition:"
    assert f"  {path}: line {line_of(text, 'day = 45')}: visits.month1.day: target day 45" in str(
        exc
    )


def test_toml_syntax_and_duplicate_tables_are_located(tmp_path: Path) -> None:
    text = GOOD + "\n[forms.sialometry]\ntitle = 'again'\n"
    (p,) = problems(tmp_path, text)
    assert p.line == text.count("\n") - 1 and p.rule.startswith("not TOML: "), str(p)
    (p,) = problems(tmp_path, GOOD.replace("day = 30", "day = = 30"))
    assert p.line == line_of(GOOD, "day = 30") and p.rule.startswith("not TOML"), str(p)


def test_a_table_where_a_value_is_expected_and_missing_sections(tmp_path: Path) -> None:
    found = problems(tmp_path, 'version = "1"\nforms = 3\n')
    assert [(p.column, p.line) for p in found] == [
        ("study", None),
        ("forms", 2),
    ], [str(p) for p in found]
    found = problems(tmp_path, 'version = "1"\n[study]\nid = "x"\ntitle = "y"\n')
    assert [describe(p) for p in found] == [
        f"{tmp_path / 'study.toml'}: forms: the [forms] table is required"
    ]


def test_a_form_without_fields(tmp_path: Path) -> None:
    text = GOOD + '\n[forms.empty]\ntitle = "Empty"\nkey = []\n'
    p = the_problem(problems(tmp_path, text), "forms.empty")
    assert p.rule == "a form needs fields" and p.line == line_of(text, "[forms.empty]")


def test_several_arms_need_a_method_and_a_method_needs_arms(tmp_path: Path) -> None:
    p = the_problem(problems(tmp_path, GOOD.replace('"block"', '"none"')), "allocation.method")
    assert p.rule == "several arms need an allocation method"
    text = GOOD.replace("[allocation.arms.placebo]\nratio = 1\n", "")
    p = the_problem(problems(tmp_path, text), "allocation.arms")
    assert p.rule == "allocation method 'block' needs at least 2 arms"


def test_visits_without_days_by_arm_and_forms_without_a_key(tmp_path: Path) -> None:
    text = (
        GOOD.replace('key = ["subject", "ae_id"]\n', "")
        .replace("[visits.month1]", '[visits.call]\narms = ["placebo"]\n\n[visits.month1]')
        .replace('sponsor = "A', 'subject_field = "record_id"\nsponsor = "A')
        .replace(
            'onset = {type = "date"}',
            'onset = {type = "date", redcap = {validation = "date_dmy", identifier = "y"}}\n'
            'intro = {type = "descriptive", label = "Ask about the last week"}\n'
            'mail = {type = "text", validation = "email"}',
        )
    )
    d = load_text(tmp_path, text)
    call = d.visit("call")
    assert (call.day, call.window, call.on_time, call.arms) == (None, None, None, ("placebo",))
    ae = d.form("adverse_events")
    assert ae.key == () and d.study.subject_field == "record_id"
    assert dict(ae.field("onset").redcap) == {"validation": "date_dmy", "identifier": "y"}
    assert not ae.field("intro").holds_data and ae.field("mail").validation == "email"
    assert load_text(tmp_path, GOOD).study.subject_field == "subject"


def test_a_calculated_field_may_keep_its_redcap_calculation(tmp_path: Path) -> None:
    text = GOOD.replace(
        'flow_ml_min = {type = "calculated", calc = "(cup_after_g - cup_before_g) / minutes"}',
        'flow_ml_min = {type = "calculated", redcap = {calculation = "round([minutes], 1)"}}',
    )
    f = load_text(tmp_path, text).form("sialometry").field("flow_ml_min")
    assert f.calc is None and f.redcap["calculation"] == "round([minutes], 1)"


@pytest.mark.parametrize(
    ("show_if", "rule"),
    [
        ("ticked(serious, '1')", "ticked() takes a checkbox field first"),
        ("ticked(criteria, '9')", "'9' is not a code of criteria"),
    ],
)
def test_ticked_takes_a_checkbox_and_one_of_its_codes(
    tmp_path: Path, show_if: str, rule: str
) -> None:
    text = GOOD.replace(
        "[forms.adverse_events.fields]",
        f'[forms.adverse_events.fields]\nremark = {{type = "text", show_if = "{show_if}"}}',
    )
    the_problem(problems(tmp_path, text), "forms.adverse_events.fields.remark.show_if", rule)
