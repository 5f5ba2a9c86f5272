"""A REDCap project of our own (tests/data/redcap_project: checkboxes, two arms, an event in
one arm only, repeating adverse events, data access groups, calculated fields, branching)
round-trips: dictionary -> definition -> store -> export with the same values, and the
definition back to the same dictionary and instrument-event mapping. Through the command
line as a user types it, on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xerotrial.cli import app
from xerotrial.study import load_study

PROJECT = Path(__file__).parents[1] / "data" / "redcap_project"
runner = CliRunner()


def _ok(*args: str) -> str:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r.output


def _records(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _same_value(kind: str, a: str, b: str) -> bool:
    if kind in ("integer", "decimal", "calculated") and a and b:
        return float(a) == float(b)  # REDCap keeps a number as typed ("1.0")
    return a == b


@pytest.fixture
def definition(tmp_path: Path) -> Path:
    out = tmp_path / "project.toml"
    _ok(
        "study", "from-redcap", str(PROJECT / "dictionary.csv"),
        "--events", str(PROJECT / "instrument_event_mapping.csv"),
        "--repeating", "adverse_events", "-o", str(out),
    )  # fmt: skip
    return out


def test_the_definition_gives_back_the_same_dictionary(definition: Path, tmp_path: Path) -> None:
    _ok(
        "study", "export", str(definition), "--format", "redcap",
        "-o", str(tmp_path / "dict.csv"), "--events", str(tmp_path / "map.csv"),
    )  # fmt: skip
    assert (tmp_path / "dict.csv").read_bytes() == (PROJECT / "dictionary.csv").read_bytes()
    want = (PROJECT / "instrument_event_mapping.csv").read_bytes()
    assert (tmp_path / "map.csv").read_bytes() == want


def test_records_round_trip_through_a_store(db_url: str, definition: Path, tmp_path: Path) -> None:
    study = load_study(definition)
    kinds = {f.name: f.type for form in study.forms for f in form.fields}
    _ok("init", "--db", db_url, "--study", str(definition))
    out = _ok("import", "redcap", str(PROJECT / "records.csv"), "--db", db_url)
    assert "8 new subject(s)" in out
    _ok("export", "raw", "--db", db_url, "--out", str(tmp_path / "rc"), "--format", "redcap")
    _ok("audit", "verify", "--db", db_url)
    before, after = _records(PROJECT / "records.csv"), _records(tmp_path / "rc" / "records.csv")
    assert list(after[0]) == list(before[0])  # the same columns in the same order
    key = ("record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance")
    by_key = {tuple(r[k] for k in key): r for r in after}
    assert len(by_key) == len(before) == len(after)
    status_of = {c: c.rsplit("_complete", 1)[0] for c in before[0] if c.endswith("_complete")}
    fields_of = {f.name: form.name for form in study.forms for f in form.fields}
    for row in before:
        got = by_key[tuple(row[k] for k in key)]
        for col, value in row.items():
            field = col.split("___")[0]
            if _same_value(kinds.get(field, "text"), value, got[col]):
                continue
            # a form never saved at an event: REDCap writes its boxes and status as 0, the
            # fixture leaves them blank; neither is data
            form = status_of.get(col) or fields_of.get(field)
            entered = row.get(f"{form}_complete", "") not in ("", "0")
            assert not entered and {value, got[col]} <= {"", "0"}, (row["record_id"], col)
    # what the store exports, imported into a new store, exports the same bytes
    second = f"sqlite:///{tmp_path / 'second.db'}"
    _ok("init", "--db", second, "--study", str(definition))
    _ok("import", "redcap", str(tmp_path / "rc" / "records.csv"), "--db", second)
    _ok("export", "raw", "--db", second, "--out", str(tmp_path / "rc2"), "--format", "redcap")
    assert (tmp_path / "rc2" / "records.csv").read_bytes() == (
        tmp_path / "rc" / "records.csv"
    ).read_bytes()


def test_raw_csv_per_form_holds_each_fields_values(definition: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    _ok("init", "--db", db, "--study", str(definition))
    _ok("import", "redcap", str(PROJECT / "records.csv"), "--db", db)
    _ok("export", "raw", "--db", db, "--out", str(tmp_path / "raw"), "--format", "csv")
    ae = _records(tmp_path / "raw" / "adverse_events.csv")
    source = [r for r in _records(PROJECT / "records.csv") if r["redcap_repeat_instrument"]]
    assert len(ae) == len(source)
    assert [r["ae_term"] for r in ae] == [r["ae_term"] for r in source]
    assert list(ae[0])[:3] == ["record_id", "visit", "instance"]
    subjects = _records(tmp_path / "raw" / "subjects.csv")
    assert {s["site"] for s in subjects} == {"copenhagen", "aarhus"}
    assert {s["arm"] for s in subjects} == {"arm_1", "arm_2"}
