"""Every validation rule, one at a time: cell rules, row rules (trial validators), store rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from xerotrial.store.errors import ImportRejectedError
from xerotrial.store.forms import FORMS, Field, parse_cell, template_frame
from xerotrial.store.importer import import_file

from .sample import SAMPLE


@pytest.mark.parametrize(
    ("field", "raw", "value", "rule"),
    [
        (Field("n", "int", lo=1, hi=5), "3", 3, None),
        (Field("n", "int", lo=1, hi=5), "3.0", 3, None),
        (Field("n", "int", lo=1, hi=5), "3.5", None, "whole number"),
        (Field("n", "int", lo=1, hi=5), "x", None, "number"),
        (Field("n", "int", lo=1, hi=5), "0", None, ">= 1"),
        (Field("n", "int", lo=1, hi=5), "6", None, "<= 5"),
        (Field("w", "float", lo=0, unit="g"), "-0.1", None, ">= 0 g"),
        (Field("w", "float", lo=0, unit="g"), "12.5", 12.5, None),
        (Field("w", "float"), "nan", None, "finite"),
        (Field("w", "float"), "", None, None),
        (Field("w", "float", required=True), " ", None, "required"),
        (Field("b", "bool"), "Yes", True, None),
        (Field("b", "bool"), "0", False, None),
        (Field("b", "bool"), "maybe", None, "yes or no"),
        (Field("d", "date"), "2024-02-30", None, "date"),
        (Field("d", "date"), "2024-02-28", dt.date(2024, 2, 28), None),
        (Field("c", "text", choices=("F", "M")), "f", "F", None),
        (Field("c", "text", choices=("F", "M")), "X", None, "one of: F, M"),
        (Field("t", "text"), "x" * 201, None, "at most 200"),
        (FORMS["saliva_ions"].field("ion"), "Sodium", "Na", None),
        (FORMS["saliva_ions"].field("ion"), "Fe", None, "not a recognised ion"),
        (FORMS["scintigraphy"].field("gland"), "Left Parotid", "left_parotid", None),
        (FORMS["scintigraphy"].field("gland"), "thyroid", None, "not a recognised gland"),
    ],
)
def test_cell_rules(field: Field, raw: str, value: object, rule: str | None) -> None:
    got, broken = parse_cell(field, raw)
    if rule is None:
        assert broken is None and got == value
    else:
        assert broken is not None and rule in broken and got is None


#: The forms the issue names, and the sites form added with revision 0002.
ISSUE_FORMS = (
    "participants",
    "screening",
    "visits",
    "sialometry",
    "saliva_ions",
    "qlq_hn35",
    "xq",
    "adverse_events",
    "donors",
    "batches",
    "administrations",
    "hla_antibodies",
    "scintigraphy",
    "safety_labs",
)


def test_templates_and_xpt_names() -> None:
    assert len(FORMS) == 15
    assert set(ISSUE_FORMS) | {"sites"} == set(FORMS)
    assert list(FORMS)[:2] == ["sites", "participants"]  # import order
    for name, spec in FORMS.items():
        assert list(template_frame(name).columns) == list(spec.columns)
        assert set(spec.key) <= set(spec.columns)
        xpt = [f.xpt_name for f in spec.fields]
        assert all(len(n) <= 8 for n in xpt) and len(set(xpt)) == len(xpt), name
        assert spec.describe().startswith(name)


def _replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


# (form, old text, new text, column, substring of the rule); the prerequisites are imported.
BAD_ROWS = [
    ("sites", "S2,,", ",Herlev,DK", "site", "required"),
    (
        "participants",
        "P02,S1,patient,M,58",
        "P02,S9,patient,M,58",
        "site",
        "unknown in the sites form",
    ),
    ("participants", "2,White,medium", "2,Martian,medium", "race", "one of"),
    ("participants", "2,White,medium", "2,White,phd", "education", "one of: low, medium, high"),
    ("donors", "DRB3*01:01,,", "DRB3*01:0X,,", "hla_drb3_1", "not an HLA allele"),
    ("donors", "DRB3*01:01,,", "DRB4*01:01,,", "hla_drb3_1", "not an HLA-DRB3 allele"),
    (
        "donors",
        "DQA1*01:02,DQA1*05:01",
        "DQA1*01:02,DQB1*05:01",
        "hla_dqa1_2",
        "not an HLA-DQA1 allele",
    ),
    ("donors", "DPB1*04:01,DPB1*02:01", "DPB1*04:01,DPB1*0x:01", "hla_dpb1_2", ""),
    ("donors", "DPA1*01:03,DPA1*01:03", "DPA1*01:03,Cw7", "hla_dpa1_2", "not an HLA allele"),
    ("participants", "P02,S1,patient,M,58", "P02,S1,patient,X,58", "sex", "one of"),
    ("participants", "P02,S1,patient,M,58", "P02,S1,patient,M,12", "age_years", ">= 18"),
    ("participants", "C01,S1,control,F,60,P01", "C01,S1,control,F,60,", "matched_to", "matched to"),
    ("participants", "C01,S1,control,F,60,P01", "C01,S1,control,F,60,P09", "matched_to", "unknown"),
    (
        "participants",
        "C01,S1,control,F,60,P01",
        "C01,S1,control,F,60,C01",
        "matched_to",
        "matched to a patient",
    ),
    (
        "screening",
        "SCR002,,2024-01-12,no,uws above threshold",
        "SCR002,,2024-01-12,no,",
        "failed_criteria",
        "names the criteria",
    ),
    ("screening", "SCR003,P02,2024-02-01", "SCR003,P02,2024-13-01", "screening_date", "date"),
    ("visits", "P01,day30,29", "P01,day30,70", "study_day", "outside the window"),
    ("visits", "P01,day30,29", "P01,day31,29", "visit", "unknown visit"),
    ("visits", "P02,day30,31", "P03,day30,31", "subject", "unknown participant"),
    (
        "sialometry",
        "P01,day0,UWS,12.0,12.9",
        "P01,day0,UWS,12.0,11.9",
        "cup_after_g",
        "less after collection",
    ),
    (
        "sialometry",
        "P01,day0,UWS,12.0,12.9",
        "P01,day0,UWS,12.0,99.9",
        "cup_after_g",
        "plausible maximum",
    ),
    ("sialometry", "P01,day0,UWS,12.0,12.9", "P01,day0,XWS,12.0,12.9", "kind", "one of"),
    ("sialometry", "P02,day30,UWS", "P02,day5,UWS", "visit", "unknown visit"),
    (
        "sialometry",
        "P02,day30,UWS,11.9,12.61,10",
        "P02,day30,UWS,11.9,12.61,0",
        "minutes",
        ">= 0.1",
    ),
    ("saliva_ions", "P01,day0,UWS,K,20.1", "P01,day0,UWS,K,-1", "value_mmol_l", ">= 0"),
    ("qlq_hn35", "P01,day0,2,2,", "P01,day0,2,5,", "hn32", "<= 4"),
    ("qlq_hn35", "1,2,1,1,\n", "1,3,1,1,\n", "hn62", "<= 2"),
    ("xq", "P01,day0,5,6", "P01,day0,11,6", "xq1", "<= 10"),
    ("adverse_events", "AE1,P01,Pain,1", "AE1,P01,Pain,4", "grade", "has no grade 4"),
    ("adverse_events", "AE1,P01,Pain,1", "AE1,P01,Headache-ish,1", "term", "CTCAE"),
    ("adverse_events", "yes,hospitalisation", "yes,", "sae_criteria", "at least one"),
    ("adverse_events", "not related,82", "not related,-2", "onset_day", ">= 0"),
    ("adverse_events", "related,0", "whatever,0", "related", "relatedness"),
    ("donors", "D1,F,35,A*02:01", "D1,F,35,A*0Z:01", "hla_a_1", ""),
    ("batches", "B1,D1,92.0", "B1,D1,192.0", "viability", "<= 100"),
    ("batches", "B1,D1", "B1,D9", "donor", "unknown in the donors form"),
    ("batches", "negative,negative\n", "negative,unknown\n", "donor_serology", "one of"),
    ("administrations", "P01,left_parotid,B1", "P01,left_parotid,B7", "batch", "unknown"),
    (
        "administrations",
        "P01,left_parotid,B1,0,50,1.0",
        "P01,left_parotid,B1,0,50,-1",
        "volume_ml",
        ">= 0",
    ),
    ("hla_antibodies", "P01,30,A*02:01,5200", "P01,30,A*02:01,-5", "mfi", ">= 0"),
    ("hla_antibodies", "P01,30,A*02:01", "P01,30,Q99", "specificity", ""),
    ("scintigraphy", "left parotid,3,60.0", "left parotid,5,60.0", "uptake_score", "<= 4"),
    (
        "scintigraphy",
        "left parotid,3,60.0",
        "left parotid,3,160.0",
        "excretion_fraction_pct",
        "<= 100",
    ),
    ("safety_labs", "13.2,g/dL", "13.2,mg/dL", "unit", "unit of haemoglobin"),
    ("safety_labs", "25,U/L,,40", "25,U/L,50,40", "upper_limit", ">= lower_limit"),
    ("safety_labs", "P01,day0,haemoglobin,13.2", "P01,day0,haemoglobin,high", "value", "number"),
]


@pytest.fixture
def rules_store(request: pytest.FixtureRequest, tmp_path: Path, sample_files: dict[str, Path]):
    """A SQLite store holding the sample forms that come before the form under test."""
    from xerotrial.store.engine import open_store
    from xerotrial.store.migrate import init_store

    form = request.node.callspec.params["form"]
    url = f"sqlite:///{tmp_path / 'rules.db'}"
    init_store(url)
    engine = open_store(url)
    order = list(FORMS)
    for name in order[: order.index(form)]:
        import_file(engine, name, sample_files[name], user="setup")
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    ("form", "old", "new", "column", "rule"),
    BAD_ROWS,
    ids=[f"{r[0]}-{r[3]}-{i}" for i, r in enumerate(BAD_ROWS)],
)
def test_row_rules(rules_store, tmp_path: Path, form, old, new, column, rule) -> None:
    path = tmp_path / f"{form}.csv"
    path.write_text(_replace(SAMPLE[form], old, new), encoding="utf-8")
    with pytest.raises(ImportRejectedError) as info:
        import_file(rules_store, form, path, user="t")
    problems = info.value.problems
    assert any(p.column == column and rule in p.rule for p in problems), problems
    assert all(p.file == str(path) and p.row >= 0 for p in problems)
    print(info.value)


def test_header_rules(store, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("subject,site,group,sex,age,extra\nP01,S1,patient,F,61,x\n")
    with pytest.raises(ImportRejectedError) as info:
        import_file(store, "participants", path)
    got = {(p.row, p.column, p.rule.split(" (")[0]) for p in info.value.problems}
    assert (0, "age", "not a column of form 'participants'") in got
    assert (0, "extra", "not a column of form 'participants'") in got
    assert (0, "age_years", "required column missing") in got


def test_duplicates_in_file(store, sample_files, tmp_path: Path) -> None:
    import_file(store, "sites", sample_files["sites"])
    path = tmp_path / "p.csv"
    path.write_text(
        "subject,site,group,sex,age_years,race,education,matched_to,enrolment_order\n"
        "P01,S1,patient,F,61,,,,\nP02,S1,patient,F,61,,,,\nP01,S1,patient,F,62,,,,\n"
    )
    with pytest.raises(ImportRejectedError) as info:
        import_file(store, "participants", path)
    (p,) = info.value.problems
    assert (p.row, p.column, p.value) == (3, "subject", "P01")
    assert "duplicate: row 1" in p.rule


def test_every_typed_locus_has_two_validated_columns() -> None:
    from xerotrial.trial.immunology import HLA_LOCI

    donors = FORMS["donors"]
    hla = [c for c in donors.columns if c.startswith("hla_")]
    assert hla == [f"hla_{locus.lower()}_{i}" for locus in HLA_LOCI for i in (1, 2)]
    assert set(HLA_LOCI) >= {
        "A",
        "B",
        "C",
        "DRB1",
        "DRB3",
        "DRB4",
        "DRB5",
        "DQA1",
        "DQB1",
        "DPA1",
        "DPB1",
    }
    assert {donors.field(c).xpt_name for c in hla} >= {"DRB3_1", "DQA1_2", "DPA1_1", "DPB1_2"}
    for locus, example in (("DRB5", "DRB5*01:01"), ("DPB1", "04:01"), ("DQA1", "DQA1*05:05")):
        check = donors.row_checks[0]
        assert check({f"hla_{locus.lower()}_1": example}, None) == []


def test_sample_race_and_education_are_stored_as_the_form_spells_them(full_store) -> None:
    from xerotrial.store.export import read_form

    people = read_form(full_store, "participants").set_index("subject")
    assert people.loc["C01", ["race", "education"]].tolist() == ["White", "high"]
