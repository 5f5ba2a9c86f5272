"""REDCap: an export with its data dictionary imports into the forms, all or nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from xerotrial.store.audit import verify
from xerotrial.store.errors import ImportRejectedError
from xerotrial.store.export import read_form
from xerotrial.store.importer import import_file
from xerotrial.store.redcap import import_redcap

DICTIONARY = """Variable / Field Name,Form Name,Section Header,Field Type,Field Label,"Choices, Calculations, OR Slider Labels"
record_id,participants,,text,Record ID,
site,participants,,text,Site,
group,participants,,radio,Group,"1, patient | 2, control"
sex,participants,,dropdown,Sex,"1, F | 2, M"
age_years,participants,,text,Age,
matched_to,participants,,text,Matched to,
study_day,visits,,text,Study day,
kind,sialometry,,radio,Kind,"1, UWS | 2, SWS"
cup_before_g,sialometry,,text,Cup before (g),
cup_after_g,sialometry,,text,Cup after (g),
minutes,sialometry,,text,Minutes,
comment,notes,,notes,Comment,
"""  # noqa: E501

EXPORT = """record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,site,group,sex,age_years,matched_to,study_day,kind,cup_before_g,cup_after_g,minutes,comment
P01,day0_arm_1,,,S1,1,1,61,,,,,,,
P01,day0_arm_1,,,,,,,,0,,,,,
P01,day0_arm_1,sialometry,1,,,,,,,1,12.0,12.9,10,
P01,day0_arm_1,sialometry,2,,,,,,,2,12.0,14.5,5,
P01,day30_arm_1,,,,,,,,29,,,,,hello
P01,day30_arm_1,sialometry,1,,,,,,,1,12.0,13.1,10,
C01,day0_arm_1,,,S1,2,1,60,P01,,,,,,
"""  # noqa: E501


@pytest.fixture
def store(store: Engine, sample_files: dict[str, Path]) -> Engine:
    """An empty store but for the sites (the REDCap project has no sites instrument)."""
    import_file(store, "sites", sample_files["sites"], user="setup")
    return store


def _write(tmp_path: Path, export: str) -> tuple[Path, Path]:
    (tmp_path / "dd.csv").write_text(DICTIONARY, encoding="utf-8")
    (tmp_path / "export.csv").write_text(export, encoding="utf-8")
    return tmp_path / "export.csv", tmp_path / "dd.csv"


def test_redcap_import(store: Engine, tmp_path: Path) -> None:
    export, dd = _write(tmp_path, EXPORT)
    results = import_redcap(store, export, dd, user="redcap")
    assert [(r.form, r.inserted) for r in results] == [
        ("participants", 2),
        ("visits", 2),
        ("sialometry", 3),
    ]
    people = read_form(store, "participants")
    assert people[["subject", "group", "sex"]].values.tolist() == [
        ["C01", "control", "F"],
        ["P01", "patient", "F"],
    ]
    sial = read_form(store, "sialometry")
    assert sial[["visit", "kind", "cup_after_g"]].values.tolist() == [
        ["day0", "SWS", 14.5],
        ["day0", "UWS", 12.9],
        ["day30", "UWS", 13.1],
    ]
    assert verify(store).ok
    again = import_redcap(store, export, dd)
    assert sum(r.inserted for r in again) == 0


def test_redcap_all_or_nothing(store: Engine, tmp_path: Path) -> None:
    bad = EXPORT.replace("sialometry,1,,,,,,,1,12.0,13.1,10", "sialometry,1,,,,,,,1,12.0,11.1,10")
    export, dd = _write(tmp_path, bad)
    before = verify(store).entries  # the sites
    with pytest.raises(ImportRejectedError) as info:
        import_redcap(store, export, dd)
    (p,) = info.value.problems
    assert p.file.endswith("[sialometry]") and p.row == 6 and p.column == "cup_after_g"
    assert read_form(store, "participants").empty and verify(store).entries == before
    assert pd.read_csv(export).shape[0] == 7
