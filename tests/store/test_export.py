"""Exports: raw round trip (import -> export -> import), Parquet, XPT, analysis datasets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from sqlalchemy import Engine

from xerotrial.store.engine import open_store
from xerotrial.store.errors import StoreError
from xerotrial.store.export import adam_datasets, export_raw, read_form
from xerotrial.store.forms import FORMS
from xerotrial.store.importer import import_file
from xerotrial.store.migrate import init_store


def test_round_trip_is_identical(full_store: Engine, tmp_path: Path) -> None:
    paths = export_raw(full_store, tmp_path / "raw")
    assert [p.stem for p in paths] == list(FORMS)
    for p in paths:
        assert p.read_text().splitlines()[0] == ",".join(FORMS[p.stem].columns)
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    init_store(url)
    copy = open_store(url)
    for p in paths:
        import_file(copy, p.stem, p, user="copy")
    for form in FORMS:
        assert read_form(copy, form).equals(read_form(full_store, form)), form
    # the columns of revision 0002 travel too
    assert read_form(copy, "sites").values.tolist() == [
        ["S1", "Rigshospitalet", "DK"],
        ["S2", None, None],
    ]
    people = read_form(copy, "participants").set_index("subject")
    assert people.loc["C01", ["race", "education"]].tolist() == ["White", "high"]
    donor = read_form(copy, "donors").iloc[0]
    assert (
        donor["hla_drb3_1"],
        donor["hla_drb4_1"],
        donor["hla_dqa1_2"],
        donor["hla_dpa1_1"],
        donor["hla_dpb1_2"],
    ) == ("DRB3*01:01", None, "DQA1*05:01", "DPA1*01:03", "DPB1*02:01")
    # and once more: the export of the copy is byte-identical
    again = export_raw(copy, tmp_path / "raw2")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]
    for p in paths:  # re-importing into the original changes nothing
        assert import_file(full_store, p.stem, p).inserted == 0


def test_parquet_keeps_types(full_store: Engine, tmp_path: Path) -> None:
    export_raw(full_store, tmp_path, "parquet")
    visits = pd.read_parquet(tmp_path / "visits.parquet")
    assert list(visits.columns) == list(FORMS["visits"].columns)
    assert str(visits["study_day"].dtype) == "Int64"
    ae = pd.read_parquet(tmp_path / "adverse_events.parquet")
    assert ae["serious"].tolist() == [False, True]


def test_xpt_names_and_values(full_store: Engine, tmp_path: Path) -> None:
    export_raw(full_store, tmp_path, "xpt")
    frame, meta = pyreadstat.read_xport(str(tmp_path / "sialometry.xpt"))
    assert list(frame.columns) == ["SUBJECT", "VISIT", "KIND", "CUPBEFG", "CUPAFTG", "MINUTES"]
    assert meta.column_labels[3] == "cup_before_g"
    assert frame["CUPAFTG"].tolist() == read_form(full_store, "sialometry")["cup_after_g"].tolist()
    mapping = pd.read_csv(tmp_path / "xpt_names.csv")
    assert (mapping["xpt_name"].str.len() <= 8).all()
    for form in FORMS:  # every template column is mapped, each to its own name
        rows = mapping[mapping["dataset"] == form]
        assert rows["column"].tolist() == list(FORMS[form].columns), form
        assert rows["xpt_name"].is_unique, form
    names = dict(
        zip(mapping["column"] + "@" + mapping["dataset"], mapping["xpt_name"], strict=True)
    )
    assert [names[f"{c}@participants"] for c in ("race", "education")] == ["RACE", "EDUC"]
    assert [names[f"{c}@sites"] for c in ("site", "name", "country")] == ["SITE", "NAME", "COUNTRY"]
    assert [
        names[f"hla_{c}@donors"]
        for c in ("drb3_1", "drb4_2", "drb5_1", "dqa1_2", "dpa1_1", "dpb1_2")
    ] == ["DRB3_1", "DRB4_2", "DRB5_1", "DQA1_2", "DPA1_1", "DPB1_2"]
    donors, meta = pyreadstat.read_xport(str(tmp_path / "donors.xpt"))
    assert donors.loc[0, "DPB1_2"] == "DPB1*02:01" and donors.loc[0, "DRB4_1"] == ""
    assert meta.column_labels[list(donors.columns).index("DPB1_2")] == "hla_dpb1_2"
    people, _ = pyreadstat.read_xport(str(tmp_path / "participants.xpt"))
    assert people["EDUC"].tolist() == read_form(full_store, "participants")["education"].tolist()
    sites, meta = pyreadstat.read_xport(str(tmp_path / "sites.xpt"))
    assert meta.table_name == "SITES" and sites["SITE"].tolist() == ["S1", "S2"]


def test_adam_from_the_store(full_store: Engine, tmp_path: Path) -> None:
    data = adam_datasets(full_store)
    assert set(data) == {"adflow", "adions", "adqs", "adscint"}
    flow = data["adflow"]
    p01 = flow[(flow.USUBJID == "P01") & (flow.PARAMCD == "uws_ml_min")]
    assert p01["AVISIT"].tolist() == ["day0", "day30", "day120"]
    assert p01["AVAL"].round(6).tolist() == [0.09, 0.11, 0.145]
    assert p01["ADY"].tolist() == [0.0, 29.0, 92.0]
    assert p01["AWDEVFL"].tolist() == ["", "", "Y"]
    qs = data["adqs"]
    assert set(qs["PARAMCD"]) >= {"HNDR", "xq_summary"}


def test_bad_format(full_store: Engine, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="--format"):
        export_raw(full_store, tmp_path, "sas7bdat")  # type: ignore[arg-type]
