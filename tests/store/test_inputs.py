"""The store's rows feed the trial functions directly: matching, donor typing, DSA."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from xerotrial.store.errors import StoreError
from xerotrial.store.export import read_form
from xerotrial.store.importer import import_file
from xerotrial.store.inputs import donor_typing, matching_frames, patient_donor
from xerotrial.trial.immunology import HLA_LOCI, derive_dsa
from xerotrial.trial.matching import MATCH_COLUMNS, match_controls

from .sample import SAMPLE

MORE_PEOPLE = """subject,site,group,sex,age_years,race,education,matched_to,enrolment_order
P03,S2,patient,F,45,Asian,low,,3
C02,S2,control,F,49,asian,LOW,P03,
C03,S1,control,M,62,White,medium,P02,
"""


def _matched_to(engine: Engine) -> set[tuple[str, str]]:
    people = read_form(engine, "participants")
    controls = people[people["group"] == "control"]
    return set(zip(controls["matched_to"], controls["subject"], strict=True))


def test_participants_feed_match_controls(full_store: Engine, tmp_path: Path) -> None:
    patients, controls = matching_frames(full_store)
    assert list(patients.columns) == list(controls.columns) == list(MATCH_COLUMNS)
    m = match_controls(patients, controls)
    assert (
        set(zip(m.pairs["patient"], m.pairs["control"], strict=True))
        == (_matched_to(full_store))
        == {("P01", "C01")}
    )
    assert m.unmatched["patient"].tolist() == ["P02"]


def test_matching_uses_race_and_education(full_store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "more.csv"
    path.write_text(MORE_PEOPLE, encoding="utf-8")
    import_file(full_store, "participants", path)
    m = match_controls(*matching_frames(full_store))
    pairs = set(zip(m.pairs["patient"], m.pairs["control"], strict=True))
    assert pairs == {("P01", "C01"), ("P02", "C03"), ("P03", "C02")} == _matched_to(full_store)
    assert m.unused_controls == ()
    assert m.pairs.set_index("patient").loc["P03", ["race", "education"]].tolist() == [
        "Asian",
        "low",
    ]


def test_matching_needs_race_and_education(full_store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(SAMPLE["participants"] + "P04,S1,patient,F,50,,4,,low\n", encoding="utf-8")
    import_file(full_store, "participants", path)
    with pytest.raises(StoreError, match=r"missing for: P04 \(race\)"):
        matching_frames(full_store)


def test_donor_typing_has_every_locus(full_store: Engine) -> None:
    typing = donor_typing(full_store)
    assert list(typing.columns) == ["donor", "locus", "allele"]
    d1 = typing[typing["donor"] == "D1"]
    # the sample donor carries DRB3 and DRB5, not DRB4 (one allele each)
    assert d1["locus"].drop_duplicates().tolist() == [
        locus for locus in HLA_LOCI if locus != "DRB4"
    ]
    assert d1.groupby("locus").size().to_dict() == {
        locus: 1 if locus in ("DRB3", "DRB5") else 2 for locus in HLA_LOCI if locus != "DRB4"
    }
    assert patient_donor(full_store).values.tolist() == [["P01", "D1"]]


def test_store_feeds_derive_dsa_at_the_new_loci(full_store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "ab.csv"
    path.write_text(
        SAMPLE["hla_antibodies"] + "P01,30,DPB1*04:01,3000\n"
        "P01,30,DQA1*05:01/DQB1*02:01,2500\nP01,30,DRB5*01:01,1800\n"
        "P01,30,DRB4*01:01,4000\nP01,30,DPB1*01:01,6000\n",
        encoding="utf-8",
    )
    import_file(full_store, "hla_antibodies", path)
    results = read_form(full_store, "hla_antibodies")
    results = results.astype({"study_day": int, "mfi": float})
    out = derive_dsa(results, donor_typing(full_store), patient_donor(full_store))
    day30 = out[out["study_day"] == 30].set_index("specificity")
    assert day30["dsa"].to_dict() == {
        "A*02:01": True,
        "DPB1*04:01": True,
        "DQA1*05:01/DQB1*02:01": True,
        "DRB5*01:01": True,
        "DRB4*01:01": False,
        "DPB1*01:01": False,
    }
