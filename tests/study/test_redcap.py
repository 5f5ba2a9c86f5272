"""``study export --format redcap``: the 18 columns, types, choices, validation, branching
logic; and the round trip definition -> dictionary -> fields -> the same dictionary."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xerotrial.cli import app
from xerotrial.study import SEED_STUDY, load_study
from xerotrial.study.expressions import parse_expression
from xerotrial.study.redcap import (
    COLUMNS,
    forms_from_redcap,
    from_redcap_logic,
    read_dictionary,
    to_event_mapping,
    to_redcap,
    to_redcap_logic,
    untranslated,
    write_dictionary,
    write_event_mapping,
)

from .definitions import GOOD, load_text


@pytest.fixture
def good(tmp_path: Path):
    return load_text(tmp_path, GOOD)


def _rows(study) -> dict[str, dict[str, str]]:
    return {f"{r['Form Name']}.{r['Variable / Field Name']}": r for r in to_redcap(study)}


def test_the_18_columns_and_each_field_type(good) -> None:
    assert len(COLUMNS) == 18
    rows = _rows(good)
    cup = rows["sialometry.cup_before_g"]
    assert (cup["Field Type"], cup["Text Validation Type OR Show Slider Number"]) == (
        "text",
        "number_2dp",
    )
    assert (cup["Text Validation Min"], cup["Text Validation Max"], cup["Field Note"]) == (
        "0",
        "",
        "g",
    )
    assert cup["Field Annotation"] == "@FORCE-MINMAX soft_hi=50"
    minutes = rows["sialometry.minutes"]
    assert (minutes["Text Validation Min"], minutes["Text Validation Max"]) == ("0.1", "60")
    grade = rows["adverse_events.grade"]
    assert grade["Text Validation Type OR Show Slider Number"] == "integer"
    assert rows["adverse_events.onset"]["Text Validation Type OR Show Slider Number"] == "date_ymd"
    assert rows["adverse_events.serious"]["Field Type"] == "yesno"
    crit = rows["adverse_events.criteria"]
    assert crit["Field Type"] == "checkbox"
    assert crit["Choices, Calculations, OR Slider Labels"] == "1, death | 2, hospital"
    assert crit["Branching Logic (Show field only if...)"] == "[serious] = '1'"
    sex = rows["participants.sex"]
    assert (sex["Field Type"], sex["Required Field?"]) == ("radio", "y")
    assert sex["Choices, Calculations, OR Slider Labels"] == "F, female | M, male"
    flow = rows["sialometry.flow_ml_min"]
    assert flow["Field Type"] == "calc"
    assert flow["Choices, Calculations, OR Slider Labels"] == (
        "([cup_after_g] - [cup_before_g]) / [minutes]"
    )
    assert rows["sialometry.note"]["Branching Logic (Show field only if...)"] == "[minutes] > 11"
    assert rows["participants.subject"]["Field Annotation"] == "sdtm=DM.SUBJID"


@pytest.mark.parametrize(
    ("expr", "redcap"),
    [
        ("a == 1 and b != 'x'", "[a] = 1 and [b] <> 'x'"),
        ("not (a > 1 or b <= 2)", "[a] <= 1 and [b] > 2"),
        ("grade in [3, 4]", "[grade] = 3 or [grade] = 4"),
        ("grade not in [3, 4]", "[grade] <> 3 and [grade] <> 4"),
        ("grade in [3, 4] and a", "([grade] = 3 or [grade] = 4) and [a] = '1'"),
        ("not blank(x)", "[x] <> ''"),
        ("not serious", "[serious] = '0'"),
        ("days(start, stop) >= 0", 'datediff([start], [stop], "d", true) >= 0'),
        ("0 <= a < 5", "0 <= [a] and [a] < 5"),
        ("a > 1 or (b > 1 and c > 1)", "[a] > 1 or ([b] > 1 and [c] > 1)"),
    ],
)
def test_branching_logic_in_redcap_syntax(expr: str, redcap: str) -> None:
    assert to_redcap_logic(parse_expression(expr)) == redcap
    back = from_redcap_logic(redcap)
    assert to_redcap_logic(parse_expression(back)) == redcap


@pytest.mark.parametrize("which", ["good", "seed"])
def test_round_trip_definition_dictionary_fields_dictionary(tmp_path: Path, which: str) -> None:
    study = load_text(tmp_path, GOOD) if which == "good" else load_study(SEED_STUDY)
    text = write_dictionary(to_redcap(study))
    rows, problems = read_dictionary(text)
    assert problems == [] and list(rows[0]) == list(COLUMNS)
    forms = forms_from_redcap(rows)
    assert [f.name for f in forms] == [f.name for f in study.forms]
    for form, back in zip(study.forms, forms, strict=True):
        for f, b in zip(form.fields, back.fields, strict=True):
            skip = {"show_if", "calc", "max_length"}
            for attr in (a.name for a in dataclasses.fields(f) if a.name not in skip):
                got, want = getattr(b, attr), getattr(f, attr)
                if attr == "choices":
                    got, want = dict(got), dict(want)
                assert got == want, (form.name, f.name, attr)
            for attr in ("show_if", "calc"):
                assert (getattr(b, attr) is None) == (getattr(f, attr) is None)
    rebuilt = dataclasses.replace(
        study,
        forms=tuple(
            dataclasses.replace(form, fields=back.fields)
            for form, back in zip(study.forms, forms, strict=True)
        ),
    )
    assert write_dictionary(to_redcap(rebuilt)) == text


def test_a_dictionary_without_the_columns_is_refused() -> None:
    rows, problems = read_dictionary("field_name,form_name\nx,y\n", "dd.csv")
    assert len(problems) == 18 and problems[0].file == "dd.csv" and problems[0].row == 0


def test_what_a_dictionary_cannot_hold_is_listed(good) -> None:
    left = untranslated(good)
    assert any("check 'cup_after_g >= cup_before_g'" in line for line in left)
    assert any(line.startswith("field subject is in 3 forms") for line in left)
    assert any("2 visits and the schedule" in line for line in left)
    assert any("arms and allocation" in line for line in left)


def test_cli_export_writes_the_dictionary_and_lists_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "dd.csv"
    res = CliRunner().invoke(
        app, ["study", "export", str(SEED_STUDY), "--format", "redcap", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert f"{out}: 146 fields of 15 forms" in res.output
    assert "not in a REDCap data dictionary" in res.output
    rows, problems = read_dictionary(out.read_text())
    assert problems == [] and len(rows) == 146
    bad = CliRunner().invoke(
        app, ["study", "export", str(SEED_STUDY), "--format", "sas", "-o", str(out)]
    )
    assert bad.exit_code == 2


def test_cells_are_quoted_as_redcap_quotes_them() -> None:
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        {
            "Variable / Field Name": "x",
            "Form Name": "f",
            "Field Type": "text",
            "Field Label": 'Say "a, b"',
            "Field Annotation": "@HIDDEN",
        }
    )
    line = write_dictionary([row]).splitlines()[1]
    assert line == 'x,f,,text,"Say ""a, b""",,,,,,,,,,,,,@HIDDEN'
    assert write_dictionary([]).startswith('"Variable / Field Name","Form Name","Section Header"')
    assert ",Identifier?," in write_dictionary([])


def test_a_kept_cell_that_no_longer_agrees_with_the_field_is_not_written(good) -> None:
    from types import MappingProxyType

    from xerotrial.study.model import Field, Form

    kept = MappingProxyType({"branching": "[minutes]>11", "choices": "1,death|2,hospital"})
    form = Form("f", "F", fields=(Field("minutes", "integer"), Field("grade", "integer")))
    same = dataclasses.replace(
        form.fields[1], show_if="minutes > 11", redcap=kept, type="checkbox",
        choices=MappingProxyType({"1": "death", "2": "hospital"}),
    )  # fmt: skip
    study = dataclasses.replace(
        good, forms=(dataclasses.replace(form, fields=(form.fields[0], same)),)
    )
    row = to_redcap(study)[1]
    assert row["Branching Logic (Show field only if...)"] == "[minutes]>11"
    assert row["Choices, Calculations, OR Slider Labels"] == "1,death|2,hospital"
    edited = dataclasses.replace(
        same, show_if="minutes > 12", choices=MappingProxyType({"1": "death", "3": "other"})
    )
    study = dataclasses.replace(
        good, forms=(dataclasses.replace(form, fields=(form.fields[0], edited)),)
    )
    row = to_redcap(study)[1]
    assert row["Branching Logic (Show field only if...)"] == "[minutes] > 12"
    assert row["Choices, Calculations, OR Slider Labels"] == "1, death | 3, other"


def test_the_schedule_as_an_instrument_event_mapping(good) -> None:
    assert to_event_mapping(good) == [
        (1, "baseline_arm_1", "sialometry"),
        (1, "month1_arm_1", "sialometry"),
        (2, "baseline_arm_2", "sialometry"),
        (2, "month1_arm_2", "sialometry"),
    ]
    assert write_event_mapping(to_event_mapping(good)).splitlines()[:2] == [
        "arm_num,unique_event_name,form",
        "1,baseline_arm_1,sialometry",
    ]
