"""``study amend``: a new version of a store's definition is applied with its diff audited,
or refused while any captured value would be invalidated, each listed; data keep the
version they were captured under. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from xerotrial.cli import app
from xerotrial.errors import StoreError
from xerotrial.store.audit import show
from xerotrial.store.engine import open_store
from xerotrial.store.redcap_records import import_redcap_records
from xerotrial.store.study_amend import AmendmentBlockedError, amend_store
from xerotrial.store.study_edit import edit_study_row
from xerotrial.store.study_export import export_study
from xerotrial.store.study_schema import study_tables
from xerotrial.store.study_store import init_study_store, stored_study
from xerotrial.store.verify import verify

DATA = Path(__file__).parent / "study_data"
DEF = DATA / "two_arms.toml"
RECORDS = DATA / "two_arms_records.csv"


@pytest.fixture
def filled(db_url: str) -> Engine:
    init_study_store(db_url, DEF, user="ana")
    engine = open_store(db_url)
    import_redcap_records(engine, RECORDS, user="ana")
    yield engine
    engine.dispose()


def _version(tmp_path: Path, *edits: tuple[str, str], version: str = "2") -> Path:
    text = DEF.read_text(encoding="utf-8").replace('version = "1"', f'version = "{version}"', 1)
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"v{version}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _entries(engine: Engine) -> int:
    return verify(engine).entries


NARROW = ("lo = 18, hi = 90, required = true, soft_hi = 80", "lo = 18, hi = 50, required = true")


def test_a_narrowed_range_is_refused_naming_each_value(filled: Engine, tmp_path: Path) -> None:
    before = _entries(filled)
    with pytest.raises(AmendmentBlockedError) as info:
        amend_store(filled, _version(tmp_path, NARROW), reason="amendment 2", user="ana")
    blockers = info.value.blockers
    assert len(blockers) == 1 and "age = '61'" in blockers[0] and "must be <= 50" in blockers[0]
    assert _entries(filled) == before
    with filled.connect() as conn:
        assert stored_study(conn).version == "1"


def test_resolved_by_an_edit_then_applied(filled: Engine, tmp_path: Path) -> None:
    edit_study_row(
        filled,
        "enrolment",
        {"subject": "1", "visit": "baseline"},
        {"age": "49"},
        reason="source document says 49",
        user="ana",
    )
    result = amend_store(filled, _version(tmp_path, NARROW), reason="amendment 2", user="bo")
    assert result.new_version == "2"
    assert any("enrolment.age" in line for line in result.diff)
    assert verify(filled).ok


def test_a_removed_field_with_data_is_refused_and_an_empty_one_dropped(
    filled: Engine, tmp_path: Path
) -> None:
    gone = (
        'pain_detail = {type = "text", show_if = "ticked(symptoms, \'2\')"}\n',
        "",
    )
    with pytest.raises(AmendmentBlockedError) as info:
        amend_store(filled, _version(tmp_path, gone), reason="r", user="ana")
    assert info.value.blockers == [
        "field enrolment.pain_detail is removed: enrolment of 1 at baseline holds 'sharp'"
    ]
    edit_study_row(
        filled,
        "enrolment",
        {"subject": "1", "visit": "baseline"},
        {"pain_detail": ""},
        reason="field withdrawn",
        user="ana",
    )
    result = amend_store(filled, _version(tmp_path, gone), reason="r", user="ana")
    assert any("DROP COLUMN" in sql and "pain_detail" in sql for sql in result.ddl)
    report = verify(filled)
    assert report.ok, report.problems


def test_new_fields_and_forms_become_columns_and_tables(filled: Engine, tmp_path: Path) -> None:
    added = (
        'smoker = {type = "yesno"}\n',
        'smoker = {type = "yesno"}\nalcohol_units = {type = "integer", lo = 0, hi = 100}\n',
    )
    form = (
        "[forms.adverse_events]\n",
        '[forms.medications]\ntitle = "Medications"\nkey = []\n[forms.medications.fields]\n'
        'drug = {type = "text"}\n\n[forms.adverse_events]\n',
    )
    result = amend_store(filled, _version(tmp_path, added, form), reason="amendment 2", user="bo")
    assert any("alcohol_units" in sql for sql in result.ddl)
    assert any("CREATE TABLE medications" in sql for sql in result.ddl)
    report = verify(filled)
    assert report.ok, report.problems
    with filled.connect() as conn:
        study = stored_study(conn)
        rows = conn.execute(select(study_tables(study)["enrolment"])).mappings().all()
    assert {r["def_version"] for r in rows} == {"1"}  # captured under version 1
    assert all(r["alcohol_units"] is None for r in rows)
    trail = show(filled, table="store_meta")
    diff = json.loads(trail.iloc[-1]["new_values"])["value"]
    assert diff.startswith("1 -> 2") and "+ field enrolment.alcohol_units" in diff
    assert trail.iloc[-1]["reason"] == "amendment 2" and trail.iloc[-1]["user_name"] == "bo"
    export_study(filled, tmp_path / "out")
    assert "alcohol_units" in (tmp_path / "out" / "enrolment.csv").read_text().splitlines()[0]


def test_the_visit_window_amendment_of_the_seed_trial_kind(filled: Engine, tmp_path: Path) -> None:
    # the seed trial's amendment allowed a visit earlier than planned: a wider window applies
    wider = ("window = [20, 40]", "window = [15, 40]")
    assert amend_store(filled, _version(tmp_path, wider), reason="r", user="ana").ddl == ()


def test_another_study_or_the_same_version_is_refused(filled: Engine, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="new one"):
        amend_store(filled, _version(tmp_path, version="1"), reason="r", user="ana")
    other = _version(tmp_path, ('id = "P2"', 'id = "P3"'), version="3")
    with pytest.raises(StoreError, match="not 'P2'"):
        amend_store(filled, other, reason="r", user="ana")


def test_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "s.db")
    assert runner.invoke(app, ["init", "--db", db, "--study", str(DEF)]).exit_code == 0
    r = runner.invoke(app, ["import", "redcap", str(RECORDS), "--db", db])
    assert r.exit_code == 0, r.output
    new = _version(tmp_path, NARROW)
    r = runner.invoke(app, ["study", "amend", "--db", db, str(new), "--reason", "amendment 2"])
    assert r.exit_code == 2
    assert "enrolment" in r.output and "'61'" in r.output and "nothing was changed" in r.output
    wider = _version(tmp_path, ("window = [20, 40]", "window = [15, 40]"), version="3")
    r = runner.invoke(app, ["study", "amend", "--db", db, str(wider), "--reason", "wider"])
    assert r.exit_code == 0, r.output
    assert "amended: version 1 -> 3" in r.output
