"""CTCAE term table, AE validation, the paper's Table 2 and the dry mouth grade."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xerotrial.stats.errors import DataValidationError
from xerotrial.trial import safety
from xerotrial.trial.ctcae import CTCAE_V5, PAIN_TERMS, lookup_term
from xerotrial.trial.safety import (
    PAPER_TABLE2_LABELS,
    derive_dry_mouth_grade,
    dry_mouth_grade_from_uws,
    tabulate_table2,
    validate_adverse_events,
)

# ----------------------------------------------------------------------------- fixtures


def _ae(subject, term, grade, serious=False, criteria="", related="related", day=0) -> dict:
    return {
        "subject": subject,
        "term": term,
        "grade": grade,
        "serious": serious,
        "sae_criteria": criteria,
        "related": related,
        "onset_day": day,
    }


def paper_ae() -> pd.DataFrame:
    """The trial's AEs as the paper describes them (Results and Table 2)."""
    rows = [_ae(f"P{i}", "Pain", 1, related="related", day=0) for i in range(1, 11)]
    rows += [
        _ae(
            "P4",
            "Stroke",
            3,
            serious="yes",
            criteria="hospitalisation",
            related="not related",
            day=82,
        ),
        _ae("P7", "Vasovagal reaction", 3, serious="no", related="related", day=0),
        _ae("P2", "Flu like symptoms", 1, related="not related", day=5),
        _ae("P5", "Flu like symptoms", 1, related="not related", day=30),
        _ae("P9", "Flu like symptoms", 1, related="not related", day=118),
    ]
    return pd.DataFrame(rows)


#: Table 2 of the paper, row by row: label, N, Sum, proportion (None = the paper prints no
#: numbers on that row).
PAPER_TABLE2 = [
    ("Serious adverse events", 10, 1, "0.1"),
    ("SAEs, study related", 10, 0, "0.0"),
    ("SAEs, not related", 10, 1, "0.1"),
    ("Stroke", None, None, None),
    ("Grade 1", 10, 0, "0.0"),
    ("Grade 2", 10, 0, "0.0"),
    ("Grade 3", 10, 1, "0.1"),
    ("Death", 10, 0, "0.0"),
    ("Adverse events, study related", None, None, None),
    ("Pain at injection site", 10, 1, "0.1"),  # the quirk, see test_paper_pain_row_quirk
    ("Grade 1", 10, 10, "1.0"),
    ("Grade 2", 10, 0, "0.0"),
    ("Grade 3", 10, 0, "0.0"),
    ("Syncope, vasovagal", None, None, None),
    ("Grade 3", 10, 1, "0.1"),
    ("Adverse events, not study related", 10, 3, "0.3"),
    ("Flu-like symptoms", None, None, None),
    ("Grade 1", 10, 3, "0.3"),
    ("Grade 2", 10, 0, "0.0"),
    ("Grade 3", 10, 0, "0.0"),
]
PAIN_ROW = 9


@pytest.fixture
def table2() -> pd.DataFrame:
    return tabulate_table2(paper_ae(), 10, labels=PAPER_TABLE2_LABELS)


# ----------------------------------------------------------------------------- CTCAE table


@pytest.mark.parametrize(
    ("term", "grades"),
    [
        ("Syncope", {3}),
        ("Vasovagal reaction", {3, 4, 5}),
        ("Presyncope", {2}),
        ("Dry mouth", {1, 2, 3}),
        ("Flu like symptoms", {1, 2, 3}),
        ("Stroke", {1, 2, 3, 4, 5}),
        ("Injection site reaction", {1, 2, 3, 4, 5}),
        ("Transient ischemic attacks", {1, 2}),
        ("Bruising", {1, 2}),
        ("Salivary gland infection", {2, 3, 4, 5}),
        ("Fever", {1, 2, 3, 4, 5}),
        ("Death NOS", {5}),
        *[(t, {1, 2, 3}) for t in PAIN_TERMS],
    ],
)
def test_allowed_grades(term, grades):
    assert set(lookup_term(term).grades) == grades


@pytest.mark.parametrize(
    ("term", "code"),
    [
        ("Dry mouth", 10013781),
        ("Injection site reaction", 10022095),
        ("Syncope", 10042772),
        ("Vasovagal reaction", 10047166),
        ("Presyncope", 10036653),
        ("Stroke", 10042244),
        ("Flu like symptoms", 10016791),
    ],
)
def test_meddra_codes_from_spec(term, code):
    assert lookup_term(term).meddra_code == code


def test_spec_terms_present_with_soc():
    for term in (
        "Localized edema",
        "Edema face",
        "Hematoma",
        "Bruising",
        "Salivary duct inflammation",
        "Salivary gland infection",
        "Fever",
        "Headache",
        "Fatigue",
        "Chills",
    ):
        assert term in CTCAE_V5 and CTCAE_V5[term].soc
    assert lookup_term("dry mouth").soc == "Gastrointestinal disorders"
    assert lookup_term("stroke").soc == "Nervous system disorders"


def test_lookup_is_lenient_on_case_space_hyphen_but_refuses_unknown():
    assert lookup_term("  FLU-LIKE   symptoms ").term == "Flu like symptoms"
    with pytest.raises(KeyError, match="not a CTCAE v5.0 term"):
        lookup_term("Injection site pain")


def test_ctcae_term_table_is_read_only():
    with pytest.raises(TypeError):
        CTCAE_V5["New"] = CTCAE_V5["Fever"]  # type: ignore[index]


# ----------------------------------------------------------------------------- Table 2


def test_table2_labels_in_paper_order(table2):
    assert table2["label"].tolist() == [r[0] for r in PAPER_TABLE2]


def test_table2_numbers_match_paper_row_by_row(table2):
    for i, (label, n, k, prop) in enumerate(PAPER_TABLE2):
        if n is None or i == PAIN_ROW:
            continue
        row = table2.iloc[i]
        assert (row["label"], row["N"], row["Sum"]) == (label, n, k), i
        assert f"{row['Proportion']:.1f}" == prop, i


def test_paper_pain_row_quirk(table2):
    """The paper prints "Pain at injection site 10 1 0.1" above "Grade 1 10 10 1.0"; a term row
    is the number of subjects with the term (= the sum of its grade rows), so it is 10 / 1.0
    here. The paper's own grade 1 row and text ("All patients ...") give 10."""
    pain = table2.iloc[PAIN_ROW]
    assert pain["label"] == "Pain at injection site"
    assert (pain["Sum"], pain["Proportion"]) == (10, 1.0)
    assert PAPER_TABLE2[PAIN_ROW][2] == 1  # what the paper prints


def test_table2_rows_the_paper_leaves_blank(table2):
    got = dict(zip(table2.index, table2["Sum"], strict=True))
    assert got[3] == 1  # Stroke: the one patient
    assert got[8] == 10  # Adverse events, study related: all ten had injection pain
    assert got[13] == 1  # Syncope, vasovagal
    assert got[16] == 3  # Flu-like symptoms


def test_table2_structure_columns(table2):
    assert table2.columns.tolist() == ["block", "label", "level", "N", "Sum", "Proportion"]
    assert table2["block"].tolist()[:8] == ["serious"] * 7 + ["death"]
    assert table2.loc[table2["label"] == "Stroke", "level"].item() == 0
    assert (table2["N"] == 10).all()


def test_serious_event_not_counted_again_under_not_related(table2):
    # P4's stroke is serious and unrelated: it is in the SAE block only.
    row = table2[table2["label"] == "Adverse events, not study related"]
    assert row["Sum"].item() == 3


def test_default_labels_are_ctcae_terms():
    t = tabulate_table2(paper_ae(), 10)
    assert {"Pain", "Vasovagal reaction", "Flu like symptoms", "Stroke"} <= set(t["label"])


def test_worst_grade_counts_subject_once():
    ae = pd.DataFrame(
        [
            _ae("A", "Fatigue", 1, related="related", day=1),
            _ae("A", "Fatigue", 3, related="related", day=2),
            _ae("A", "Fatigue", 2, related="related", day=3),
            _ae("B", "Fatigue", 1, related="related", day=1),
        ]
    )
    t = tabulate_table2(ae, 5)
    rel = t[t["block"] == "related"]
    assert rel[["label", "Sum"]].values.tolist() == [
        ["Adverse events, study related", 2],
        ["Fatigue", 2],
        ["Grade 1", 1],
        ["Grade 2", 0],
        ["Grade 3", 1],
    ]


def test_terms_sorted_by_subjects_then_label():
    ae = pd.DataFrame(
        [
            _ae("A", "Headache", 1),
            _ae("A", "Chills", 1),
            _ae("B", "Headache", 2),
            _ae("C", "Bruising", 1),
        ]
    )
    t = tabulate_table2(ae, 3)
    terms = t[(t["block"] == "related") & (t["level"] == 0)]["label"].tolist()
    assert terms == ["Adverse events, study related", "Headache", "Bruising", "Chills"]


def test_grade_rows_above_display_limit_appear_when_observed():
    ae = pd.DataFrame(
        [
            _ae("A", "Stroke", 5, serious=True, criteria="death", related="not related", day=40),
            _ae("B", "Vasovagal reaction", 4, serious=True, criteria="life-threatening", day=0),
        ]
    )
    t = tabulate_table2(ae, 10)
    ser = t[t["block"] == "serious"]
    assert ser[["label", "Sum"]].values.tolist() == [
        ["Serious adverse events", 2],
        ["SAEs, study related", 1],
        ["SAEs, not related", 1],
        ["Stroke", 1],
        ["Grade 1", 0],
        ["Grade 2", 0],
        ["Grade 3", 0],
        ["Grade 5", 1],
        ["Vasovagal reaction", 1],
        ["Grade 3", 0],
        ["Grade 4", 1],
    ]
    assert t.loc[t["label"] == "Death", "Sum"].item() == 1


def test_empty_ae_data_gives_zero_rows():
    empty = pd.DataFrame(columns=list(safety.AE_COLUMNS))
    t = tabulate_table2(empty, 10)
    assert t["label"].tolist() == [
        "Serious adverse events",
        "SAEs, study related",
        "SAEs, not related",
        "Death",
        "Adverse events, study related",
        "Adverse events, not study related",
    ]
    assert (t["Sum"] == 0).all() and (t["Proportion"] == 0).all()


@pytest.mark.parametrize("n", [0, -1, 2.5, "ten", None])
def test_table2_refuses_bad_n(n):
    with pytest.raises(DataValidationError, match="n_subjects"):
        tabulate_table2(paper_ae(), n)


def test_table2_refuses_more_subjects_than_population():
    with pytest.raises(DataValidationError, match="10 subjects have AEs.*n_subjects=9"):
        tabulate_table2(paper_ae(), 9)


# ----------------------------------------------------------------------------- validation


def test_validate_normalises():
    out = validate_adverse_events(paper_ae())
    assert out["grade"].dtype == np.int64 and out["serious"].dtype == bool
    assert out.loc[10, "sae_criteria"] == ("hospitalisation",)
    assert out.loc[10, "meddra_code"] == 10042244
    assert pd.isna(out.loc[0, "meddra_code"]) is False  # Pain has a code
    assert out.loc[11, "term"] == "Vasovagal reaction"
    assert out["related"].tolist()[:10] == [True] * 10


def test_validate_keeps_index_and_extra_columns():
    ae = paper_ae()
    ae.index = ae.index + 100
    ae["verbatim"] = "x"
    out = validate_adverse_events(ae)
    assert out.index.equals(ae.index) and (out["verbatim"] == "x").all()


def _one(**changes) -> pd.DataFrame:
    row = _ae("P1", "Fatigue", 1)
    row.update(changes)
    return pd.DataFrame([row])


@pytest.mark.parametrize(
    ("changes", "column", "message"),
    [
        (
            {"term": "Syncope", "grade": 2},
            "grade",
            r"value 2: CTCAE v5.0 'Syncope' has no grade 2 \(allowed grades: 3\)",
        ),
        ({"term": "Presyncope", "grade": 3}, "grade", r"allowed grades: 2\)"),
        ({"term": "Dry mouth", "grade": 4}, "grade", r"allowed grades: 1, 2, 3\)"),
        ({"term": "Vasovagal reaction", "grade": 1}, "grade", r"allowed grades: 3, 4, 5\)"),
        ({"grade": 1.5}, "grade", "whole number 1-5"),
        ({"grade": "high"}, "grade", "whole number 1-5"),
        ({"grade": None}, "grade", "whole number 1-5"),
        ({"term": "Injection site pain"}, "term", "not a CTCAE v5.0 term"),
        ({"term": None}, "term", "give a CTCAE"),
        ({"subject": " "}, "subject", "subject id"),
        ({"serious": "maybe"}, "serious", "yes/no"),
        ({"serious": True, "sae_criteria": ""}, "sae_criteria", "at least one ICH E2A"),
        (
            {"serious": False, "sae_criteria": "hospitalisation"},
            "sae_criteria",
            "non-serious event names no",
        ),
        (
            {"serious": True, "sae_criteria": "hospitalisation; tired"},
            "sae_criteria",
            "criteria are ICH E2A names",
        ),
        ({"serious": True, "sae_criteria": 3}, "sae_criteria", "criteria are ICH E2A names"),
        (
            {"term": "Stroke", "grade": 5, "serious": True, "sae_criteria": "hospitalisation"},
            "sae_criteria",
            "grade 5 event",
        ),
        (
            {"term": "Stroke", "grade": 3, "serious": True, "sae_criteria": "death"},
            "grade",
            "criterion 'death' is grade 5",
        ),
        ({"related": "perhaps"}, "related", "relatedness is one of"),
        ({"related": 1}, "related", "relatedness is one of"),
        ({"onset_day": -1}, "onset_day", ">= 0"),
        ({"onset_day": 2.5}, "onset_day", "whole number"),
        ({"onset_day": None}, "onset_day", "whole number"),
    ],
)
def test_validation_errors(changes, column, message):
    with pytest.raises(DataValidationError, match=message) as err:
        validate_adverse_events(_one(**changes))
    assert f"data: row 1, column '{column}'" in str(err.value)


def test_validation_error_names_file_line_and_first_bad_row():
    ae = pd.concat([_one(), _one(term="Syncope", grade=2)], ignore_index=True)
    with pytest.raises(
        DataValidationError, match=r"ae\.csv: line 3 \(data row 2\), column 'grade', value 2"
    ):
        validate_adverse_events(ae, source="ae.csv")


def test_validation_missing_column_and_non_frame():
    with pytest.raises(DataValidationError, match=r"\['onset_day'\] not found"):
        validate_adverse_events(_one().drop(columns="onset_day"))
    with pytest.raises(DataValidationError, match="expected a DataFrame"):
        validate_adverse_events([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("definite", True),
        ("Probable", True),
        ("possible", True),
        ("unlikely", False),
        ("Unrelated", False),
        ("NOT RELATED", False),
        (True, True),
        (np.False_, False),
    ],
)
def test_relatedness_scale(value, expected):
    assert validate_adverse_events(_one(related=value))["related"].item() is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("hospitalization", ("hospitalisation",)),
        ("Life threatening, hospitalisation", ("life-threatening", "hospitalisation")),
        ("important_medical_event", ("important medical event",)),
        ("birth defect; disability", ("disability", "congenital anomaly")),
    ],
)
def test_criteria_aliases_and_order(value, expected):
    out = validate_adverse_events(_one(serious="Y", sae_criteria=value))
    assert out["sae_criteria"].item() == expected


def test_grade_two_event_can_be_serious_and_grade_three_non_serious():
    ae = pd.DataFrame(
        [
            _ae("A", "Fatigue", 2, serious=True, criteria="hospitalisation"),
            _ae("B", "Syncope", 3, serious=False),
        ]
    )
    out = validate_adverse_events(ae)
    assert out["serious"].tolist() == [True, False]


def test_min_onset_day_allows_pretreatment_events():
    out = validate_adverse_events(_one(onset_day=-3), min_onset_day=-30)
    assert out["onset_day"].item() == -3


# ----------------------------------------------------------------------------- properties

_TERMS = ["Fatigue", "Stroke", "Syncope", "Pain", "Vasovagal reaction", "Presyncope"]


@st.composite
def ae_sets(draw):
    n = draw(st.integers(1, 8))
    events = []
    for _ in range(draw(st.integers(0, 15))):
        term = draw(st.sampled_from(_TERMS))
        grade = draw(st.sampled_from(sorted(lookup_term(term).grades)))
        serious = grade == 5 or draw(st.booleans())
        criteria = "death" if grade == 5 else ("hospitalisation" if serious else "")
        events.append(
            _ae(
                f"S{draw(st.integers(0, n - 1))}",
                term,
                grade,
                serious,
                criteria,
                draw(st.sampled_from(["related", "not related"])),
                draw(st.integers(0, 120)),
            )
        )
    return pd.DataFrame(events, columns=list(safety.AE_COLUMNS)), n


@settings(max_examples=40, deadline=None)
@given(ae_sets(), st.randoms(use_true_random=False))
def test_table2_invariants(data, rnd):
    ae, n = data
    t = tabulate_table2(ae, n)
    assert ((t["Sum"] >= 0) & (t["Sum"] <= t["N"])).all()
    assert np.allclose(t["Proportion"], t["Sum"] / n)
    # grade rows add up to their term row (each subject once, at the worst grade)
    heads = [i for i in range(len(t)) if t["level"].iat[i] == 0]
    for i in heads:
        j = i + 1
        total = 0
        while j < len(t) and t["level"].iat[j] == 1 and t["label"].iat[j].startswith("Grade"):
            total += t["Sum"].iat[j]
            j += 1
        if j > i + 1:
            assert total == t["Sum"].iat[i]
    s, rel, unrel = t["Sum"].iloc[:3]
    assert max(rel, unrel) <= s <= rel + unrel
    # row order of the input does not matter
    shuffled = ae.sample(frac=1, random_state=rnd.randint(0, 10**6))
    pd.testing.assert_frame_equal(tabulate_table2(shuffled, n), t)


# ----------------------------------------------------------------------------- dry mouth


@pytest.mark.parametrize(
    ("uws", "grade"),
    [
        (0.45, 1),
        (0.2000001, 1),
        (0.2, 2),
        (0.15, 2),
        (0.1, 2),
        (0.0999999, 3),
        (0.0, 3),
        (1 / 10, 2),
        (2 / 10, 2),
    ],
)
def test_dry_mouth_grade_boundaries(uws, grade):
    assert dry_mouth_grade_from_uws(uws) == grade


def test_dry_mouth_thresholds_are_arguments():
    assert dry_mouth_grade_from_uws(0.22, g1_above=0.25) == 2
    with pytest.raises(DataValidationError, match="g3_below <= g1_above"):
        dry_mouth_grade_from_uws(0.1, g1_above=0.1, g3_below=0.2)


@pytest.mark.parametrize("bad", [-0.01, float("nan"), float("inf"), "0.1", True, None])
def test_dry_mouth_grade_refuses(bad):
    with pytest.raises(DataValidationError, match="UWS flow"):
        dry_mouth_grade_from_uws(bad)  # type: ignore[arg-type]


def test_derive_dry_mouth_grade_uws_only_and_highest_applicable():
    d = pd.DataFrame(
        {"uws_ml_min": [0.3, "0.15", 0.05, None, 0.3, None], "sym": [0, 1, 1, 2, 3, None]}
    )
    only = derive_dry_mouth_grade(d)
    assert only["dry_mouth_grade"].tolist()[:3] == [1, 2, 3]
    assert pd.isna(only["dry_mouth_grade"].iloc[3])
    both = derive_dry_mouth_grade(d, symptom_grade="sym", out="g")
    assert both["g"].tolist()[:5] == [1, 2, 3, 2, 3]
    assert pd.isna(both["g"].iloc[5])
    assert "g" not in d.columns  # input untouched


@pytest.mark.parametrize(
    ("frame", "column", "message"),
    [
        (pd.DataFrame({"uws_ml_min": ["low"]}), "uws_ml_min", "is a number"),
        (pd.DataFrame({"uws_ml_min": [-0.2]}), "uws_ml_min", ">= 0"),
        (pd.DataFrame({"uws_ml_min": [0.2], "sym": [4]}), "sym", "grade 1-3"),
        (pd.DataFrame({"uws_ml_min": [0.2], "sym": [1.5]}), "sym", "grade 1-3"),
    ],
)
def test_derive_dry_mouth_grade_errors(frame, column, message):
    sym = "sym" if "sym" in frame.columns else None
    with pytest.raises(DataValidationError, match=message) as err:
        derive_dry_mouth_grade(frame, symptom_grade=sym)
    assert f"row 1, column '{column}'" in str(err.value)


def test_derive_dry_mouth_grade_missing_column():
    with pytest.raises(DataValidationError, match="not found"):
        derive_dry_mouth_grade(pd.DataFrame({"uws": [0.1]}))
