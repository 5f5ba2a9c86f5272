"""The hostile-input corpus: one store holding the sample trial, shared by the cases that
must be refused (each checks that the store is unchanged), and copies for the cases that
write."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from sqlalchemy import Engine

from xerotrial.store.audit import verify
from xerotrial.store.engine import open_store
from xerotrial.store.importer import import_file
from xerotrial.store.migrate import init_store

from ..sample import SAMPLE, write_sample


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite store holding the sample trial (built once)."""
    folder = tmp_path_factory.mktemp("hostile")
    db = folder / "trial.db"
    init_store(db)
    engine = open_store(db)
    for form, path in write_sample(folder / "sample").items():
        import_file(engine, form, path, user="tester")
    engine.dispose()
    return db


@pytest.fixture(scope="session")
def shared(sample_db: Path) -> Iterator[Engine]:
    """The shared store, for cases that must write nothing."""
    engine = open_store(sample_db)
    yield engine
    engine.dispose()


@pytest.fixture
def scratch(sample_db: Path, tmp_path: Path) -> Iterator[Engine]:
    """A copy of the sample store, for cases that write."""
    db = Path(shutil.copyfile(sample_db, tmp_path / "trial.db"))
    engine = open_store(db)
    yield engine
    engine.dispose()


@pytest.fixture
def unchanged(shared: Engine) -> Iterator[Engine]:
    """The shared store; after the test, its trail must be as long as before and intact."""
    before = verify(shared)
    yield shared
    after = verify(shared)
    assert after.ok and after.entries == before.entries, "a refused input wrote something"


def base_row(form: str) -> dict[str, str]:
    """The first data row of the sample's file of ``form``, as text."""
    return next(csv.DictReader(io.StringIO(SAMPLE[form])))


def csv_text(header: list[str], rows: list[Mapping[str, str]]) -> str:
    """A CSV file of ``rows`` under ``header``."""
    out = io.StringIO()
    w = csv.DictWriter(out, header, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return out.getvalue()
