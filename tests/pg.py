"""PostgreSQL for the tests: the server's URL from ``XEROTRIAL_TEST_PG_URL`` (set by
``.ci/postgres.sh``, e.g. ``postgresql+psycopg://postgres@127.0.0.1:54329/xerotrial_test``);
a test skips with the reason when it is unset or the server does not answer. A test session
creates its own database (``xerotrial_test_<pid>``); each test gets an empty ``public`` schema
in it. The fixtures (``pg_session_url``, ``db_url``) are in ``tests/conftest.py``."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

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
