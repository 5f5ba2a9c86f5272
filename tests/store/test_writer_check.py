"""The writer's check (:mod:`xerotrial.store.writer_check`): the full check on an engine's first
write, then only what is new since the head it verified. Each attack on a warm engine (one
that has written already, as a web server's), on SQLite and PostgreSQL: what it refuses, and
the one thing it leaves to the full check."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from xerotrial.store import writer_check
from xerotrial.store.audit import show, verify
from xerotrial.store.audit_key import KEY_ENV, write_key
from xerotrial.store.edit import edit_row
from xerotrial.store.engine import open_store
from xerotrial.store.errors import StoreError
from xerotrial.store.importer import import_file, import_frame
from xerotrial.store.migrate import init_store
from xerotrial.store.writer_check import forget_verified_head, verified_head

from .tamper import cut_last, drop_guards, forge_append, rewrite_chain


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _donor(engine: Engine, donor: str = "D7") -> None:
    import_frame(engine, "donors", pd.DataFrame({"donor": [donor]}), user="ana")


def _refused(engine: Engine, match: str) -> str:
    with pytest.raises(StoreError, match="fails its audit check") as err:
        _donor(engine, "D8")
    assert match in str(err.value), str(err.value)
    assert verified_head(engine) is None  # the next write starts again with the full check
    return str(err.value)


@pytest.fixture
def full_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the full checks writers run."""
    calls: list[int] = []
    full = writer_check.verify_connection

    def counted(conn, **kw):  # noqa: ANN001, ANN003, ANN202
        calls.append(1)
        return full(conn, **kw)

    monkeypatch.setattr(writer_check, "verify_connection", counted)
    return calls


def test_a_warm_writer_checks_only_what_is_new(full_store: Engine, full_checks: list[int]) -> None:
    head = verified_head(full_store)
    assert head is not None  # the imports of the fixture ran the full check once
    edit_row(full_store, "sites", {"site": "S2"}, {"name": "Aarhus"}, reason="x")
    _donor(full_store)
    assert full_checks == []
    assert verified_head(full_store).seq > head.seq
    assert verified_head(full_store).full_at == head.full_at
    forget_verified_head(full_store)
    _donor(full_store, "D9")
    assert full_checks == [1]
    assert verify(full_store).ok


def test_the_full_check_runs_again_after_a_while(
    full_store: Engine, full_checks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_check, "FULL_CHECK_EVERY", 0.0)
    _donor(full_store)
    assert full_checks == [1]


def test_another_engine_starts_with_the_full_check(
    full_store: Engine, full_checks: list[int]
) -> None:
    other = open_store(_url(full_store))
    try:
        _donor(other)
        assert full_checks == [1]
    finally:
        other.dispose()


def test_a_row_written_since_then_tampered_is_refused(full_store: Engine) -> None:
    """Another worker writes a row; someone changes it by SQL; this worker's next write."""
    other = open_store(_url(full_store))
    try:
        edit_row(other, "sites", {"site": "S2"}, {"name": "Aarhus"}, reason="x")
    finally:
        other.dispose()
    with full_store.begin() as conn:
        conn.execute(text("UPDATE sites SET name = 'Odense' WHERE site = 'S2'"))
    _refused(full_store, 'sites row {"site":"S2"}: name differ from the audit trail')


def test_a_row_written_since_then_deleted_is_refused(full_store: Engine) -> None:
    _donor(full_store, "D5")
    with full_store.begin() as conn:
        conn.execute(text("DELETE FROM donors WHERE donor = 'D5'"))
    _refused(full_store, 'donors row {"donor":"D5"}: in the audit trail but not in the table')


def test_an_audited_store_value_changed_by_sql_is_refused(full_store: Engine) -> None:
    with full_store.begin() as conn:
        conn.execute(text("INSERT INTO store_meta (key, value) VALUES ('protocol_toml', 'x')"))
    _refused(full_store, "the store's protocol (store_meta protocol_toml): differs")


def test_dropped_guards_are_refused(full_store: Engine) -> None:
    with full_store.begin() as conn:
        drop_guards(conn)
    _refused(full_store, "append-only guard")


def test_a_rewritten_history_is_refused_though_it_passes_unkeyed(full_store: Engine) -> None:
    """Re-chained end to end, the unkeyed full check cannot tell; the head this process
    verified can."""
    rewrite_chain(full_store)
    assert verify(full_store).ok
    _refused(full_store, "was changed or removed since (the history was rewritten)")


def test_cutting_the_verified_last_entry_is_refused(
    full_store: Engine, sample_files: dict[str, Path]
) -> None:
    import_file(full_store, "sites", sample_files["sites"])  # a no-op: the head is the tip
    assert verified_head(full_store).seq == len(show(full_store))
    cut_last(full_store)
    assert verify(full_store).ok  # the file alone cannot tell
    _refused(full_store, "was changed or removed since")


def test_an_entry_and_tip_forged_since_are_refused_on_a_keyed_store(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_files: dict[str, Path]
) -> None:
    key = tmp_path / "audit.key"
    write_key(key)
    monkeypatch.setenv(KEY_ENV, str(key))
    init_store(db_url)
    engine = open_store(db_url)
    try:
        import_file(engine, "sites", sample_files["sites"], user="tester")
        _donor(engine, "D4")  # keyed entries since the full check: their MACs verified
        assert verified_head(engine) is not None
        forge_append(engine, mac="ab" * 32)
        message = _refused(engine, "its MAC is not valid")
        assert "the stored tip's MAC is not valid" in message
    finally:
        engine.dispose()


def test_a_row_no_entry_since_wrote_waits_for_the_full_check(
    full_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit, by design: a change by SQL to a row that no entry since the verified head
    wrote is not seen by a warm writer that does not touch it; the full check (every
    FULL_CHECK_EVERY seconds, at every command's first write, ``audit verify``, ``report``,
    ``export``) refuses it."""
    with full_store.begin() as conn:
        conn.execute(
            text("UPDATE visits SET study_day = 31 WHERE subject = 'P01' AND visit = 'day30'")
        )
    _donor(full_store)
    assert not verify(full_store).ok
    monkeypatch.setattr(writer_check, "FULL_CHECK_EVERY", 0.0)
    _refused(full_store, "visits row")
