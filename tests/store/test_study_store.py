"""A store for any study definition (``init --study``): REDCap records in, the same out; every
bad cell, event, arm, instrument and column refused by name with nothing written; the audit
trail replayed and tampering caught; on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from xerotrial.cli import app
from xerotrial.errors import ImportRejectedError, StoreError
from xerotrial.store.engine import open_store
from xerotrial.store.migrate import init_store
from xerotrial.store.redcap_records import import_redcap_records
from xerotrial.store.schema import AUDIT
from xerotrial.store.study_export import clinical_records, export_study
from xerotrial.store.study_schema import study_tables
from xerotrial.store.study_store import init_study_store, stored_study
from xerotrial.store.verify import verify

DATA = Path(__file__).parent / "study_data"
DEF = DATA / "two_arms.toml"
RECORDS = DATA / "two_arms_records.csv"


@pytest.fixture
def study_store(db_url: str) -> Engine:
    init_study_store(db_url, DEF, user="ana")
    engine = open_store(db_url)
    yield engine
    engine.dispose()


def _entries(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(AUDIT)).scalar_one()


def _edited(tmp_path: Path, edits: dict[tuple[int, str], str], extra: str | None = None) -> Path:
    rows = list(csv.DictReader(RECORDS.open(encoding="utf-8")))
    for (i, col), value in edits.items():
        rows[i][col] = value
    header = list(rows[0]) + ([extra] if extra else [])
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n", restval="")
    w.writeheader()
    w.writerows(rows)
    path = tmp_path / "records.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def test_records_round_trip_identically_and_the_trail_replays(
    study_store: Engine, tmp_path: Path
) -> None:
    result, notes = import_redcap_records(study_store, RECORDS, user="ana")
    assert (result.inserted, result.subjects, result.unchanged) == (7, 2, 0)
    assert notes == []
    out = tmp_path / "out"
    export_study(study_store, out, fmt="redcap")
    assert (out / "records.csv").read_bytes() == RECORDS.read_bytes()
    report = verify(study_store)
    assert report.ok, report.problems
    assert report.entries == 2 + 2 + 7  # layout and definition, subjects, form rows
    again, _ = import_redcap_records(study_store, RECORDS, user="ana")
    assert (again.inserted, again.unchanged) == (0, 7)
    assert _entries(study_store) == report.entries


def test_raw_csv_has_one_file_per_form_with_each_fields_own_name(
    study_store: Engine, tmp_path: Path
) -> None:
    import_redcap_records(study_store, RECORDS, user="ana")
    paths = export_study(study_store, tmp_path, fmt="csv")
    assert [p.name for p in paths] == [
        "subjects.csv",
        "enrolment.csv",
        "saliva.csv",
        "adverse_events.csv",
    ]
    enrol = (tmp_path / "enrolment.csv").read_text().splitlines()
    assert enrol[0] == (
        "subject,visit,age,sex,smoker,symptoms___1,symptoms___2,symptoms___3,pain_detail,"
        "form_status"
    )
    assert enrol[1] == "1,baseline,61,1,0,1,1,0,sharp,2"
    assert (tmp_path / "subjects.csv").read_text().splitlines() == [
        "subject,site,arm",
        "1,rh,arm_1",
        "2,ou,arm_2",
    ]
    ae = (tmp_path / "adverse_events.csv").read_text().splitlines()
    assert ae[0] == "subject,visit,instance,term,grade,serious,form_status"
    assert ae[2] == "1,month_1,2,Swelling,3,1,2"
    assert "verified" in (tmp_path / "AUDIT_STATUS.txt").read_text()


def test_stored_types_are_the_fields_types(study_store: Engine) -> None:
    import_redcap_records(study_store, RECORDS, user="ana")
    with study_store.connect() as conn:
        study = stored_study(conn)
        tables = study_tables(study)
        enrol = conn.execute(select(tables["enrolment"])).mappings().first()
        saliva = conn.execute(select(tables["saliva"])).mappings().first()
        records = clinical_records(conn, study)
    assert enrol["age"] == 61 and enrol["smoker"] is False and enrol["symptoms"] == "1,2"
    assert saliva["before_g"] == 10.0 and saliva["visit_date"] == dt.date(2024, 1, 10)
    first = records[0]
    assert first["form"] == "enrolment" and first["values"]["symptoms"] == ["1", "2"]
    assert first["site"] == "rh" and first["status"] == 2


BAD = [
    pytest.param(
        {(0, "redcap_event_name"): "baseline_arm_3"},
        "redcap_event_name",
        "unknown arm 3",
        id="unknown-arm",
    ),
    pytest.param(
        {(0, "redcap_event_name"): "screening_arm_1"},
        "redcap_event_name",
        "unknown event",
        id="unknown-event",
    ),
    pytest.param(
        {(2, "redcap_repeat_instrument"): "medications"},
        "redcap_repeat_instrument",
        "unknown instrument",
        id="unknown-instrument",
    ),
    pytest.param(
        {(2, "redcap_repeat_instrument"): "saliva"},
        "redcap_repeat_instrument",
        "not a repeating form",
        id="instrument-not-repeating",
    ),
    pytest.param({(0, "symptoms___1"): "2"}, "symptoms___1", "0 or 1", id="checkbox-not-0-1"),
    pytest.param({(0, "age"): "150"}, "age", "must be <= 90", id="hard-limit"),
    pytest.param({(0, "age"): "sixty"}, "age", "whole number", id="not-a-number"),
    pytest.param({(0, "sex"): "3"}, "sex", "must be one of", id="unknown-choice"),
    pytest.param(
        {(0, "before_g"): "10.001"}, "before_g", "at most 2 decimal places", id="precision"
    ),
    pytest.param({(0, "diff_g"): "1.40"}, "diff_g", "its calculation", id="calc-disagrees"),
    pytest.param(
        {(0, "after_g"): "9.00", (0, "diff_g"): "-1.00"},
        None,
        "cup weight after must be at least before",
        id="check-fails",
    ),
    pytest.param({(0, "age"): ""}, "age", "required", id="required-in-a-complete-form"),
    pytest.param(
        {(1, "age"): "60", (1, "enrolment_complete"): "2"},
        None,
        "not due at visit month_1",
        id="form-not-due",
    ),
    pytest.param({(4, "redcap_data_access_group"): "zz"}, "site", "not a site", id="unknown-site"),
    pytest.param(
        {(1, "redcap_data_access_group"): "ou"},
        "redcap_data_access_group",
        "record 1 is in rh",
        id="two-sites",
    ),
    pytest.param(
        {(1, "redcap_event_name"): "month_1_arm_2"},
        "redcap_event_name",
        "a record is in one arm",
        id="two-arms",
    ),
    pytest.param(
        {(2, "age"): "60"},
        "age",
        "on a row of instrument adverse_events",
        id="value-on-another-instruments-row",
    ),
    pytest.param(
        {(0, "term"): "Rash"}, "term", "no repeat instrument", id="repeating-value-on-a-visit-row"
    ),
    pytest.param({(3, "redcap_repeat_instance"): "1"}, None, "given twice", id="instance-twice"),
    pytest.param({(0, "visit_date"): "2024-02-30"}, "visit_date", "date", id="bad-date"),
    pytest.param({(0, "saliva_complete"): "3"}, "saliva_complete", "0, 1 or 2", id="bad-status"),
]


@pytest.mark.parametrize(("edits", "column", "rule"), BAD)
def test_a_bad_record_is_refused_by_name_and_nothing_is_written(
    study_store: Engine, tmp_path: Path, edits: dict, column: str | None, rule: str
) -> None:
    before = _entries(study_store)
    with pytest.raises(ImportRejectedError) as info:
        import_redcap_records(study_store, _edited(tmp_path, edits), user="ana")
    found = [p for p in info.value.problems if rule in p.rule]
    assert found, [str(p) for p in info.value.problems]
    assert found[0].column == column
    assert found[0].line is not None
    assert _entries(study_store) == before
    with study_store.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM subjects")).scalar_one() == 0


def test_an_unknown_column_is_named(study_store: Engine, tmp_path: Path) -> None:
    with pytest.raises(ImportRejectedError) as info:
        import_redcap_records(study_store, _edited(tmp_path, {}, extra="mystery"), user="ana")
    assert [(p.column, p.line) for p in info.value.problems] == [("mystery", 1)]


def test_soft_limits_and_hidden_values_are_warnings(study_store: Engine, tmp_path: Path) -> None:
    path = _edited(tmp_path, {(0, "age"): "85", (4, "pain_detail"): "none"})
    result, _ = import_redcap_records(study_store, path, user="ana")
    assert result.inserted == 7
    assert any("above the expected 80" in w and "age" in w for w in result.warnings)
    assert any("branching logic" in w and "pain_detail" in w for w in result.warnings)


def test_a_changed_value_is_an_edit_not_a_reimport(study_store: Engine, tmp_path: Path) -> None:
    import_redcap_records(study_store, RECORDS, user="ana")
    with pytest.raises(ImportRejectedError) as info:
        import_redcap_records(study_store, _edited(tmp_path, {(0, "age"): "62"}), user="ana")
    assert "correct it with an edit" in info.value.problems[0].rule


def test_a_change_behind_the_stores_back_is_caught(study_store: Engine, tmp_path: Path) -> None:
    import_redcap_records(study_store, RECORDS, user="ana")
    with study_store.begin() as conn:
        conn.execute(text("UPDATE enrolment SET age = 16 WHERE subject = '1'"))
    report = verify(study_store)
    assert any("enrolment row" in p and "age" in p for p in report.problems)
    with pytest.raises(StoreError, match="fails its audit check"):
        import_redcap_records(study_store, _edited(tmp_path, {}), user="ana")


def test_init_refuses_a_used_database_and_repeats_quietly(db_url: str, tmp_path: Path) -> None:
    init_study_store(db_url, DEF, user="ana")
    init_study_store(db_url, DEF, user="ana")  # the same definition: nothing to do
    other = tmp_path / "other.toml"
    other.write_text(DEF.read_text().replace('version = "1"', 'version = "2"', 1))
    with pytest.raises(StoreError, match="study amend"):
        init_study_store(db_url, other, user="ana")


def test_init_study_refuses_a_seed_store(tmp_path: Path) -> None:
    db = tmp_path / "seed.db"
    init_store(db)
    with pytest.raises(StoreError, match="already holds tables"):
        init_study_store(db, DEF, user="ana")


def test_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "s.db")
    r = runner.invoke(app, ["init", "--db", db, "--study", str(DEF)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["import", "redcap", str(RECORDS), "--db", db])
    assert r.exit_code == 0, r.output
    assert "7 form row(s) imported" in r.output
    out = tmp_path / "raw"
    r = runner.invoke(app, ["export", "raw", "--db", db, "--out", str(out), "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert (out / "adverse_events.csv").is_file()
    r = runner.invoke(app, ["export", "odm", "--db", db, "--out", str(tmp_path / "data.xml")])
    assert r.exit_code == 0, r.output
    bad = _edited(tmp_path, {(0, "redcap_event_name"): "x_arm_1"}, extra="mystery")
    r = runner.invoke(app, ["import", "redcap", str(bad), "--db", db])
    assert r.exit_code == 2
    assert "mystery" in r.output


def test_odm_clinical_data_is_valid_and_reads_back(study_store: Engine, tmp_path: Path) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    from importlib.resources import files

    from xerotrial.store.study_export import odm_export
    from xerotrial.study.odm import read_clinical_data

    import_redcap_records(study_store, RECORDS, user="ana")
    path = odm_export(study_store, tmp_path / "data.xml")
    schema = xmlschema.XMLSchema(str(files("odmlib") / "schemas/odm/1.3.2/ODM1-3-2.xsd"))
    errors = [e.reason for e in schema.iter_errors(path.read_text(encoding="utf-8"))]
    assert errors == []
    back = read_clinical_data(path.read_bytes())
    with study_store.connect() as conn:
        want = clinical_records(conn, stored_study(conn))
    key = lambda r: (r["subject"], r["visit"], r["form"], r["instance"])  # noqa: E731
    assert sorted(back, key=key) == sorted(
        [r | {"values": {k: v for k, v in r["values"].items() if v not in ("", [])}} for r in want],
        key=key,
    )


def test_the_raw_csv_export_imports_back_into_a_new_store(
    study_store: Engine, tmp_path: Path
) -> None:
    from xerotrial.store.study_csv import import_study_csv

    import_redcap_records(study_store, RECORDS, user="ana")
    paths = export_study(study_store, tmp_path / "raw", fmt="csv")
    fresh = tmp_path / "fresh.db"
    init_study_store(fresh, DEF, user="ana")
    engine = open_store(fresh)
    for p in paths:  # subjects.csv first
        import_study_csv(engine, p.stem, p, user="ana")
    export_study(engine, tmp_path / "back", fmt="redcap")
    assert (tmp_path / "back" / "records.csv").read_bytes() == RECORDS.read_bytes()
    with pytest.raises(ImportRejectedError) as info:  # a form row of an unknown subject
        (tmp_path / "x.csv").write_text("subject,visit,term\n9,month_1,Rash\n")
        import_study_csv(engine, "adverse_events", tmp_path / "x.csv", user="ana")
    assert "unknown subject" in info.value.problems[0].rule
    with pytest.raises(ImportRejectedError) as info:
        (tmp_path / "y.csv").write_text("subject,visit,age,colour\n1,baseline,60,red\n")
        import_study_csv(engine, "enrolment", tmp_path / "y.csv", user="ana")
    assert [p.column for p in info.value.problems] == ["colour"]
    engine.dispose()


def test_xpt_and_parquet_read_back(study_store: Engine, tmp_path: Path) -> None:
    import pandas as pd
    import pyreadstat

    import_redcap_records(study_store, RECORDS, user="ana")
    export_study(study_store, tmp_path / "x", fmt="xpt")
    df, meta = pyreadstat.read_xport(str(tmp_path / "x" / "saliva.xpt"))
    assert meta.table_name == "SALIVA"
    assert list(df.columns) == [
        "SUBJECT", "VISIT", "INSTANCE", "FORMSTAT", "VISIT_DA", "BEFORE_G", "AFTER_G", "DIFF_G",
    ]  # fmt: skip
    assert df["AFTER_G"].tolist() == [11.5, 10.75, 9.9]
    assert df["VISIT_DA"].tolist()[0] == "2024-01-10"
    names = (tmp_path / "x" / "xpt_names.csv").read_text().splitlines()
    assert "saliva,SALIVA,visit_date,VISIT_DA" in names
    export_study(study_store, tmp_path / "p", fmt="parquet")
    enrol = pd.read_parquet(tmp_path / "p" / "enrolment.parquet")
    assert str(enrol["age"].dtype) == "Int64" and str(enrol["smoker"].dtype) == "boolean"
    assert enrol["symptoms"].tolist() == ["1,2", "3"]


def test_xpt_names_that_clash_are_refused(tmp_path: Path) -> None:
    from xerotrial.store.study_export import xpt_names
    from xerotrial.study import load_study

    text = DEF.read_text().replace(
        "after_g = {",
        'after_gram = {type = "decimal"}\nafter_grams = {type = "decimal"}\nafter_g = {',
    )
    (tmp_path / "d.toml").write_text(text)
    with pytest.raises(StoreError, match="after_gram and after_grams are both XPT AFTER_GR"):
        xpt_names(load_study(tmp_path / "d.toml"))
