"""Eligibility criteria and CONSORT screening counts."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xerotrial.stats.errors import DataValidationError
from xerotrial.trial.eligibility import (
    EXCLUSION_FLAGS,
    REASONS,
    SCREENING_COLUMNS,
    evaluate_eligibility,
    screening_log,
)


def person(subject="S01", **changes) -> dict:
    row = {c: "no" for c in EXCLUSION_FLAGS}
    row.update(
        subject=subject,
        age=59,
        uicc8_stage="II",
        years_since_radiotherapy=3.0,
        relapse_since_radiotherapy="no",
        objective_salivary_damage="yes",
        subjective_salivary_damage="yes",
        other_cancer_years_ago=None,
        other_cancer_type=None,
    )
    row.update(changes)
    return row


def reasons_of(**changes) -> tuple[str, ...]:
    return evaluate_eligibility(pd.DataFrame([person(**changes)]))["reasons"].item()


def paper_screening() -> pd.DataFrame:
    """17 screened, 10 enrolled (the paper); the 7 others are made up."""
    rows = [person(f"S{i:02d}", age=45 + 2 * i) for i in range(1, 11)]
    rows += [
        person("S11", age=77),
        person("S12", uicc8_stage="III"),
        person("S13", years_since_radiotherapy=1.5),
        person("S14", smoking="yes", alcohol_abuse="yes"),
        person("S15", other_cancer_years_ago=2, other_cancer_type="prostate cancer"),
        person("S16", xerogenic_medication="yes", other_salivary_gland_disease=True),
        person("S17"),  # eligible, declined
    ]
    return pd.DataFrame(rows)


def test_eligible_person():
    r = evaluate_eligibility(pd.DataFrame([person()]))
    assert r.columns.tolist() == ["subject", "eligible", "reasons"]
    assert r["eligible"].item() is True and r["reasons"].item() == ()


@pytest.mark.parametrize(
    ("changes", "reasons"),
    [
        ({"age": 17}, ("age",)),
        ({"age": 76}, ("age",)),
        ({"age": 18}, ()),
        ({"age": 75.0}, ()),
        ({"uicc8_stage": "III"}, ("stage",)),
        ({"uicc8_stage": "IVA"}, ("stage",)),
        ({"uicc8_stage": 4}, ("stage",)),
        ({"uicc8_stage": "stage i"}, ()),
        ({"uicc8_stage": "2"}, ()),
        ({"years_since_radiotherapy": 1.99}, ("relapse_free",)),
        ({"years_since_radiotherapy": 2}, ()),
        ({"relapse_since_radiotherapy": "yes"}, ("relapse_free",)),
        ({"objective_salivary_damage": "no"}, ("objective_damage",)),
        ({"subjective_salivary_damage": False}, ("subjective_damage",)),
        ({"other_cancer_years_ago": 4, "other_cancer_type": "Breast cancer"}, ("other_cancer",)),
        ({"other_cancer_years_ago": 4.01, "other_cancer_type": "Breast cancer"}, ()),
        ({"other_cancer_years_ago": 1, "other_cancer_type": "Basal cell carcinoma"}, ()),
        ({"other_cancer_years_ago": 1, "other_cancer_type": " BCC "}, ()),
        ({"other_cancer_years_ago": 0, "other_cancer_type": "OPSCC"}, ()),
        *[({flag: "yes"}, (flag,)) for flag in EXCLUSION_FLAGS],
        ({"pregnancy": 1}, ("pregnancy",)),
        ({"smoking": "Y"}, ("smoking",)),
    ],
)
def test_each_criterion(changes, reasons):
    assert reasons_of(**changes) == reasons


def test_every_reason_listed_in_order():
    got = reasons_of(
        pregnancy="yes",
        age=80,
        smoking="yes",
        uicc8_stage="IV",
        objective_salivary_damage="no",
        other_cancer_years_ago=1,
        other_cancer_type="melanoma",
    )
    assert got == ("age", "stage", "objective_damage", "other_cancer", "smoking", "pregnancy")
    assert list(REASONS)[:5] == [
        "age",
        "stage",
        "relapse_free",
        "objective_damage",
        "subjective_damage",
    ]


def test_thresholds_are_arguments():
    df = pd.DataFrame(
        [
            person(
                age=76,
                uicc8_stage="III",
                years_since_radiotherapy=1,
                other_cancer_years_ago=5,
                other_cancer_type="colon",
            )
        ]
    )
    r = evaluate_eligibility(
        df,
        max_age=80,
        allowed_stages=("I", "II", "III"),
        min_relapse_free_years=1,
        other_cancer_window_years=5,
    )
    assert r["reasons"].item() == ("other_cancer",)


@pytest.mark.parametrize(
    ("changes", "column", "message"),
    [
        ({"age": 45.5}, "age", "completed years"),
        ({"age": "old"}, "age", "completed years"),
        ({"age": None}, "age", "completed years"),
        ({"uicc8_stage": "V"}, "uicc8_stage", "UICC 8 stage"),
        ({"uicc8_stage": None}, "uicc8_stage", "UICC 8 stage"),
        ({"uicc8_stage": True}, "uicc8_stage", "UICC 8 stage"),
        ({"years_since_radiotherapy": -1}, "years_since_radiotherapy", ">= 0"),
        ({"smoking": "sometimes"}, "smoking", "yes/no"),
        ({"pregnancy": None}, "pregnancy", "yes/no"),
        ({"relapse_since_radiotherapy": 2}, "relapse_since_radiotherapy", "yes/no"),
        ({"other_cancer_years_ago": 2}, "other_cancer_type", "give the type"),
        ({"other_cancer_type": "melanoma"}, "other_cancer_years_ago", "years since"),
        (
            {"other_cancer_type": "melanoma", "other_cancer_years_ago": "long"},
            "other_cancer_years_ago",
            "years since",
        ),
        ({"subject": None}, "subject", "screening id is required"),
    ],
)
def test_input_errors(changes, column, message):
    with pytest.raises(DataValidationError, match=message) as err:
        evaluate_eligibility(
            pd.DataFrame([person("S00"), person(**changes)]), source="screening.csv"
        )
    assert f"screening.csv: line 3 (data row 2), column '{column}'" in str(err.value)


def test_structure_errors():
    with pytest.raises(DataValidationError, match=r"\['smoking'\] not found"):
        evaluate_eligibility(pd.DataFrame([person()]).drop(columns="smoking"))
    with pytest.raises(DataValidationError, match="already on row 1"):
        evaluate_eligibility(pd.DataFrame([person("S1"), person("S1")]))
    with pytest.raises(DataValidationError, match="allowed_stages"):
        evaluate_eligibility(pd.DataFrame([person()]), allowed_stages=("I", "V"))


# ----------------------------------------------------------------------------- CONSORT


def test_paper_screening_log():
    r = evaluate_eligibility(paper_screening())
    log = screening_log(r, [f"S{i:02d}" for i in range(1, 11)])
    assert (
        log.screened,
        log.not_eligible,
        log.eligible,
        log.enrolled,
        log.eligible_not_enrolled,
    ) == (17, 6, 11, 10, 1)
    by = log.excluded_by_reason
    assert list(by) == list(REASONS)  # every reason, zeros kept
    assert {k: n for k, n in by.items() if n} == {
        "age": 1,
        "stage": 1,
        "relapse_free": 1,
        "other_cancer": 1,
        "xerogenic_medication": 1,
        "other_salivary_gland_disease": 1,
        "alcohol_abuse": 1,
        "smoking": 1,
    }
    assert sum(by.values()) == 8 > log.not_eligible  # S14 and S16 have two reasons each
    frame = log.to_frame()
    assert frame["item"].tolist()[:2] == ["screened", "not_eligible"]
    assert frame.set_index("item").loc["reason:smoking", "n"] == 1
    assert frame["n"].iloc[-1] == 10


def test_screening_log_errors():
    r = evaluate_eligibility(paper_screening())
    with pytest.raises(DataValidationError, match="'S99' was not screened"):
        screening_log(r, ["S99"])
    with pytest.raises(DataValidationError, match="'S11' is not eligible"):
        screening_log(r, ["S01", "S11"])
    with pytest.raises(DataValidationError, match="given twice"):
        screening_log(r, ["S01", "S01"])
    bad = r.copy()
    bad.loc[0, "eligible"] = False
    with pytest.raises(DataValidationError, match="empty exactly when eligible"):
        screening_log(bad, [])
    bad = r.copy()
    bad["reasons"] = bad["reasons"].astype(object)
    bad.at[11, "reasons"] = ("tall",)
    with pytest.raises(DataValidationError, match="row 12, column 'reasons'"):
        screening_log(bad, [])
    with pytest.raises(DataValidationError, match="screening id given twice"):
        screening_log(pd.concat([r, r.iloc[:1]], ignore_index=True), [])
    with pytest.raises(DataValidationError, match="not found"):
        screening_log(r.drop(columns="reasons"), [])


_flags = st.sampled_from(["yes", "no"])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "age": st.integers(10, 90),
                "uicc8_stage": st.sampled_from(["I", "II", "III", "IV"]),
                "years_since_radiotherapy": st.floats(0, 6),
                "relapse_since_radiotherapy": _flags,
                "objective_salivary_damage": _flags,
                "subjective_salivary_damage": _flags,
                **{f: st.sampled_from(["no", "no", "no", "yes"]) for f in EXCLUSION_FLAGS},
            }
        ),
        min_size=1,
        max_size=12,
    ),
    st.data(),
)
def test_screening_properties(people, data):
    rows = [person(f"S{i}", **p) for i, p in enumerate(people)]
    r = evaluate_eligibility(pd.DataFrame(rows, columns=list(SCREENING_COLUMNS)))
    assert (r["eligible"] == (r["reasons"].map(len) == 0)).all()
    ok = r.loc[r["eligible"], "subject"].tolist()
    enrolled = data.draw(st.lists(st.sampled_from(ok), unique=True) if ok else st.just([]))
    log = screening_log(r, enrolled)
    assert log.screened == len(rows) == log.eligible + log.not_eligible
    assert log.enrolled + log.eligible_not_enrolled == log.eligible
    assert all(0 <= n <= log.not_eligible for n in log.excluded_by_reason.values())
    assert sum(log.excluded_by_reason.values()) >= log.not_eligible
    for p, reasons in zip(people, r["reasons"], strict=True):
        assert ("age" in reasons) == (not 18 <= p["age"] <= 75)
        assert ("smoking" in reasons) == (p["smoking"] == "yes")
