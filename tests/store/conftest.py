"""Fixtures: a fresh store on SQLite (always) and on PostgreSQL (when a server is given).

PostgreSQL tests read ``XEROTRIAL_TEST_PG_URL`` (set by ``.ci/postgres.sh``, e.g.
``postgresql+psycopg://postgres@127.0.0.1:54329/xerotrial_test``) and skip with the reason
when it is unset or the server does not answer. A test session creates its own database
(``xerotrial_test_<pid>``), each test gets an empty ``public`` schema in it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from xerotrial.store.engine import open_store
from xerotrial.store.importer import import_file
from xerotrial.store.migrate import init_store

from .sample import write_sample

PG_ENV = "XEROTRIAL_TEST_PG_URL"
_pg_state: dict[str, str | None] = {}


def pg_url() -> str:
    """The test server's URL, or skip with the reason."""
    if "url" not in _pg_state:
        url = os.environ.get(PG_ENV)
        reason = None
        if not url:
            reason = (
                f"PostgreSQL tests skipped: {PG_ENV} is not set (run "
                '`eval "$(bash .ci/postgres.sh)"` to start a server)'
            )
        else:
            try:
                eng = create_engine(url, connect_args={"connect_timeout": 5})
                with eng.connect() as conn:
                    conn.execute(text("select 1"))
                eng.dispose()
            except Exception as exc:  # noqa: BLE001 - any failure means: no server
                first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                reason = f"PostgreSQL tests skipped: cannot connect to {PG_ENV} ({first})"
        _pg_state["url"], _pg_state["reason"] = url, reason
    if _pg_state["reason"]:
        pytest.skip(_pg_state["reason"])
    return str(_pg_state["url"])


def _reset_pg(url: str) -> None:
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    """A database of this test session's own (so that two sessions cannot collide),
    dropped at the end."""
    base = make_url(pg_url())
    name = f"{base.database}_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty (not yet initialised) database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'trial.db'}"
    else:
        pg_url()  # skips with the reason when there is no server
        url = request.getfixturevalue("pg_session_url")
        _reset_pg(url)
        yield url


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
