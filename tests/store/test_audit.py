"""The audit chain: intact after imports and edits; every kind of tampering is detected."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from xerotrial.store.audit import GENESIS, show, verify
from xerotrial.store.edit import edit_row


def _drop_guards(conn) -> None:
    """What someone with direct access to the database could do first."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))
    else:
        conn.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))


def test_chain_links_every_entry(full_store: Engine) -> None:
    log = show(full_store)
    assert log["seq"].tolist() == list(range(1, len(log) + 1))
    assert log["prev_hash"].iloc[0] == GENESIS
    assert (log["prev_hash"].iloc[1:].to_numpy() == log["hash"].iloc[:-1].to_numpy()).all()
    assert set(log["action"]) == {"insert"} and set(log["user_name"]) == {"tester"}
    assert json.loads(log["new_values"].iloc[0])["site"] == "S1"  # the sites come first
    first_participant = log[log["table_name"] == "participants"].iloc[0]
    assert json.loads(first_participant["new_values"])["subject"] == "P01"
    assert len(show(full_store, table="visits")) == 5
    assert len(show(full_store, limit=3)) == 3


def test_database_refuses_changes_to_the_log(full_store: Engine) -> None:
    for sql in (
        "UPDATE audit_log SET reason = 'x' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 1",
    ):
        with pytest.raises(DBAPIError, match="append-only"), full_store.begin() as conn:
            conn.execute(text(sql))
    assert verify(full_store).ok


@pytest.mark.parametrize(
    ("sql", "expect"),
    [
        # entry 3: participant P01 (after the two sites), aged 61
        (
            "UPDATE audit_log SET new_values = replace(new_values, '61', '62') WHERE seq = 3",
            "does not match its hash",
        ),
        ("UPDATE audit_log SET user_name = 'mallory' WHERE seq = 5", "does not match its hash"),
        ("DELETE FROM audit_log WHERE seq = 7", "entry 7 is missing"),
        (
            "DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)",
            "entries were removed",
        ),
        (
            "UPDATE visits SET study_day = 30 WHERE subject = 'P01' AND visit = 'day30'",
            "changed without a trace",
        ),
        ("DELETE FROM hla_antibodies WHERE study_day = 30", "deleted without a trace"),
        ("INSERT INTO donors (donor) VALUES ('D2')", "not in the audit trail"),
    ],
)
def test_tampering_is_detected(full_store: Engine, sql: str, expect: str) -> None:
    with full_store.begin() as conn:
        _drop_guards(conn)
        conn.execute(text(sql))
    report = verify(full_store)
    assert not report.ok
    assert any(expect in p for p in report.problems), report.problems


def test_rewritten_entry_with_recomputed_hash_breaks_the_link(full_store: Engine) -> None:
    from xerotrial.store.audit import entry_hash

    with full_store.begin() as conn:
        _drop_guards(conn)
        row = dict(conn.execute(text("SELECT * FROM audit_log WHERE seq = 3")).mappings().one())
        row["reason"] = "forged"
        conn.execute(
            text("UPDATE audit_log SET reason = :r, hash = :h WHERE seq = 3"),
            {"r": "forged", "h": entry_hash(row)},
        )
    problems = verify(full_store).problems
    assert any("entry 4: prev_hash" in p for p in problems), problems


def test_edits_keep_the_chain(full_store: Engine) -> None:
    edit_row(
        full_store,
        "visits",
        {"subject": "P01", "visit": "day30"},
        {"study_day": "30", "visit_date": "2024-02-19"},
        reason="date transcription error",
        user="monitor",
    )
    report = verify(full_store)
    assert report.ok and report.entries == 40
    last = show(full_store, limit=1).iloc[0]
    assert (last["action"], last["user_name"], last["reason"]) == (
        "update",
        "monitor",
        "date transcription error",
    )
    assert json.loads(last["old_values"])["study_day"] == 29
    assert json.loads(last["new_values"])["study_day"] == 30
