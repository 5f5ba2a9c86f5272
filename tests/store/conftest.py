"""Fixtures: a fresh store on SQLite (always) and on PostgreSQL (when a server is given:
``db_url`` in tests/conftest.py, the server from tests/pg.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.pg import PG_ENV, _reset_pg, pg_url  # noqa: F401 - re-exported for the tests here
from xerotrial.store.engine import open_store
from xerotrial.store.importer import import_file
from xerotrial.store.migrate import init_store

from .sample import write_sample


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    """An initialised, empty store."""
    init_store(db_url)
    engine = open_store(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sample_files(tmp_path: Path) -> dict[str, Path]:
    """The sample trial's CSV files."""
    return write_sample(tmp_path / "sample")


@pytest.fixture
def full_store(store: Engine, sample_files: dict[str, Path]) -> Engine:
    """A store holding the whole sample trial."""
    for form, path in sample_files.items():
        import_file(store, form, path, user="tester")
    return store
