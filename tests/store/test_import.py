"""Import: all or nothing, every problem listed, idempotent re-import, Excel, SQLite and PG."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from xerotrial.store.audit import verify
from xerotrial.store.errors import ImportRejectedError, StoreError
from xerotrial.store.export import read_form
from xerotrial.store.forms import FORMS
from xerotrial.store.importer import import_file
from xerotrial.store.schema import AUDIT, META, TABLES

from .sample import SAMPLE


def _snapshot(engine: Engine) -> dict:
    with engine.connect() as conn:
        out = {
            name: sorted(map(tuple, conn.execute(select(t)).all()), key=repr)
            for name, t in TABLES.items()
        }
        out["audit"] = conn.execute(select(AUDIT)).all()
        out["meta"] = sorted(map(tuple, conn.execute(select(META)).all()))
    return out


def test_whole_trial_imports_and_verifies(full_store: Engine) -> None:
    with full_store.connect() as conn:
        n = conn.execute(select(func.count()).select_from(AUDIT)).scalar()
        rows = sum(
            conn.execute(select(func.count()).select_from(t)).scalar() for t in TABLES.values()
        )
    assert n == rows == 39
    assert verify(full_store).ok
    sial = read_form(full_store, "sialometry")
    assert sial.loc[0, "cup_after_g"] == 14.5 and sial.loc[0, "kind"] == "SWS"


def test_one_bad_row_at_the_end_leaves_no_trace(store: Engine, sample_files, tmp_path) -> None:
    for form in ("sites", "participants", "visits"):
        import_file(store, form, sample_files[form], user="t")
    before = _snapshot(store)
    good = SAMPLE["sialometry"]
    path = tmp_path / "sialometry.csv"
    path.write_text(good + "P02,day30,SWS,11.9,11.0,5\n", encoding="utf-8")
    with pytest.raises(ImportRejectedError) as info:
        import_file(store, "sialometry", path, user="t")
    (p,) = info.value.problems
    assert (p.row, p.column) == (7, "cup_after_g")
    assert _snapshot(store) == before
    path.write_text(good, encoding="utf-8")
    assert import_file(store, "sialometry", path).inserted == 6


def test_every_problem_is_listed(store: Engine, sample_files, tmp_path) -> None:
    import_file(store, "sites", sample_files["sites"])
    import_file(store, "participants", sample_files["participants"])
    path = tmp_path / "v.csv"
    path.write_text(
        "subject,visit,study_day,visit_date\nP01,day0,x,\nP01,day9,0,\n"
        "P07,day0,0,\nP01,day30,29,2024-02-31\n"
    )
    with pytest.raises(ImportRejectedError) as info:
        import_file(store, "visits", path)
    got = [(p.row, p.column) for p in info.value.problems]
    assert got == [(1, "study_day"), (2, "visit"), (3, "subject"), (4, "visit_date")]
    assert "4 problems" in str(info.value)


def test_reimport_changes_nothing_and_changed_rows_need_edit(
    full_store, sample_files, tmp_path
) -> None:
    before = _snapshot(full_store)
    for form, path in sample_files.items():
        res = import_file(full_store, form, path, user="someone else")
        assert res.inserted == 0 and res.unchanged > 0
    assert _snapshot(full_store) == before
    path = tmp_path / "p.csv"
    path.write_text(
        SAMPLE["participants"].replace("P02,S1,patient,M,58", "P02,S1,patient,M,59")
        + "P03,S2,patient,F,70,,3,,\n"
    )
    with pytest.raises(ImportRejectedError) as info:
        import_file(full_store, "participants", path)
    (p,) = info.value.problems
    assert p.column == "age_years" and "xerotrial edit" in p.rule
    assert _snapshot(full_store) == before


def test_new_rows_are_added_to_existing_ones(full_store, tmp_path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(SAMPLE["participants"] + "P03,S2,patient,F,70,,3,,\n")
    res = import_file(full_store, "participants", path)
    assert (res.inserted, res.unchanged) == (1, 3)
    assert verify(full_store).ok


def test_excel_import(store: Engine, sample_files, tmp_path: Path) -> None:
    import_file(store, "sites", sample_files["sites"])
    frame = pd.DataFrame(
        {
            "subject": ["P01", "C01"],
            "site": ["S1", "S1"],
            "group": ["patient", "control"],
            "sex": ["F", "F"],
            "age_years": [61, 60],
            "matched_to": [None, "P01"],
            "enrolment_order": [1, None],
            "race": ["White", "White"],
            "education": ["high", "high"],
        }
    )
    path = tmp_path / "p.xlsx"
    frame.to_excel(path, index=False)
    assert import_file(store, "participants", path).inserted == 2
    got = read_form(store, "participants")
    assert got["age_years"].tolist() == [60, 61]
    assert got["enrolment_order"].tolist() == [None, 1]


def test_bad_inputs(store: Engine, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such file"):
        import_file(store, "participants", tmp_path / "missing.csv")
    with pytest.raises(StoreError, match="unknown form"):
        import_file(store, "patients", tmp_path / "missing.csv")
    assert set(FORMS) == set(SAMPLE)
