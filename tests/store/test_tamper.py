"""Tampering by someone who can write the database file (issue 11, section 4), each attack
on SQLite and PostgreSQL: what an unkeyed chain cannot see, and what now sees it (the row
check of edit, the guards check, the audited protocol, checkpoints, writers that refuse)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from xerotrial.store.audit import AuditWriter, row_problem, show, verify
from xerotrial.store.checkpoint import check_checkpoints, write_checkpoint
from xerotrial.store.edit import delete_row, edit_row
from xerotrial.store.engine import open_store, write_transaction
from xerotrial.store.errors import StoreError
from xerotrial.store.importer import import_file, import_frame
from xerotrial.store.migrate import init_store, stored_protocol
from xerotrial.trial.protocol import load_protocol

from .tamper import cut_last, drop_guards, forge_append, rewrite_chain


def _entries(engine: Engine) -> int:
    return len(show(engine))


# -- an out-of-band UPDATE, then an ordinary edit of the same row ---------------------------


def test_edit_after_an_update_behind_the_stores_back_is_refused(full_store: Engine) -> None:
    with full_store.begin() as conn:
        conn.execute(text("UPDATE participants SET age_years = 99 WHERE subject = 'P01'"))
    n = _entries(full_store)
    with pytest.raises(StoreError, match=r'participants row \{"subject":"P01"\}: age_years'):
        edit_row(full_store, "participants", {"subject": "P01"}, {"age_years": "62"}, reason="x")
    with pytest.raises(StoreError, match="nothing was written"):
        delete_row(full_store, "participants", {"subject": "P01"}, reason="x")
    assert _entries(full_store) == n  # the tampered value was never recorded as "old"
    assert not verify(full_store).ok


def test_the_row_check_names_the_entry(full_store: Engine) -> None:
    with full_store.begin() as conn:
        conn.execute(
            text("UPDATE visits SET study_day = 31 WHERE subject = 'P01' AND visit = 'day30'")
        )
    with full_store.connect() as conn:
        row = {"subject": "P01", "visit": "day30", "study_day": 31, "visit_date": None}
        got = conn.execute(
            text("SELECT visit_date FROM visits WHERE subject = 'P01' AND visit = 'day30'")
        ).scalar()
        row["visit_date"] = got
        problem = row_problem(conn, "visits", {"subject": "P01", "visit": "day30"}, row)
        assert problem is not None and "study_day differ" in problem and "(entry " in problem
        row["study_day"] = 29
        assert row_problem(conn, "visits", {"subject": "P01", "visit": "day30"}, row) is None


# -- a forged entry, hashed with the public algorithm, with a matching tip ------------------


def test_a_forged_entry_passes_an_unkeyed_chain(full_store: Engine) -> None:
    """The limitation: the hash and the tip are public and inside the file."""
    forge_append(full_store)
    assert verify(full_store).ok  # an unkeyed chain cannot tell: see test_audit_key


def test_a_rewritten_chain_passes_unkeyed_but_not_a_checkpoint(
    full_store: Engine, tmp_path: Path
) -> None:
    cp = tmp_path / "checkpoints.jsonl"
    write_checkpoint(full_store, cp)
    rewrite_chain(full_store)
    report = verify(full_store)
    assert report.ok, report.problems  # consistent: another story, recomputed end to end
    problems = check_checkpoints(full_store, cp)
    assert problems and "the chain was rewritten" in problems[0], problems


# -- the last entry deleted with its row and the tip ----------------------------------------


def test_cutting_the_last_entry_is_caught_by_a_checkpoint(
    full_store: Engine, tmp_path: Path
) -> None:
    cp = tmp_path / "checkpoints.jsonl"
    write_checkpoint(full_store, cp)
    n = _entries(full_store)
    cut_last(full_store)
    assert verify(full_store).ok  # the file alone cannot tell
    problems = check_checkpoints(full_store, cp)
    assert any(f"entry {n} is not in the chain" in p for p in problems), problems


def test_checkpoints_of_another_store_are_not_a_pass(full_store: Engine, tmp_path: Path) -> None:
    cp = tmp_path / "cp.jsonl"
    cp.write_text('{"created": "elsewhere", "hash": "x", "seq": 1, "store": "s", "time": "t"}\n')
    assert "holds no checkpoint of this store" in check_checkpoints(full_store, cp)[0]


def test_no_checkpoint_of_a_tampered_store(full_store: Engine, tmp_path: Path) -> None:
    with full_store.begin() as conn:
        conn.execute(text("DELETE FROM hla_antibodies"))
    with pytest.raises(StoreError, match="no checkpoint written"):
        write_checkpoint(full_store, tmp_path / "cp.jsonl")
    assert not (tmp_path / "cp.jsonl").exists()


# -- the guards dropped ---------------------------------------------------------------------


def test_dropped_guards_are_reported(full_store: Engine) -> None:
    with full_store.begin() as conn:
        drop_guards(conn)
    problems = verify(full_store).problems
    names = (
        ("audit_log_no_update", "audit_log_no_delete")
        if full_store.dialect.name == "sqlite"
        else ("audit_log_no_change", "audit_log_no_truncate")
    )
    for name in names:
        assert f"the append-only guard {name} (trigger) is missing" in problems, problems


def test_a_guard_disabled_or_replaced_is_reported(full_store: Engine) -> None:
    with full_store.begin() as conn:
        if full_store.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
            conn.execute(
                text(
                    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
                    "BEGIN SELECT 1; END"
                )
            )
            expect = "audit_log_no_delete (trigger) was replaced"
        else:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
            expect = "audit_log_no_change (trigger) is disabled"
    assert any(expect in p for p in verify(full_store).problems)


# -- the protocol ---------------------------------------------------------------------------


def _protocol_file(tmp_path: Path, extra: str = "") -> Path:
    from importlib import resources

    text_ = resources.files("xerotrial").joinpath("data", "protocol.toml").read_text("utf-8")
    path = tmp_path / f"protocol{len(extra)}.toml"
    path.write_text(text_ + extra, encoding="utf-8")
    load_protocol(path)
    return path


def test_every_protocol_write_is_audited(db_url: str, tmp_path: Path) -> None:
    init_store(db_url, _protocol_file(tmp_path))
    from xerotrial.store.engine import open_store

    engine = open_store(db_url)
    try:
        log = show(engine)
        assert log[["table_name", "row_key", "action"]].values.tolist() == [
            ["store_meta", '{"key":"protocol_toml"}', "insert"]
        ]
        assert verify(engine).ok
        # the same protocol again: nothing written
        init_store(db_url, _protocol_file(tmp_path))
        assert _entries(engine) == 1
    finally:
        engine.dispose()


def test_protocol_changed_by_sql_is_reported(db_url: str, tmp_path: Path) -> None:
    from xerotrial.store.engine import open_store

    init_store(db_url, _protocol_file(tmp_path))
    engine = open_store(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE store_meta SET value = value || '# edited' WHERE key = 'protocol_toml'"
                )
            )
        problems = verify(engine).problems
        assert any(
            "the store's protocol (store_meta protocol_toml): differs" in p for p in problems
        )
    finally:
        engine.dispose()


def test_protocol_set_by_sql_is_reported(full_store: Engine, tmp_path: Path) -> None:
    with full_store.begin() as conn:
        conn.execute(
            text("INSERT INTO store_meta (key, value) VALUES ('protocol_toml', :v)"),
            {"v": _protocol_file(tmp_path, "# mine\n").read_text()},
        )
    problems = verify(full_store).problems
    assert any("protocol_toml): not in the audit trail" in p for p in problems), problems


def test_a_protocol_amendment_needs_a_reason(full_store: Engine, tmp_path: Path) -> None:
    url = full_store.url.render_as_string(hide_password=False)
    n = _entries(full_store)
    amended = _protocol_file(tmp_path, "# amendment 1\n")
    with pytest.raises(StoreError, match="amendment, give its reason"):
        init_store(url, amended)
    assert _entries(full_store) == n  # refused, nothing written
    with full_store.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM store_meta WHERE key = 'protocol_toml'")
            ).scalar()
            == 0
        )
    init_store(url, amended, reason="amendment 1: approved 2024-03-01")
    last = show(full_store, limit=1).iloc[0]
    assert (last["table_name"], last["reason"]) == (
        "store_meta",
        "amendment 1: approved 2024-03-01",
    )
    assert verify(full_store).ok
    with full_store.connect() as conn:
        assert stored_protocol(conn).trial.id == load_protocol().trial.id


def test_the_bundled_protocol_is_no_amendment(full_store: Engine, tmp_path: Path) -> None:
    url = full_store.url.render_as_string(hide_password=False)
    init_store(url, _protocol_file(tmp_path))  # the one the store used already
    assert show(full_store, limit=1).iloc[0]["table_name"] == "store_meta"
    assert verify(full_store).ok


# -- writers refuse a tampered store, and roll back -----------------------------------------


@pytest.fixture
def next_command(full_store: Engine) -> Iterator[Engine]:
    """The store as the next command opens it: a fresh engine, whose first write runs the
    full check (a warm one checks what is new since: tests/store/test_writer_check.py)."""
    engine = open_store(full_store.url.render_as_string(hide_password=False))
    yield engine
    engine.dispose()


def test_writers_refuse_a_tampered_store(next_command: Engine, sample_files: dict) -> None:
    full_store = next_command
    with full_store.begin() as conn:
        conn.execute(
            text("UPDATE visits SET study_day = 31 WHERE subject = 'P01' AND visit = 'day30'")
        )
    n = _entries(full_store)
    donors = pd.DataFrame({"donor": ["D7"]})
    with pytest.raises(StoreError, match="fails its audit check") as err:
        import_frame(full_store, "donors", donors, user="ana")
    assert "visits row" in str(err.value) and "xerotrial audit verify" in str(err.value)
    with pytest.raises(StoreError, match="fails its audit check"):
        import_file(full_store, "sites", sample_files["sites"])  # even a no-op import
    with pytest.raises(StoreError, match="fails its audit check"):
        edit_row(full_store, "sites", {"site": "S2"}, {"name": "Aarhus"}, reason="x")
    with full_store.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM donors WHERE donor = 'D7'")).scalar() == 0
        assert conn.execute(text("SELECT name FROM sites WHERE site = 'S2'")).scalar() is None
    assert _entries(full_store) == n


def test_a_refused_write_leaves_the_transaction_clean(next_command: Engine) -> None:
    """The refusal is raised inside the write transaction, which rolls back; the lock goes."""
    full_store = next_command
    with full_store.begin() as conn:
        conn.execute(text("DELETE FROM hla_antibodies"))
    with pytest.raises(StoreError), write_transaction(full_store) as conn:
        conn.execute(text("INSERT INTO sites (site) VALUES ('S9')"))
        AuditWriter(conn, user="x", reason="x", source="x")
    with full_store.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sites WHERE site = 'S9'")).scalar() == 0
