"""REDCap: an export with its data dictionary imports into the forms, all or nothing."""

from __future__ import annotations

import csv
import io
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
race,participants,,text,Race,
education,participants,,text,Education,
enrolment_order,participants,,text,Enrolment order,
study_day,visits,,text,Study day,
visit_date,visits,,text,Visit date,
kind,sialometry,,radio,Kind,"1, UWS | 2, SWS"
cup_before_g,sialometry,,text,Cup before (g),
cup_after_g,sialometry,,text,Cup after (g),
minutes,sialometry,,text,Minutes,
comment,notes,,notes,Comment,
"""  # noqa: E501

EXPORT = """record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,site,group,sex,age_years,matched_to,race,education,enrolment_order,study_day,visit_date,kind,cup_before_g,cup_after_g,minutes,comment,participants_complete
P01,day0_arm_1,,,S1,1,1,61,,,,1,,,,,,,,2
P01,day0_arm_1,,,,,,,,,,,0,,,,,,,
P01,day0_arm_1,sialometry,1,,,,,,,,,,,1,12.0,12.9,10,,
P01,day0_arm_1,sialometry,2,,,,,,,,,,,2,12.0,14.5,5,,
P01,day30_arm_1,,,,,,,,,,,29,,,,,,hello,
P01,day30_arm_1,sialometry,1,,,,,,,,,,,1,12.0,13.1,10,,
C01,day0_arm_1,,,S1,2,1,60,P01,,,,,,,,,,,2
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
    results = import_redcap(store, export, dd, user="redcap", skip=["notes"])
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
    again = import_redcap(store, export, dd, skip=["notes"])
    assert sum(r.inserted for r in again) == 0


def test_redcap_all_or_nothing(store: Engine, tmp_path: Path) -> None:
    bad = EXPORT.replace("1,12.0,13.1,10", "1,12.0,11.1,10")
    export, dd = _write(tmp_path, bad)
    before = verify(store).entries  # the sites
    with pytest.raises(ImportRejectedError) as info:
        import_redcap(store, export, dd, skip=["notes"])
    (p,) = info.value.problems
    assert p.file.endswith("[sialometry]") and p.row == 6 and p.column == "cup_after_g"
    assert read_form(store, "participants").empty and verify(store).entries == before
    assert pd.read_csv(export).shape[0] == 7


def _drop(export: str, column: str) -> str:
    rows = list(csv.reader(io.StringIO(export)))
    k = rows[0].index(column)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([r[:k] + r[k + 1 :] for r in rows])
    return out.getvalue()


def _refused(store: Engine, tmp_path: Path, export: str, dictionary: str = DICTIONARY):
    (tmp_path / "dd.csv").write_text(dictionary, encoding="utf-8")
    (tmp_path / "export.csv").write_text(export, encoding="utf-8")
    before = verify(store).entries
    with pytest.raises(ImportRejectedError) as info:
        import_redcap(store, tmp_path / "export.csv", tmp_path / "dd.csv", skip=["notes"])
    assert verify(store).entries == before and read_form(store, "participants").empty
    return [(p.column, p.value, p.rule) for p in info.value.problems]


def test_every_field_and_column_goes_somewhere(store: Engine, tmp_path: Path) -> None:
    # an instrument that is not a form, unless skipped by name
    (tmp_path / "dd.csv").write_text(DICTIONARY, encoding="utf-8")
    (tmp_path / "export.csv").write_text(EXPORT, encoding="utf-8")
    with pytest.raises(ImportRejectedError, match="instrument 'notes' .* is not a form"):
        import_redcap(store, tmp_path / "export.csv", tmp_path / "dd.csv")
    # a field of a form's instrument that is not a column of the form
    dd = DICTIONARY.replace("comment,notes,", "weight_kg,participants,")
    probs = _refused(store, tmp_path, EXPORT.replace(",comment,", ",weight_kg,"), dd)
    assert probs[0][:2] == ("Variable / Field Name", "weight_kg")
    assert "not a column of the form" in probs[0][2]
    # an export column that the dictionary does not have
    probs = _refused(store, tmp_path, EXPORT.replace(",comment,", ",remarks,"))
    assert ("remarks", None) in [p[:2] for p in probs]
    # a dictionary field missing from the export
    probs = _refused(store, tmp_path, _drop(EXPORT, "visit_date"))
    assert probs == [
        (
            "visit_date",
            None,
            "field 'visit_date' of instrument 'visits' is in the dictionary but not in the export",
        )
    ]
    # a form column the instrument lacks
    dd = DICTIONARY.replace("visit_date,visits,,text,Visit date,\n", "")
    probs = _refused(store, tmp_path, EXPORT, dd)
    assert [(c, r.split(" (")[0]) for c, _, r in probs] == [
        ("visit_date", "instrument 'visits' has no field 'visit_date'"),
        ("visit_date", "a column of the export that is not a field of the data dictionary"),
    ]
    # checkbox fields
    dd = DICTIONARY.replace("kind,sialometry,,radio", "kind,sialometry,,checkbox")
    assert "checkbox" in _refused(store, tmp_path, EXPORT, dd)[0][2]
