"""The keyed chain: a key kept outside the store, MACs on every entry and on the tip; what it
catches that the public hash cannot (forged entries, a cut tail), and what it needs."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from xerotrial.store.audit import show, verify
from xerotrial.store.audit_key import KEY_ENV, key_id, read_key, write_key
from xerotrial.store.edit import edit_row
from xerotrial.store.engine import open_store
from xerotrial.store.errors import StoreError
from xerotrial.store.importer import import_file
from xerotrial.store.migrate import init_store

from .tamper import cut_last, forge_append


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "keys" / "audit.key"
    path.parent.mkdir()
    write_key(path)
    monkeypatch.setenv(KEY_ENV, str(path))
    return path


@pytest.fixture
def keyed_store(db_url: str, key_file: Path, sample_files: dict[str, Path]) -> Iterator[Engine]:
    """The sample trial in a store keyed at init."""
    init_store(db_url)
    engine = open_store(db_url)
    for form, path in sample_files.items():
        import_file(engine, form, path, user="tester")
    yield engine
    engine.dispose()


def test_keygen_writes_a_private_key_once(tmp_path: Path) -> None:
    path = tmp_path / "k"
    key = write_key(path)
    assert len(key) == 32 and read_key(path) == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(path.read_text().strip()) == 64
    with pytest.raises(StoreError, match="never overwritten"):
        write_key(path)
    path.write_text("nothex\n")
    with pytest.raises(StoreError, match="not an audit key"):
        read_key(path)


def test_a_keyed_store_macs_every_entry_and_the_tip(keyed_store: Engine, key_file: Path) -> None:
    key = read_key(key_file)
    log = show(keyed_store)
    assert (log["table_name"].iloc[0], log["row_key"].iloc[0]) == (
        "store_meta",
        '{"key":"audit_key_id"}',
    )
    assert json.loads(log["new_values"].iloc[0])["value"] == key_id(key)
    assert log["mac"].notna().all()
    with keyed_store.connect() as conn:
        meta = dict(conn.execute(text("SELECT key, value FROM store_meta")).all())
    assert meta["audit_key_id"] == key_id(key) and key.hex() not in str(meta)
    assert meta["audit_tip"].count(":") == 2
    report = verify(keyed_store)
    assert report.ok, report.problems
    assert report.keyed and report.macs == "verified"
    assert report.head_line().endswith("MACs verified")


def test_without_the_key_the_macs_are_not_checked_and_writers_refuse(
    keyed_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    report = verify(keyed_store)
    assert report.ok and report.macs == "not checked (no key)"
    assert any("MACs were not checked" in w for w in report.warnings)
    n = len(show(keyed_store))
    with pytest.raises(StoreError, match="needs its audit key"):
        edit_row(keyed_store, "sites", {"site": "S2"}, {"name": "Aarhus"}, reason="x")
    assert len(show(keyed_store)) == n


def test_a_wrong_key_is_a_problem(
    keyed_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other.key"
    write_key(other)
    monkeypatch.setenv(KEY_ENV, str(other))
    assert any("is not this store's" in p for p in verify(keyed_store).problems)


def test_a_forged_entry_fails_the_mac(keyed_store: Engine) -> None:
    forge_append(keyed_store)  # the forger has no key: no MAC
    problems = verify(keyed_store).problems
    assert any("no MAC, but the store is keyed since entry 1" in p for p in problems), problems
    assert any("tip (store_meta audit_tip) has no MAC" in p for p in problems), problems


def test_a_forged_entry_with_a_made_up_mac_fails_it(keyed_store: Engine) -> None:
    forge_append(keyed_store, mac="ab" * 32)
    problems = verify(keyed_store).problems
    assert any("its MAC is not valid" in p for p in problems), problems
    assert any("the stored tip's MAC is not valid" in p for p in problems), problems


def test_cutting_the_last_entry_fails_the_keyed_tip(keyed_store: Engine) -> None:
    cut_last(keyed_store)  # the tip set back to the entry before, with that entry's MAC
    problems = verify(keyed_store).problems
    assert any("the stored tip's MAC is not valid" in p for p in problems), problems


def test_removing_the_key_id_is_a_problem(keyed_store: Engine, monkeypatch) -> None:
    with keyed_store.begin() as conn:
        conn.execute(text("DELETE FROM store_meta WHERE key = 'audit_key_id'"))
    monkeypatch.delenv(KEY_ENV)  # even without the key
    problems = verify(keyed_store).problems
    assert any("audit key id was removed" in p for p in problems), problems


def test_init_keys_an_existing_store_from_then_on(
    full_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = len(show(full_store))
    path = tmp_path / "audit.key"
    write_key(path)
    monkeypatch.setenv(KEY_ENV, str(path))
    report = verify(full_store)
    assert report.ok and any("not keyed" in w for w in report.warnings)
    init_store(full_store.url.render_as_string(hide_password=False))
    edit_row(full_store, "sites", {"site": "S2"}, {"name": "Aarhus"}, reason="site name")
    log = show(full_store)
    assert log["mac"].iloc[:n].isna().all() and log["mac"].iloc[n:].notna().all()
    assert log["table_name"].iloc[n] == "store_meta"
    report = verify(full_store)
    assert report.ok and report.macs == "verified", report.problems
