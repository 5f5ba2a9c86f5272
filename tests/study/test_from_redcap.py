"""``xerotrial study from-redcap``: a REDCap project as a study definition and back, exactly.

The references are REDCap's own: the header line is the one REDCap's "Download the data
dictionary" writes (quoted as PHP's fputcsv quotes), the validation names are those of
REDCap's list, and the synthetic project in tests/data/redcap_project is checked cell by cell
against its dictionary's rules and REDCap's raw export layout."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from xerotrial.cli import app
from xerotrial.study import load_study
from xerotrial.study.expressions import parse_expression
from xerotrial.study.from_redcap import RedcapInputError, from_redcap, translate_logic
from xerotrial.study.redcap import (
    COLUMNS,
    record_columns,
    to_event_mapping,
    to_redcap,
    write_dictionary,
    write_event_mapping,
)
from xerotrial.study.toml_write import to_toml
from xerotrial.study.validation import TEXT_RULES, VALIDATIONS, text_problem

PROJECT = Path(__file__).parents[1] / "data" / "redcap_project"
DICTIONARY = PROJECT / "dictionary.csv"
MAPPING = PROJECT / "instrument_event_mapping.csv"
RECORDS = PROJECT / "records.csv"
runner = CliRunner()

#: The header of a dictionary downloaded from REDCap (as REDCap writes it).
REDCAP_HEADER = (
    '"Variable / Field Name","Form Name","Section Header","Field Type","Field Label",'
    '"Choices, Calculations, OR Slider Labels","Field Note",'
    '"Text Validation Type OR Show Slider Number","Text Validation Min","Text Validation Max",'
    'Identifier?,"Branching Logic (Show field only if...)","Required Field?","Custom Alignment",'
    '"Question Number (surveys only)","Matrix Group Name","Matrix Ranking?","Field Annotation"'
)
_SHORT = {
    "name": "Variable / Field Name",
    "form": "Form Name",
    "section": "Section Header",
    "type": "Field Type",
    "label": "Field Label",
    "choices": "Choices, Calculations, OR Slider Labels",
    "note": "Field Note",
    "val": "Text Validation Type OR Show Slider Number",
    "min": "Text Validation Min",
    "max": "Text Validation Max",
    "ident": "Identifier?",
    "branch": "Branching Logic (Show field only if...)",
    "req": "Required Field?",
    "ann": "Field Annotation",
}


def _row(**kw: str) -> dict[str, str]:
    row = dict.fromkeys(COLUMNS, "")
    row.update({"Form Name": "f", "Field Type": "text"})
    row.update({_SHORT[k]: v for k, v in kw.items()})
    row.setdefault("Field Label", "")
    row["Field Label"] = row["Field Label"] or row["Variable / Field Name"].title()
    return row


def dictionary(*rows: dict[str, str]) -> str:
    """A dictionary of form ``f``: record_id, then ``rows``."""
    return write_dictionary([_row(name="record_id", label="Record ID"), *rows])


def one_field(**kw: str):
    t = from_redcap(dictionary(_row(name="x", **kw)), "dd.csv")
    return t.study.form("f").field("x"), t


def run(*args: str):
    return runner.invoke(app, list(args))


# -- the exact round trip ----------------------------------------------------------------------


def test_the_project_round_trips_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "study.toml"
    res = run(
        "study", "from-redcap", str(DICTIONARY), "--events", str(MAPPING),
        "--repeating", "adverse_events", "-o", str(out),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"{out}: study study version 1: 4 forms, 35 fields, 4 visits" in res.output
    assert run("study", "check", str(out)).exit_code == 0
    dd, ev = tmp_path / "dd.csv", tmp_path / "events.csv"
    res = run("study", "export", str(out), "--format", "redcap", "-o", str(dd), "--events", str(ev))
    assert res.exit_code == 0, res.output
    assert dd.read_bytes() == DICTIONARY.read_bytes()
    assert ev.read_bytes() == MAPPING.read_bytes()
    assert DICTIONARY.read_text().splitlines()[0] == REDCAP_HEADER


def test_the_definition_of_the_project() -> None:
    t = from_redcap(
        DICTIONARY.read_text(), str(DICTIONARY), MAPPING.read_text(), str(MAPPING),
        ["adverse_events"], "demo",
    )  # fmt: skip
    d = t.study
    assert d.study.subject_field == "record_id"
    assert [a.name for a in d.allocation.arms] == ["arm_1", "arm_2"]
    assert d.allocation.method == "simple"
    assert [(v.name, v.day, v.window, v.arms) for v in d.visits] == [
        ("baseline", None, None, ()),
        ("month_1", None, None, ()),
        ("month_4", None, None, ()),
        ("follow_up", None, None, ("arm_2",)),
    ]
    assert dict(d.schedule.due) == {
        "enrolment": ("baseline",),
        "visit": ("baseline", "month_1", "month_4", "follow_up"),
        "adverse_events": ("month_1", "month_4", "follow_up"),
        "study_completion": ("month_4",),
    }
    assert d.schedule.repeating == ("adverse_events",)
    assert all(f.key == () for f in d.forms)
    enrol, visit, ae = d.form("enrolment"), d.form("visit"), d.form("adverse_events")
    assert enrol.field("pregnant").show_if == "sex == '1'"
    assert enrol.field("bmi").calc == "weight_kg / (height_cm / 100 * (height_cm / 100))"
    assert (
        enrol.field("age").calc is None and "rounddown" in enrol.field("age").redcap["calculation"]
    )
    assert ae.field("ae_days").calc == "days(ae_onset, ae_stop)"
    assert ae.field("ae_sae_criteria").show_if == "ae_serious"
    assert d.form("study_completion").field("withdrawal_reason").show_if == "not completed"
    assert visit.field("symptoms_other_text").show_if == "ticked(symptoms_other, '99')"
    assert not visit.field("visit_intro").holds_data
    assert dict(visit.field("dry_mouth").redcap) == {
        "matrix_group": "symptoms",
        "matrix_ranking": "y",
    }
    assert dict(visit.field("visit_intro").redcap) == {
        "section_header": "Symptoms in the last week"
    }
    assert dict(enrol.field("dob").redcap) == {
        "section_header": "Demographics",
        "identifier": "y",
        "validation": "date_dmy",
    }
    assert visit.field("saliva_ml").soft_hi == 10 and visit.field("saliva_ml").hi == 20


def test_the_definition_file_loads_back_equal(tmp_path: Path) -> None:
    t = from_redcap(
        DICTIONARY.read_text(), "dd.csv", MAPPING.read_text(), "ev.csv", ["adverse_events"]
    )
    path = tmp_path / "s.toml"
    path.write_text(to_toml(t.study), encoding="utf-8")
    back = load_study(path)
    assert back == t.study
    assert write_dictionary(to_redcap(back)) == DICTIONARY.read_text()
    assert write_event_mapping(to_event_mapping(back)) == MAPPING.read_text()


# -- each field type and validation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "want"),
    [
        ({}, ("text", None, None, {})),
        ({"type": "notes"}, ("text", None, None, {"field_type": "notes"})),
        ({"val": "integer"}, ("integer", None, None, {})),
        ({"val": "number"}, ("decimal", None, None, {})),
        ({"val": "number_1dp"}, ("decimal", 1, None, {})),
        ({"val": "number_4dp"}, ("decimal", 4, None, {})),
        (
            {"val": "number_2dp_comma_decimal"},
            ("decimal", 2, None, {"validation": "number_2dp_comma_decimal"}),
        ),
        ({"val": "date_ymd"}, ("date", None, None, {})),
        ({"val": "date_dmy"}, ("date", None, None, {"validation": "date_dmy"})),
        ({"val": "date_mdy"}, ("date", None, None, {"validation": "date_mdy"})),
        ({"val": "datetime_ymd"}, ("datetime", None, None, {})),
        (
            {"val": "datetime_seconds_dmy"},
            ("datetime", None, None, {"validation": "datetime_seconds_dmy"}),
        ),
        ({"val": "email"}, ("text", None, "email", {})),
        ({"val": "time"}, ("text", None, "time", {})),
        ({"val": "zipcode"}, ("text", None, "zipcode", {})),
        ({"type": "radio", "choices": "1, A | 2, B"}, ("choice", None, None, {})),
        (
            {"type": "dropdown", "choices": "1, A | 2, B"},
            ("choice", None, None, {"field_type": "dropdown"}),
        ),
        ({"type": "checkbox", "choices": "1, A | 2, B"}, ("checkbox", None, None, {})),
        ({"type": "yesno"}, ("yesno", None, None, {})),
        ({"type": "truefalse"}, ("yesno", None, None, {"field_type": "truefalse"})),
        ({"type": "descriptive"}, ("descriptive", None, None, {})),
        (
            {"type": "slider", "choices": "Low | | High", "val": "number"},
            (
                "integer",
                None,
                None,
                {"field_type": "slider", "slider_labels": "Low | | High", "validation": "number"},
            ),
        ),
        ({"type": "file"}, ("text", None, None, {"field_type": "file"})),
        (
            {"type": "file", "val": "signature"},
            ("text", None, None, {"field_type": "file", "validation": "signature"}),
        ),
        (
            {"type": "sql", "choices": "select value from t"},
            ("text", None, None, {"field_type": "sql", "choices": "select value from t"}),
        ),
        (
            {"type": "calc", "choices": "[record_id] * 2"},
            ("calculated", None, None, {}),
        ),
        (
            {"ident": "y", "section": "Part 2", "ann": "@HIDDEN"},
            (
                "text",
                None,
                None,
                {"identifier": "y", "section_header": "Part 2", "annotation": "@HIDDEN"},
            ),
        ),
    ],
)
def test_each_field_type_and_validation(cells: dict, want: tuple) -> None:
    f, t = one_field(**cells)
    assert (f.type, f.precision, f.validation, dict(f.redcap)) == want
    assert write_dictionary(to_redcap(t.study)) == dictionary(_row(name="x", **cells))


def test_every_validation_name_of_redcap_is_known_and_round_trips() -> None:
    names = [
        "date_dmy", "date_mdy", "date_ymd", "datetime_dmy", "datetime_mdy", "datetime_ymd",
        "datetime_seconds_dmy", "datetime_seconds_mdy", "datetime_seconds_ymd", "time",
        "time_hh_mm_ss", "time_mm_ss", "integer", "number", "number_1dp", "number_2dp",
        "number_3dp", "number_4dp", "number_comma_decimal", "number_1dp_comma_decimal",
        "number_2dp_comma_decimal", "number_3dp_comma_decimal", "number_4dp_comma_decimal",
        "alpha_only", "email", "phone", "phone_australia", "postalcode_australia",
        "postalcode_canada", "postalcode_french", "postalcode_germany", "ssn", "vmrn", "zipcode",
        "mrn_10d", "mrn_generic",
    ]  # fmt: skip
    assert set(names) | {"signature"} == set(VALIDATIONS)
    for name in names:
        f, t = one_field(val=name)
        assert f.type == VALIDATIONS[name].type, name
        assert write_dictionary(to_redcap(t.study)) == dictionary(_row(name="x", val=name)), name


@pytest.mark.parametrize(
    ("cells", "limits"),
    [
        ({"val": "integer", "min": "1", "max": "5", "ann": "@FORCE-MINMAX"}, (1, 5, None, None)),
        ({"val": "integer", "min": "1", "max": "5"}, (None, None, 1, 5)),
        ({"val": "number", "min": "0.5"}, (None, None, 0.5, None)),
        (
            {"val": "number", "min": "0", "max": "20", "ann": "@FORCE-MINMAX soft_hi=10 @HIDDEN"},
            (0, 20, None, 10),
        ),
        ({"val": "number", "min": "5.0", "ann": "@HIDDEN @FORCE-MINMAX"}, (5, None, None, None)),
        ({"type": "slider"}, (0, 100, None, None)),
        ({"type": "slider", "min": "-10", "max": "10"}, (-10, 10, None, None)),
        ({"type": "slider", "min": "0", "max": "100"}, (0, 100, None, None)),
        ({"type": "slider", "max": "50"}, (0, 50, None, None)),
        ({"type": "slider", "val": "integer"}, (0, 100, None, None)),
        ({"type": "slider", "min": "0", "max": "100.0"}, (0, 100, None, None)),
    ],
)
def test_hard_limits_with_force_minmax_else_soft(cells: dict, limits: tuple) -> None:
    f, t = one_field(**cells)
    assert (f.lo, f.hi, f.soft_lo, f.soft_hi) == limits
    assert write_dictionary(to_redcap(t.study)) == dictionary(_row(name="x", **cells))


@pytest.mark.parametrize(
    "spec", ["1, Yes, often | 2, No", "1,Yes, often|2,No", "a, Yes, often | b, No"]
)
def test_required_and_choices_with_commas_in_labels(spec: str) -> None:
    f, t = one_field(type="radio", choices=spec, req="y")
    assert f.required and list(f.choices.values()) == ["Yes, often", "No"]
    assert write_dictionary(to_redcap(t.study)) == dictionary(
        _row(name="x", type="radio", choices=spec, req="y")
    )
    assert t.notes[-1].startswith("sites:")  # nothing listed as written back otherwise


@pytest.mark.parametrize(
    ("logic", "expr"),
    [
        ("[a] = '1'", "a == '1'"),
        ("[n] >= 3 and [n] < 10", "n >= 3 and n < 10"),
        ("[yn] = '1'", "yn"),
        ("[yn] = '0'", "not yn"),
        ("[a] = 1", "a == '1'"),
        ("[a] <> ''", "not blank(a)"),
        ('datediff([d1], [d2], "d", true) > 7', "days(d1, d2) > 7"),
        ("[n] = '5'", "n == 5"),
        ("[n] > '2.5'", "n > 2.5"),
        ("[a(1)] = '1'", None),
        ("[other_form] = '1'", None),
        ("[event-name] = 'baseline_arm_1'", None),
        ("[n] > 1 AND [n] < 3", "n > 1 and n < 3"),
        ("[t] = 'AND' Or [n] = 2", "t == 'AND' or n == 2"),
    ],
)
def test_branching_logic_translated_where_it_can_be(logic: str, expr: str | None) -> None:
    from xerotrial.study.model import Field, Form

    form = Form(
        "f",
        "F",
        fields=(
            Field("a", "choice", choices={"1": "x", "2": "y"}),
            Field("n", "integer"),
            Field("yn", "yesno"),
            Field("d1", "date"),
            Field("d2", "date"),
            Field("t", "text"),
        ),
    )
    assert translate_logic(logic, form) == expr
    if expr is not None:
        parse_expression(expr)


def test_a_non_canonical_logic_is_translated_and_written_back_as_given() -> None:
    f, t = one_field(type="yesno", branch="[record_id]<>''")
    assert f.show_if == "not blank(record_id)"
    assert write_dictionary(to_redcap(t.study)) == dictionary(
        _row(name="x", type="yesno", branch="[record_id]<>''")
    )


# -- what cannot be translated is listed -------------------------------------------------------


def test_untranslated_items_are_listed(tmp_path: Path) -> None:
    dd = tmp_path / "dd.csv"
    dd.write_text(
        dictionary(
            _row(name="scan", type="file"),
            _row(name="site", type="sql", choices="select code from sites"),
            _row(name="y", form="g", type="yesno", branch="[record_id] <> ''"),
            _row(name="z", form="g", type="calc", choices="round([w] * 2, 1)"),
            _row(name="w", form="g", val="number"),
        )
    )
    ev = tmp_path / "ev.csv"
    ev.write_text(
        "arm_num,unique_event_name,form\n1,baseline_arm_1,f\n1,baseline_arm_1,g\n"
        "2,baseline_arm_2,f\n"
    )
    out = tmp_path / "s.toml"
    res = run("study", "from-redcap", str(dd), "--events", str(ev), "-o", str(out))
    assert res.exit_code == 0, res.output
    for words in [
        "field scan: a REDCap file field, kept as text",
        "field site: a REDCap sql field",
        "field y: branching logic kept as REDCap text",
        "field z: calculation kept as REDCap text",
        "form g is mapped to baseline in arm 1 but not in arm 2",
        "the definition declares none (name them with --repeating FORM)",
        "assumed simple randomization 1:1 to arm_1, arm_2",
        "visit days and windows",
        "data access groups",
    ]:
        assert words in res.output, words
    assert run("study", "check", str(out)).exit_code == 0


def test_a_descriptive_field_may_have_no_label_and_a_byte_order_mark_is_listed() -> None:
    text = dictionary(_row(name="x", type="descriptive", label=""))
    text = text.replace("x,f,,descriptive,X,", "x,f,,descriptive,,")
    t = from_redcap("\ufeff" + text, "dd.csv")
    assert t.study.form("f").field("x").label == ""
    assert write_dictionary(to_redcap(t.study)) == text
    assert "dd.csv: starts with a byte-order mark; the export writes none" in t.notes


@pytest.mark.parametrize(
    "args",
    [
        ["--repeating", "g", "h"],
        ["--repeating", "g", "--repeating", "h"],
        ["--repeating", "g,h"],
    ],
)
def test_several_repeating_forms(tmp_path: Path, args: list[str]) -> None:
    dd = tmp_path / "dd.csv"
    dd.write_text(dictionary(_row(name="a", form="g"), _row(name="b", form="h")))
    out = tmp_path / "s.toml"
    res = run("study", "from-redcap", str(dd), *args, "-o", str(out))
    assert res.exit_code == 0, res.output
    assert load_study(out).schedule.repeating == ("g", "h")
    bad = run("study", "from-redcap", str(dd), "g", "-o", str(out))
    assert bad.exit_code == 2 and "unexpected argument 'g'" in bad.output


def test_the_api_header_is_read_and_listed() -> None:
    from xerotrial.study.from_redcap import API_COLUMNS

    text = dictionary(_row(name="x", val="integer"))
    api = ",".join(API_COLUMNS) + "\n" + text.split("\n", 1)[1]
    t = from_redcap(api, "meta.csv")
    assert t.study.form("f").field("x").type == "integer"
    assert write_dictionary(to_redcap(t.study)) == text
    assert any("the header is that of REDCap's API" in n for n in t.notes)


def test_a_classic_project_has_no_visits() -> None:
    t = from_redcap(dictionary(_row(name="x", val="integer")), "dd.csv")
    assert t.study.visits == () and t.study.allocation.arms == ()


# -- bad input: exit 2, every problem with its file, row and column ----------------------------

_OK = dictionary(_row(name="x", val="integer"))


@pytest.mark.parametrize(
    ("dd", "events", "repeating", "want"),
    [
        (
            _OK.replace('"Field Note",', ""),
            None,
            (),
            "dd.csv: row 1: column Field Note: column missing",
        ),
        (
            dictionary(_row(name="x", type="textbox")),
            None,
            (),
            "dd.csv: row 3: column Field Type: unknown field type 'textbox'",
        ),
        (
            dictionary(_row(name="x", val="integr")),
            None,
            (),
            "dd.csv: row 3: column Text Validation Type OR Show Slider Number: unknown "
            "validation type 'integr'",
        ),
        (
            dictionary(_row(name="x", type="radio", choices="1, A | B")),
            None,
            (),
            "dd.csv: row 3: column Choices, Calculations, OR Slider Labels: choice 'B' is not "
            "'code, label'",
        ),
        (
            dictionary(_row(name="x", type="radio", choices="1, A | 1, B")),
            None,
            (),
            "choice code '1' is given twice",
        ),
        (
            dictionary(_row(name="x"), _row(name="x")),
            None,
            (),
            "dd.csv: row 4: column Variable / Field Name: duplicate field name 'x' (already on "
            "row 3)",
        ),
        (
            dictionary(_row(name="X1")),
            None,
            (),
            "dd.csv: row 3: column Variable / Field Name: field name 'X1' must be lower case",
        ),
        (
            dictionary(_row(name="x", val="integer", min="low")),
            None,
            (),
            "dd.csv: row 3: column Text Validation Min: 'low' is not a number",
        ),
        (
            dictionary(_row(name="x", req="yes")),
            None,
            (),
            "dd.csv: row 3: column Required Field?: must be one of '', 'y'",
        ),
        (
            dictionary(_row(name="x", val="email", min="1")),
            None,
            (),
            "dd.csv: row 3: column Text Validation Min: a text field with validation 'email' "
            "takes no min or max",
        ),
        (
            _OK,
            "arm_num,unique_event_name,form\n1,baseline_arm_1,f\n1,baseline_arm_1,visits\n",
            (),
            "ev.csv: row 3: column form: form 'visits' is not in the dictionary",
        ),
        (
            _OK,
            "arm_num,unique_event_name,form\n1,baseline_arm_2,f\n",
            (),
            "ev.csv: row 2: column unique_event_name: must be a unique event name ending _arm_1",
        ),
        (_OK, "arm,event,form\n", (), "ev.csv: row 1: column arm_num: column missing"),
        (_OK, None, ("ae",), "--repeating: form 'ae' is not in dd.csv"),
    ],
)
def test_bad_input_exits_2_naming_the_row_and_column(
    tmp_path: Path, dd: str, events: str | None, repeating: tuple, want: str
) -> None:
    (tmp_path / "dd.csv").write_text(dd)
    args = ["study", "from-redcap", "dd.csv"]
    if events is not None:
        (tmp_path / "ev.csv").write_text(events)
        args += ["--events", "ev.csv"]
    for form in repeating:
        args += ["--repeating", form]
    out = tmp_path / "s.toml"
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        res = runner.invoke(app, [*args, "-o", str(out)])
    finally:
        os.chdir(cwd)
    assert res.exit_code == 2, res.output
    assert want in res.output and "Traceback" not in res.output
    assert not out.exists()
    with pytest.raises(RedcapInputError):
        from_redcap(dd, "dd.csv", events, "ev.csv", repeating)


def test_a_form_whose_fields_are_all_bad_is_still_a_form() -> None:
    mapping = "arm_num,unique_event_name,form\n1,baseline_arm_1,f\n1,baseline_arm_1,g\n"
    with pytest.raises(RedcapInputError) as e:
        from_redcap(dictionary(_row(name="x", form="g", type="textbox")), "dd.csv", mapping)
    assert [(p.row, p.column) for p in e.value.problems] == [(3, "Field Type")]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(RedcapInputError) as e:
        from_redcap(
            dictionary(_row(name="x", type="textbox"), _row(name="y", val="nope")), "dd.csv"
        )
    assert [(p.row, p.column) for p in e.value.problems] == [
        (3, "Field Type"),
        (4, "Text Validation Type OR Show Slider Number"),
    ]


# -- the text rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "good", "bad"),
    [
        ("email", "a.b@example.org", "a.b@example"),
        ("phone", "615-322-2222", "115-322-2222"),
        ("time", "23:59", "24:00"),
        ("time_mm_ss", "59:59", "60:00"),
        ("time_hh_mm_ss", "12:30:05", "12:30"),
        ("zipcode", "37212-1234", "3721"),
        ("alpha_only", "Abc", "Ab c"),
        ("ssn", "123-45-6789", "123456789"),
        ("mrn_10d", "0123456789", "123"),
        ("postalcode_canada", "K1A 0B1", "K1A0B"),
        ("postalcode_australia", "3000", "300"),
    ],
)
def test_text_rules(rule: str, good: str, bad: str) -> None:
    assert text_problem(rule, good) is None and text_problem(rule, "") is None
    assert text_problem(rule, bad) == VALIDATIONS[rule].rule
    assert rule in TEXT_RULES


# -- the records export of the synthetic project -------------------------------------------------


def _records() -> tuple[list[str], list[dict[str, str]]]:
    with RECORDS.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def test_the_records_are_in_redcaps_raw_export_layout() -> None:
    t = from_redcap(
        DICTIONARY.read_text(), "dd.csv", MAPPING.read_text(), "ev.csv", ["adverse_events"]
    )
    d = t.study
    want = [d.study.subject_field, "redcap_event_name", "redcap_repeat_instrument",
            "redcap_repeat_instance", "redcap_data_access_group"]  # fmt: skip
    for form in d.forms:
        for f in form.fields:
            if f.name == d.study.subject_field or not f.holds_data:
                continue
            if f.type == "checkbox":
                want += [f"{f.name}___{c}" for c in f.choices]
            else:
                want.append(f.name)
        want.append(f"{form.name}_complete")
    assert record_columns(d) == want
    header, rows = _records()
    assert header == want
    mapping = {(e, f) for _, e, f in to_event_mapping(d)}
    arms: dict[str, str] = {}
    instances: dict[tuple[str, str], list[int]] = {}
    assert 6 <= len({r["record_id"] for r in rows}) <= 10
    assert {r["redcap_data_access_group"] for r in rows} == {"copenhagen", "aarhus"}
    for r in rows:
        event = r["redcap_event_name"]
        arms.setdefault(r["record_id"], event.rsplit("_arm_", 1)[1])
        assert event.endswith(f"_arm_{arms[r['record_id']]}")
        filled = {form.name for form in d.forms if r[f"{form.name}_complete"]}
        assert all((event, form) in mapping for form in filled), (r["record_id"], event)
        if r["redcap_repeat_instrument"]:
            assert filled == {r["redcap_repeat_instrument"]} == {"adverse_events"}
            instances.setdefault((r["record_id"], event), []).append(
                int(r["redcap_repeat_instance"])
            )
        else:
            assert "adverse_events" not in filled and r["redcap_repeat_instance"] == ""
    assert set(arms.values()) == {"1", "2"}
    assert all(v == list(range(1, len(v) + 1)) for v in instances.values())
    assert max(len(v) for v in instances.values()) >= 2


def test_the_records_satisfy_the_dictionarys_rules() -> None:
    t = from_redcap(
        DICTIONARY.read_text(), "dd.csv", MAPPING.read_text(), "ev.csv", ["adverse_events"]
    )
    _, rows = _records()
    checked = 0
    for r in rows:
        for form in t.study.forms:
            present = r[f"{form.name}_complete"] != ""
            assert present or all(
                r.get(f.name, "") == ""
                for f in form.fields
                if f.type != "checkbox" and f.name != "record_id"
            )
            if not present:
                continue
            assert r[f"{form.name}_complete"] in ("0", "1", "2")
            values = {}
            for f in form.fields:
                if not f.holds_data or f.name == "record_id":
                    continue
                if f.type == "checkbox":
                    got = [r[f"{f.name}___{c}"] for c in f.choices]
                    assert set(got) <= {"0", "1"}, f.name
                    values[f.name] = [c for c, v in zip(f.choices, got, strict=True) if v == "1"]
                    continue
                v = r[f.name]
                values[f.name] = v
                if f.required:
                    assert v != "", (r["record_id"], f.name)
                if v == "":
                    continue
                checked += 1
                if f.type == "choice":
                    assert v in f.choices, f.name
                elif f.type == "yesno":
                    assert v in ("0", "1"), f.name
                elif f.type in ("integer", "decimal", "calculated"):
                    x = float(v)
                    if f.type == "integer":
                        assert str(int(x)) == v
                    if f.precision is not None:
                        assert len(v.split(".")[1]) == f.precision, (f.name, v)
                    for lo, hi in ((f.lo, f.hi), (f.soft_lo, f.soft_hi)):
                        assert lo is None or x >= lo, (f.name, v)
                        assert hi is None or x <= hi, (f.name, v)
                elif f.type == "date":
                    dt.date.fromisoformat(v)  # raw exports are YYYY-MM-DD whatever the display
                elif f.validation:
                    assert text_problem(f.validation, v) is None, (f.name, v)
            # the branching and the translated calculations hold on the row
            for f in form.fields:
                if f.show_if and f.name in values:
                    shown = parse_expression(f.show_if).evaluate(_typed(form, values))
                    assert shown or values[f.name] in ("", []), (r["record_id"], f.name)
                if f.calc:
                    want = parse_expression(f.calc).evaluate(_typed(form, values))
                    got = values[f.name]
                    assert (got == "" and want is None) or float(got) == want, (f.name, got)
    assert checked > 250


def _typed(form, values: dict[str, str]) -> dict:
    out: dict = {}
    for name, v in values.items():
        f = form.field(name)
        if isinstance(v, list):  # a checkbox: its ticked codes
            out[name] = v
        elif v == "":
            out[name] = None
        elif f.type in ("integer", "decimal", "calculated"):
            out[name] = float(v)
        elif f.type == "yesno":
            out[name] = v == "1"
        else:
            out[name] = v
    return out


def test_the_project_readme_says_it_is_synthetic() -> None:
    text = (PROJECT / "README.md").read_text()
    assert "synthetic" in text.lower()
    assert io.StringIO(text).read()


# -- nothing is dropped silently, whatever the dictionary --------------------------------------

_TYPES = {
    "text": ["", "integer", "number", "number_2dp", "date_dmy", "datetime_seconds_ymd", "email"],
    "notes": [""],
    "radio": [""],
    "dropdown": [""],
    "checkbox": [""],
    "yesno": [""],
    "truefalse": [""],
    "slider": ["", "number"],
    "descriptive": [""],
    "calc": [""],
    "file": ["", "signature"],
}


@st.composite
def _dictionaries(draw) -> str:
    rows = []
    n = draw(st.integers(1, 5))
    for i in range(n):
        rtype = draw(st.sampled_from(sorted(_TYPES)))
        val = draw(st.sampled_from(_TYPES[rtype]))
        cells = {"type": rtype, "val": val}
        if rtype in ("radio", "dropdown", "checkbox"):
            cells["choices"] = draw(
                st.sampled_from(["1, A | 2, B", "1,A|2,B", "a, x, y | b, z", "0, No | 1, Yes"])
            )
        if rtype == "calc":
            cells["choices"] = draw(st.sampled_from(["[record_id] * 2", "[f0]+1", "round([f0],1)"]))
        numeric = val in ("integer", "number", "number_2dp") or rtype in ("calc", "slider")
        if numeric:
            cells["min"] = draw(st.sampled_from(["", "0", "1.5", "5.0", "-2"]))
            cells["max"] = draw(st.sampled_from(["", "10", "100", "20.25"]))
        cells["ann"] = draw(
            st.sampled_from(
                ["", "@FORCE-MINMAX", "@FORCE-MINMAX soft_hi=8", "@HIDDEN @FORCE-MINMAX",
                 "@HIDDEN\n@READONLY", "sdtm=DM.AGE", "@DEFAULT='a b'", "@FORCE-MINMAX "]
            )
        )  # fmt: skip
        if i and rtype != "descriptive":
            cells["branch"] = draw(
                st.sampled_from(["", "[f0] = '1'", "[f0]='1'", "[f0] <> ''", "[zz] = 1"])
            )
        cells["label"] = draw(st.sampled_from(["", 'A "quoted", label', "Two\nlines", f"f{i}"]))
        cells["req"] = draw(st.sampled_from(["", "y"])) if rtype != "descriptive" else ""
        cells["section"] = draw(st.sampled_from(["", "Part 1"]))
        if rtype == "descriptive" and not cells["label"]:
            cells["label"] = "Read this"
        rows.append(_row(name=f"f{i}", **{k: v for k, v in cells.items() if v}))
    return dictionary(*rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_dictionaries())
def test_any_dictionary_round_trips_or_lists_each_cell_it_cannot(text: str) -> None:
    try:
        t = from_redcap(text, "dd.csv")
    except RedcapInputError as exc:
        assert all(p.file == "dd.csv" and p.rule for p in exc.problems)
        return
    back = list(csv.reader(io.StringIO(write_dictionary(to_redcap(t.study)))))
    given_rows = list(csv.reader(io.StringIO(text)))
    assert len(back) == len(given_rows)
    for n, (a, b) in enumerate(zip(given_rows, back, strict=True), start=1):
        for c, x, y in zip(COLUMNS, a, b, strict=True):
            if x != y:
                assert f"row {n}: column {c}: written back as" in "\n".join(t.notes), (n, c, x, y)
