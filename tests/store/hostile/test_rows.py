"""Rules on whole rows, references and rules across forms, at import and at edit (the same
rules, :mod:`xerotrial.store.consistency`): each refused with the row, column and rule, and
nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from xerotrial.store.audit import verify
from xerotrial.store.edit import edit_row
from xerotrial.store.errors import ImportRejectedError
from xerotrial.store.export import read_form
from xerotrial.store.forms import FORMS
from xerotrial.store.importer import import_file

from .conftest import base_row, csv_text

# (form, changes to the sample's first row, column, words of the rule)
ROW_RULES = [
    ("participants", {"group": "control", "matched_to": ""}, "matched_to", "names the patient"),
    ("participants", {"matched_to": "P02"}, "matched_to", "only a healthy control is matched"),
    ("screening", {"eligible": "no", "failed_criteria": ""}, "failed_criteria", "criteria not met"),
    ("screening", {"eligible": "yes", "failed_criteria": "x"}, "failed_criteria", "no failed"),
    ("visits", {"visit": "day30", "study_day": "100"}, "study_day", "outside the window"),
    ("visits", {"visit": "day999"}, "visit", "unknown visit 'day999'"),
    ("sialometry", {"cup_after_g": "11.0"}, "cup_after_g", "weighs less after collection"),
    ("sialometry", {"cup_after_g": "60", "minutes": "0.1"}, "cup_after_g", "plausible maximum"),
    ("saliva_ions", {"value_mmol_l": "500"}, "value_mmol_l", "between 0 and 200"),
    ("adverse_events", {"serious": "yes", "sae_criteria": ""}, "sae_criteria", "ICH E2A"),
    ("adverse_events", {"sae_criteria": "death"}, "sae_criteria", "non-serious event names no"),
    ("adverse_events", {"grade": "5"}, "grade", "has no grade 5"),
    ("adverse_events", {"related": "maybe"}, "related", "relatedness is one of"),
    ("adverse_events", {"term": "Zzz"}, "term", "not a CTCAE v5.0 term"),
    ("donors", {"hla_a_1": "B*07:02"}, "hla_a_1", "not an HLA-A allele"),
    ("donors", {"hla_drb3_1": "DRB4*01:03"}, "hla_drb3_1", "not an HLA-DRB3 allele"),
    ("hla_antibodies", {"specificity": "XYZ"}, "specificity", "not an HLA specificity"),
    ("safety_labs", {"lower_limit": "10", "upper_limit": "5"}, "upper_limit", ">= lower_limit"),
    ("safety_labs", {"test": "alt", "unit": "g/L"}, "unit", "unit of alt is one of"),
]

# references to rows that are not in the store
REFERENCES = (
    [
        (form, {spec.participant_column: "ZZ99"}, spec.participant_column, "unknown participant")
        for form, spec in FORMS.items()
        if spec.participant_column and spec.visit_columns is None
    ]
    + [
        (form, {"visit": "day5"}, "visit", "unknown visit of P01")
        for form, spec in FORMS.items()
        if spec.visit_columns is not None
    ]
    + [
        ("participants", {"site": "S9"}, "site", "unknown in the sites form"),
        ("participants", {"group": "control", "matched_to": "C99"}, "matched_to", "unknown in the"),
        ("batches", {"donor": "D9"}, "donor", "unknown in the donors form"),
        ("administrations", {"batch": "B9"}, "batch", "unknown in the batches form"),
    ]
)


def _import_one(engine: Engine, form: str, changes: dict, tmp_path: Path) -> list:
    header = list(FORMS[form].columns)
    row = {**{c: base_row(form).get(c, "") for c in header}, **changes}
    path = tmp_path / f"{form}.csv"
    path.write_text("\n" + csv_text(header, [row]), encoding="utf-8")  # a blank first line
    with pytest.raises(ImportRejectedError) as info:
        import_file(engine, form, path, user="hostile")
    return info.value.problems


@pytest.mark.parametrize(("form", "changes", "column", "rule"), ROW_RULES + REFERENCES)
def test_row_rules_and_references(
    form: str, changes: dict, column: str, rule: str, unchanged: Engine, tmp_path: Path
) -> None:
    problems = _import_one(unchanged, form, changes, tmp_path)
    hits = [p for p in problems if p.column == column and rule in p.rule]
    assert hits, [str(p) for p in problems]
    assert (hits[0].row, hits[0].line) == (1, 3)  # the header is on line 2, after a blank line


def test_the_row_corpus_covers_every_form() -> None:
    assert {f for f, *_ in ROW_RULES + REFERENCES} == set(FORMS) - {"sites"}


# rules across forms, at import: (form, new row (complete), column, words of the rule)
ACROSS = [
    (
        "visits",
        {"subject": "P01", "visit": "year2", "study_day": "730", "visit_date": "2024-01-21"},
        "visit_date",
        "puts day 0 on 2022-01-21, but visit day0",
    ),
    (
        "screening",
        {
            "screening_id": "SCR9",
            "subject": "P01",
            "screening_date": "2024-03-01",
            "eligible": "yes",
            "failed_criteria": "",
        },
        "screening_date",
        "after their day 0 (2024-01-20",
    ),
    (
        "administrations",
        {
            "subject": "C01",
            "gland": "left parotid",
            "batch": "B1",
            "study_day": "0",
            "million_cells": "50",
            "volume_ml": "1",
        },
        "subject",
        "C01 is a control: only patients receive cells",
    ),
    (
        "participants",
        {
            "subject": "C02",
            "site": "S1",
            "group": "control",
            "sex": "F",
            "age_years": "62",
            "race": "White",
            "education": "high",
            "matched_to": "P01",
            "enrolment_order": "",
        },
        "matched_to",
        "P01 is already the match of C01",
    ),
    (
        "participants",
        {
            "subject": "C02",
            "site": "S1",
            "group": "control",
            "sex": "M",
            "age_years": "70",
            "race": "White",
            "education": "medium",
            "matched_to": "P02",
            "enrolment_order": "",
        },
        "age_years",
        "the ages differ by 12 years (at most 5)",
    ),
    (
        "participants",
        {
            "subject": "C02",
            "site": "S1",
            "group": "control",
            "sex": "F",
            "age_years": "58",
            "race": "White",
            "education": "medium",
            "matched_to": "P02",
            "enrolment_order": "",
        },
        "sex",
        "sex differs (M vs F)",
    ),
    (
        "participants",
        {
            "subject": "P03",
            "site": "S1",
            "group": "patient",
            "sex": "F",
            "age_years": "58",
            "race": "White",
            "education": "medium",
            "matched_to": "",
            "enrolment_order": "2",
        },
        "enrolment_order",
        "enrolment order 2 is also P02's",
    ),
]


@pytest.mark.parametrize(("form", "row", "column", "rule"), ACROSS)
def test_rules_across_forms_at_import(
    form: str, row: dict, column: str, rule: str, unchanged: Engine, tmp_path: Path
) -> None:
    path = tmp_path / f"{form}.csv"
    path.write_text(csv_text(list(FORMS[form].columns), [row]), encoding="utf-8")
    with pytest.raises(ImportRejectedError) as info:
        import_file(unchanged, form, path, user="hostile")
    assert [(p.column, p.line) for p in info.value.problems if rule in p.rule] == [(column, 2)], [
        str(p) for p in info.value.problems
    ]


# the same rules at edit: (form, key, changes, column, words of the rule)
EDITS = [
    (
        "participants",
        {"subject": "P01"},
        {"group": "control", "matched_to": "P02", "enrolment_order": ""},
        "group",
        "only patients receive",
    ),
    ("participants", {"subject": "P01"}, {"age_years": "75"}, "age_years", "ages differ by 15"),
    ("participants", {"subject": "C01"}, {"matched_to": "P02"}, "sex", "sex differs (M vs F)"),
    ("participants", {"subject": "C01"}, {"sex": "M"}, "sex", "sex differs (F vs M)"),
    ("participants", {"subject": "P02"}, {"enrolment_order": "1"}, "enrolment_order", "also P01"),
    ("visits", {"subject": "P01", "visit": "day30"}, {"study_day": "31"}, "visit_date", "day 0"),
    (
        "visits",
        {"subject": "P01", "visit": "day0"},
        {"visit_date": "2024-01-21"},
        "visit_date",
        "but visit day0 (2024-01-21",
    ),
    (
        "screening",
        {"screening_id": "SCR001"},
        {"screening_date": "2024-01-21"},
        "screening_date",
        "after their day 0",
    ),
    (
        "screening",
        {"screening_id": "SCR001"},
        {"screening_date": "2999-01-01"},
        "screening_date",
        "must not be in the future",
    ),
    (
        "administrations",
        {"subject": "P01", "gland": "left_parotid"},
        {"study_day": "1"},
        "study_day",
        "must be <= 0",
    ),
]


@pytest.mark.parametrize(("form", "key", "changes", "column", "rule"), EDITS)
def test_rules_at_edit(
    form: str, key: dict, changes: dict, column: str, rule: str, unchanged: Engine
) -> None:
    before = read_form(unchanged, form)
    with pytest.raises(ImportRejectedError) as info:
        edit_row(unchanged, form, key, changes, reason="hostile", user="hostile")
    assert "nothing was changed" in str(info.value)
    assert [p.column for p in info.value.problems if rule in p.rule], [
        str(p) for p in info.value.problems
    ]
    assert read_form(unchanged, form).equals(before)


def test_a_consistent_edit_passes(scratch: Engine) -> None:
    # P01's day-30 visit moved by a day, with its date: consistent, so accepted
    res = edit_row(
        scratch,
        "visits",
        {"subject": "P01", "visit": "day30"},
        {"study_day": "30", "visit_date": "2024-02-19"},
        reason="visit re-dated",
        user="monitor",
    )
    assert res.changed and verify(scratch).ok
