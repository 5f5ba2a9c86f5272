"""HLA antibodies: positivity, DSA matching, pre-existing vs de novo, Table 4."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xerotrial.stats.errors import DataValidationError
from xerotrial.trial.immunology import (
    derive_dsa,
    derive_hla_positive,
    parse_allele,
    parse_specificity,
    serological_equivalent,
    tabulate_table4,
)

# ----------------------------------------------------------------------------- trial-like data

DONORS = {
    "D1": "A*02:01 A*24:02 B*44:02 B*07:02 C*05:01 C*07:02 DRB1*04:01 DRB1*15:01 DRB4*01:01 "
    "DRB5*01:01 DQA1*03:01 DQA1*01:02 DQB1*03:02 DQB1*06:02 DPA1*01:03 DPB1*04:01 "
    "DPB1*02:01",
    "D2": "A*01:01 A*03:01 B*08:01 B*35:01 C*07:01 C*04:01 DRB1*03:01 DRB1*01:01 DRB3*01:01 "
    "DQA1*05:01 DQA1*01:01 DQB1*02:01 DQB1*05:01 DPA1*01:03 DPB1*04:01",
    "D3": "A*11:01 A*02:05 B*51:01 B*57:01 C*15:02 C*06:02 DRB1*07:01 DRB1*11:01 DRB3*02:02 "
    "DRB4*01:03 DQA1*02:01 DQA1*05:05 DQB1*02:02 DQB1*03:01 DPA1*02:01 DPB1*01:01",
}
PATIENT_DONOR = {
    "P1": "D1",
    "P2": "D1",
    "P3": "D2",
    "P4": "D2",
    "P5": "D2",
    "P6": "D3",
    "P7": "D3",
    "P8": "D1",
    "P9": "D3",
    "P10": "D3",
}
DAYS = (0, 30, 120)


def typing_frame(donors=DONORS) -> pd.DataFrame:
    rows = []
    for donor, alleles in donors.items():
        for a in alleles.split():
            rows.append({"donor": donor, "locus": f"HLA-{a.split('*')[0]}", "allele": a})
    return pd.DataFrame(rows)


def patient_donor_frame() -> pd.DataFrame:
    return pd.DataFrame({"subject": list(PATIENT_DONOR), "donor": list(PATIENT_DONOR.values())})


def paper_results() -> pd.DataFrame:
    """Single-antigen results telling the paper's story (Table 4 itself is not in the text)."""
    r = [
        # P1: pre-existing DSA (A*02:01 of D1), up at 1 month, down at 4 months; a non-DSA
        ("P1", 0, "A*02:01", 3500),
        ("P1", 0, "A*68:01", 1500),
        ("P1", 30, "A*02:01", 5200),
        ("P1", 30, "A*68:01", 1600),
        ("P1", 120, "A*02:01", 2100),
        ("P1", 120, "A*68:01", 1200),
        # P5 (D2): nothing at baseline; de novo DSAs at 1 month plus other antibodies
        ("P5", 0, "A*01:01", 300),
        ("P5", 0, "DR17", 150),
        ("P5", 30, "A*01:01", 4000),
        ("P5", 30, "DR17", 2600),
        ("P5", 30, "B*57:01", 1800),
        ("P5", 30, "A*11:01", 2200),
        ("P5", 120, "A*01:01", 3000),
        ("P5", 120, "DR17", 900),
        ("P5", 120, "B*57:01", 1500),
        # P10 (D3): de novo DSAs at 4 months (antigen-level DQ7, group-level B*51:02)
        ("P10", 120, "DQ7", 2500),
        ("P10", 120, "B*51:02", 1900),
        ("P10", 120, "A*24:02", 1300),
        ("P10", 120, "DR4", 1400),
        # P2 and P3: very low intensity, no DSA
        ("P2", 30, "B*13:02", 1150),
        ("P2", 120, "B*13:02", 1050),
        ("P3", 120, "DQ4", 1200),
    ]
    return pd.DataFrame(r, columns=["subject", "study_day", "specificity", "mfi"])


def all_samples() -> pd.DataFrame:
    return pd.DataFrame(
        [(p, d) for p in PATIENT_DONOR for d in DAYS], columns=["subject", "study_day"]
    )


@pytest.fixture
def dsa() -> pd.DataFrame:
    return derive_dsa(paper_results(), typing_frame(), patient_donor_frame(), samples=all_samples())


def _row(frame, subject, day, spec):
    m = (frame["subject"] == subject) & (frame["study_day"] == day) & (frame["specificity"] == spec)
    assert m.sum() == 1
    return frame[m].iloc[0]


# ----------------------------------------------------------------------------- the narrative


def test_only_one_patient_positive_at_baseline(dsa):
    base = dsa[(dsa["study_day"] == 0) & dsa["positive"]]
    assert set(base["subject"]) == {"P1"}
    assert base["dsa"].any()


def test_p1_preexisting_dsa_rises_then_falls(dsa):
    mfi = [_row(dsa, "P1", d, "A*02:01")["mfi"] for d in DAYS]
    assert mfi[0] < mfi[1] and mfi[2] < mfi[1]
    for d in DAYS:
        r = _row(dsa, "P1", d, "A*02:01")
        assert r["dsa"] and r["onset"] == "pre-existing" and r["match_level"] == "allele"
        assert r["baseline_mfi"] == 3500
    assert not _row(dsa, "P1", 0, "A*68:01")["dsa"]


def test_p5_and_p10_de_novo_dsa_plus_other_antibodies(dsa):
    for subject in ("P5", "P10"):
        pos = dsa[(dsa["subject"] == subject) & dsa["positive"]]
        assert (pos["onset"] == "de novo").all()
        assert pos["dsa"].any() and (~pos["dsa"]).any()
    dr17 = _row(dsa, "P5", 30, "DR17")
    assert dr17["match_level"] == "antigen" and dr17["donor_match"] == "DRB1*03:01"
    assert _row(dsa, "P5", 30, "A*01:01")["match_level"] == "allele"
    assert not _row(dsa, "P5", 120, "DR17")["positive"]  # fell below the cut-off
    assert _row(dsa, "P10", 120, "DQ7")["donor_match"] == "DQB1*03:01"
    b51 = _row(dsa, "P10", 120, "B*51:02")
    assert b51["dsa"] and b51["match_level"] == "allele group" and b51["donor_match"] == "B*51:01"


def test_p2_p3_low_intensity_without_dsa(dsa):
    for subject in ("P2", "P3"):
        pos = dsa[(dsa["subject"] == subject) & dsa["positive"]]
        assert len(pos) > 0 and not pos["dsa"].any()
        assert (pos["mfi"] < 1500).all()
        assert set(pos["onset"]) == {"de novo"}


def test_who_has_dsa(dsa):
    assert sorted(set(dsa.loc[dsa["dsa"], "subject"])) == ["P1", "P10", "P5"]


def test_allele_resolution_drops_group_matches():
    strict = derive_dsa(
        paper_results(),
        typing_frame(),
        patient_donor_frame(),
        resolution="allele",
        samples=all_samples(),
    )
    assert not _row(strict, "P10", 120, "B*51:02")["dsa"]
    assert _row(strict, "P10", 120, "DQ7")["dsa"]  # antigen level is unaffected
    assert _row(strict, "P1", 30, "A*02:01")["dsa"]


def test_table4_long(dsa):
    t = tabulate_table4(dsa, samples=all_samples())
    assert t.columns.tolist() == ["subject", "study_day", "specificity", "mfi", "dsa", "onset"]
    assert t["subject"].iloc[0] == "P1" and t["subject"].iloc[-1] == "P10"
    p1 = t[(t["subject"] == "P1") & (t["study_day"] == 30)]
    assert p1[["specificity", "mfi", "dsa", "onset"]].values.tolist() == [
        ["A*02:01", 5200.0, True, "pre-existing"],
        ["A*68:01", 1600.0, False, "pre-existing"],
    ]
    p5 = t[(t["subject"] == "P5") & (t["study_day"] == 30)]
    assert p5["specificity"].tolist() == ["A*01:01", "DR17", "A*11:01", "B*57:01"]
    # tested samples without antibodies are one empty row each
    p4 = t[t["subject"] == "P4"]
    assert len(p4) == 3 and p4["specificity"].isna().all() and not p4["dsa"].any()
    assert len(t[(t["subject"] == "P5") & (t["study_day"] == 0)]) == 1
    assert len(t) == 19 + 21  # positive antibodies + tested samples without any
    assert t["dsa"].sum() == 3 + 3 + 2  # P1, P5, P10


def test_table4_wide(dsa):
    w = tabulate_table4(dsa, layout="wide")
    assert w.columns.tolist() == [
        "subject",
        "specificity",
        "dsa",
        "onset",
        "first_positive_day",
        "mfi_day_0",
        "mfi_day_30",
        "mfi_day_120",
    ]
    p1 = w[w["subject"] == "P1"].iloc[0]
    assert (p1["specificity"], p1["dsa"], p1["onset"]) == ("A*02:01", True, "pre-existing")
    assert [p1["mfi_day_0"], p1["mfi_day_30"], p1["mfi_day_120"]] == [3500, 5200, 2100]
    dr17 = w[(w["subject"] == "P5") & (w["specificity"] == "DR17")].iloc[0]
    assert dr17["first_positive_day"] == 30 and dr17["mfi_day_0"] == 150
    assert dr17["mfi_day_120"] == 900  # measured, below the cut-off
    p10 = w[w["subject"] == "P10"]
    assert np.isnan(p10["mfi_day_0"]).all()
    assert w["subject"].tolist() == ["P1"] * 2 + ["P2"] + ["P3"] + ["P5"] * 4 + ["P10"] * 4


def test_table4_refuses_bad_layout_and_input(dsa):
    with pytest.raises(DataValidationError, match="layout"):
        tabulate_table4(dsa, layout="pivot")  # type: ignore[arg-type]
    with pytest.raises(DataValidationError, match="not found"):
        tabulate_table4(paper_results())


def test_no_baseline_sample_is_reported_not_guessed():
    r = pd.DataFrame({"subject": ["P1"], "study_day": [30], "specificity": ["A2"], "mfi": [4000]})
    out = derive_dsa(r, typing_frame(), patient_donor_frame())
    assert out["onset"].item() == "no baseline" and out["dsa"].item()
    assert np.isnan(out["baseline_mfi"].item())
    out = derive_dsa(
        r,
        typing_frame(),
        patient_donor_frame(),
        samples=pd.DataFrame({"subject": ["P1"], "study_day": [0]}),
    )
    assert out["onset"].item() == "de novo"


# ----------------------------------------------------------------------------- positivity


def test_positive_is_strict_and_keeps_mfi_and_cutoff():
    r = pd.DataFrame(
        {
            "subject": ["P1"] * 3,
            "study_day": [0] * 3,
            "specificity": ["A2", "A3", "B7"],
            "mfi": [1000, 1000.5, "999"],
        }
    )
    out = derive_hla_positive(r)
    assert out["positive"].tolist() == [False, True, False]
    assert out["mfi"].tolist() == [1000.0, 1000.5, 999.0]
    assert (out["cutoff"] == 1000).all()
    assert derive_hla_positive(r, cutoff=500)["positive"].all()


@pytest.mark.parametrize(
    ("changes", "column", "message"),
    [
        ({"specificity": "Bw4"}, "specificity", "not an HLA specificity"),
        ({"specificity": "X*01:01"}, "specificity", "not an HLA allele"),
        ({"specificity": "A*02:01/A*03:01"}, "specificity", "two chains"),
        ({"specificity": None}, "specificity", "not an HLA specificity"),
        ({"mfi": "high"}, "mfi", "finite number"),
        ({"mfi": float("nan")}, "mfi", "finite number"),
        ({"study_day": 1.5}, "study_day", "whole number"),
        ({"subject": None}, "subject", "id is required"),
    ],
)
def test_positivity_errors(changes, column, message):
    row = {"subject": "P1", "study_day": 0, "specificity": "A2", "mfi": 2000}
    row.update(changes)
    with pytest.raises(DataValidationError, match=message) as err:
        derive_hla_positive(pd.DataFrame([row]))
    assert f"data: row 1, column '{column}'" in str(err.value)


def test_duplicate_bead_in_a_sample_is_an_error():
    r = pd.DataFrame(
        {
            "subject": ["P1", "P1"],
            "study_day": [0, 0],
            "specificity": ["a*02:01", "A*02:01"],
            "mfi": [2000, 2100],
        }
    )
    with pytest.raises(
        DataValidationError, match=r"hla\.csv: line 3 \(data row 2\).*already given on row 1"
    ):
        derive_hla_positive(r, source="hla.csv")


@pytest.mark.parametrize("cutoff", [float("nan"), "x", None])
def test_bad_cutoff(cutoff):
    with pytest.raises(DataValidationError, match="cut-off"):
        derive_hla_positive(paper_results(), cutoff=cutoff)


# ----------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "canonical", "level", "locus"),
    [
        ("A*02:01", "A*02:01", "allele", "A"),
        ("hla-b*07:02:01", "B*07:02", "allele", "B"),
        ("DRB1*04", "DRB1*04", "allele", "DRB1"),
        ("DQB1*03:01/DQA1*05:05", "DQA1*05:05/DQB1*03:01", "allele", "DQB1"),
        ("DPA1*01:03 / DPB1*04:01", "DPA1*01:03/DPB1*04:01", "allele", "DPB1"),
        ("A2", "A2", "antigen", "A"),
        ("Cw7", "Cw7", "antigen", "C"),
        ("c07", "Cw7", "antigen", "C"),
        ("DR4", "DR4", "antigen", "DRB1"),
        ("DR51", "DR51", "antigen", "DRB5"),
        ("DR52", "DR52", "antigen", "DRB3"),
        ("DR53", "DR53", "antigen", "DRB4"),
        ("dq7", "DQ7", "antigen", "DQB1"),
    ],
)
def test_parse_specificity(text, canonical, level, locus):
    s = parse_specificity(text)
    assert (s.text, s.level, s.locus) == (canonical, level, locus)


def test_parse_allele_null_and_locus_prefix():
    a = parse_allele("A*01:11N")
    assert a.null and str(a) == "A*01:11"
    assert str(parse_allele("03:01", "DQB1")) == "DQB1*03:01"
    with pytest.raises(ValueError, match="not an HLA allele"):
        parse_allele("A2")


@pytest.mark.parametrize(
    ("allele", "antigen"),
    [
        ("A*02:05", "A2"),
        ("B*15:01", "B62"),
        ("B*40:02", "B61"),
        ("C*03:04", "Cw10"),
        ("C*07:02", "Cw7"),
        ("DRB1*03:01", "DR17"),
        ("DRB1*15:01", "DR15"),
        ("DRB5*01:01", "DR51"),
        ("DQB1*03:03", "DQ9"),
        ("DQB1*06:02", "DQ6"),
        ("B*15:99", None),
        ("C*15:02", None),
        ("DPB1*04:01", None),
        ("DQA1*05:05", None),
    ],
)
def test_serological_equivalents(allele, antigen):
    assert serological_equivalent(allele) == antigen


# ----------------------------------------------------------------------------- matching


def _match(spec, alleles, resolution="group"):
    donors = {"D": " ".join(alleles)}
    r = pd.DataFrame({"subject": ["X"], "study_day": [0], "specificity": [spec], "mfi": [5000]})
    out = derive_dsa(
        r,
        typing_frame(donors),
        pd.DataFrame({"subject": ["X"], "donor": ["D"]}),
        resolution=resolution,
    )
    return out["match_level"].item(), out["donor_match"].item(), out["dsa"].item()


@pytest.mark.parametrize(
    ("spec", "alleles", "level", "matched"),
    [
        ("A*02:01", ["A*02:01", "A*03:01"], "allele", "A*02:01"),
        ("A*02:01", ["A*02:06", "A*03:01"], "allele group", "A*02:06"),
        ("A*02", ["A*02:01"], "allele group", "A*02:01"),
        ("A*02:01", ["A*02"], "allele group", "A*02"),
        ("A*02:01", ["A*03:01", "A*24:02"], "", ""),
        ("B*07:02", ["A*07:02"], "", ""),  # other locus
        ("A2", ["A*02:01"], "antigen", "A*02:01"),
        ("B62", ["B*15:01"], "antigen", "B*15:01"),
        ("B15", ["B*15:01"], "antigen", "B*15:01"),  # broad antibody, split donor antigen
        ("B63", ["B*15:01"], "", ""),
        ("DR3", ["DRB1*03:01"], "antigen", "DRB1*03:01"),
        ("DR52", ["DRB1*03:01", "DRB3*02:02"], "antigen", "DRB3*02:02"),
        ("DR51", ["DRB1*03:01", "DRB3*02:02"], "", ""),
        ("DQ7", ["DQB1*03:01"], "antigen", "DQB1*03:01"),
        ("DQ3", ["DQB1*03:01"], "antigen", "DQB1*03:01"),
        ("DQ8", ["DQB1*03:01"], "", ""),
        ("Cw7", ["C*07:02"], "antigen", "C*07:02"),
        ("DQA1*05:05/DQB1*03:01", ["DQA1*05:05", "DQB1*03:01"], "allele", "DQA1*05:05/DQB1*03:01"),
        (
            "DQA1*05:01/DQB1*03:01",
            ["DQA1*05:05", "DQB1*03:01"],
            "allele group",
            "DQA1*05:05/DQB1*03:01",
        ),
        ("DQA1*05:05/DQB1*03:01", ["DQA1*05:05", "DQB1*02:01"], "", ""),  # one chain only
        ("DPB1*04:01", ["DPB1*04:01", "DPB1*02:01"], "allele", "DPB1*04:01"),
        ("A*01:11", ["A*01:11N", "A*02:01"], "", ""),  # a null allele is not expressed
    ],
)
def test_matching_rules(spec, alleles, level, matched):
    got_level, got_match, dsa = _match(spec, alleles)
    assert (got_level, got_match, dsa) == (level, matched, bool(level))


def test_allele_resolution_refuses_first_field_typing_or_bead():
    with pytest.raises(DataValidationError, match="first field only"):
        _match("A*02:01", ["A*02"], resolution="allele")
    with pytest.raises(DataValidationError, match="first field only"):
        _match("A*02", ["A*02:01"], resolution="allele")
    assert _match("A*02:01", ["A*02:06"], resolution="allele")[0] == ""


def test_antigen_bead_against_allele_without_serology_is_an_error():
    with pytest.raises(
        DataValidationError,
        match=r"row 1, column 'specificity', value 'B62'.*B\*15:05.*no "
        r"serological equivalent",
    ):
        _match("B62", ["B*15:05", "B*07:02"])


def test_bad_resolution():
    with pytest.raises(DataValidationError, match="resolution"):
        _match("A2", ["A*02:01"], resolution="field")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- donor errors


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ({"donor": "D9", "locus": "HLA-E", "allele": "E*01:01"}, "locus", "the locus is one of"),
        ({"donor": "D9", "locus": "A", "allele": "B*07:02"}, "allele", "not at locus A"),
        ({"donor": "D9", "locus": "A", "allele": "two"}, "allele", "not an HLA allele"),
        ({"donor": "D9", "locus": "A", "allele": None}, "allele", "give the allele"),
        ({"donor": None, "locus": "A", "allele": "A*01:01"}, "donor", "id is required"),
    ],
)
def test_typing_errors(row, column, message):
    t = pd.concat([typing_frame(), pd.DataFrame([row])], ignore_index=True)
    with pytest.raises(DataValidationError, match=message) as err:
        derive_dsa(paper_results(), t, patient_donor_frame())
    assert f"data (donor typing): row {len(t)}, column '{column}'" in str(err.value)


def test_three_alleles_at_a_locus():
    t = pd.concat(
        [typing_frame(), pd.DataFrame([{"donor": "D1", "locus": "A", "allele": "A*03:01"}])],
        ignore_index=True,
    )
    with pytest.raises(DataValidationError, match="more than two alleles at A"):
        derive_dsa(paper_results(), t, patient_donor_frame())


def test_patient_with_two_donors():
    pd_ = pd.concat(
        [patient_donor_frame(), pd.DataFrame([{"subject": "P1", "donor": "D2"}])], ignore_index=True
    )
    with pytest.raises(DataValidationError, match="subject P1 already has donor D1"):
        derive_dsa(paper_results(), typing_frame(), pd_)


def test_unknown_donor_and_subject_without_donor():
    with pytest.raises(DataValidationError, match="no HLA typing for this donor"):
        derive_dsa(
            paper_results(), typing_frame(), pd.DataFrame({"subject": ["P1"], "donor": ["D7"]})
        )
    with pytest.raises(DataValidationError, match="no donor given for this subject"):
        derive_dsa(
            paper_results(), typing_frame(), pd.DataFrame({"subject": ["P1"], "donor": ["D1"]})
        )


def test_sample_before_baseline():
    r = pd.DataFrame({"subject": ["P1"], "study_day": [-7], "specificity": ["A2"], "mfi": [100]})
    with pytest.raises(DataValidationError, match="before the baseline"):
        derive_dsa(r, typing_frame(), patient_donor_frame())
    out = derive_dsa(r, typing_frame(), patient_donor_frame(), baseline_day=-7)
    assert out["baseline_mfi"].item() == 100


def test_samples_frame_is_checked():
    with pytest.raises(DataValidationError, match=r"data \(samples\).*not found"):
        derive_dsa(
            paper_results(),
            typing_frame(),
            patient_donor_frame(),
            samples=pd.DataFrame({"subject": ["P1"]}),
        )


# ----------------------------------------------------------------------------- properties

_BEADS = [
    "A*02:01",
    "A*01:01",
    "A*11:01",
    "B*08:01",
    "B*51:02",
    "DR17",
    "DQ7",
    "DR4",
    "A2",
    "DQA1*05:05/DQB1*03:01",
]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["P1", "P5", "P10"]),
            st.sampled_from(DAYS),
            st.sampled_from(_BEADS),
            st.integers(0, 8000),
        ),
        min_size=1,
        max_size=25,
        unique_by=lambda t: t[:3],
    ),
    st.integers(0, 10**6),
)
def test_dsa_invariants(rows, seed):
    r = pd.DataFrame(rows, columns=["subject", "study_day", "specificity", "mfi"])
    out = derive_dsa(r, typing_frame(), patient_donor_frame())
    assert (out["dsa"] <= out["positive"]).all() and (out["dsa"] <= out["donor_antigen"]).all()
    assert (out["positive"] == (out["mfi"] > 1000)).all()
    assert ((out["onset"] != "") == out["positive"]).all()
    base = out["study_day"] == 0
    assert (out.loc[base & out["positive"], "onset"] == "pre-existing").all()
    # row order does not matter
    shuffled = r.sample(frac=1, random_state=seed)
    again = derive_dsa(shuffled, typing_frame(), patient_donor_frame()).loc[out.index]
    pd.testing.assert_frame_equal(again, out)
    wide = tabulate_table4(out, layout="wide")
    assert len(wide) == len(out.loc[out["positive"], ["subject", "specificity"]].drop_duplicates())
