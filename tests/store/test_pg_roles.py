"""The two-role setup on a real PostgreSQL server: the owner runs ``init --app-role``, the
service runs as the application role, which can import and edit but cannot remove the audit
trail's guards or change its entries."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from xerotrial.store.audit import verify
from xerotrial.store.edit import edit_row
from xerotrial.store.engine import open_store
from xerotrial.store.errors import StoreError
from xerotrial.store.importer import import_file
from xerotrial.store.migrate import init_store

from .conftest import _reset_pg, pg_url


@pytest.fixture
def owner_url(request: pytest.FixtureRequest) -> str:
    pg_url()  # skips, saying why, without a server
    url = request.getfixturevalue("pg_session_url")
    _reset_pg(url)
    return url


@pytest.fixture
def app_role(owner_url: str) -> Iterator[str]:
    """A LOGIN role of this test's own (roles are cluster-wide), dropped afterwards."""
    name = f"xerotrial_app_{os.getpid()}"
    admin = create_engine(owner_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP ROLE IF EXISTS {name}"))
        conn.execute(text(f"CREATE ROLE {name} LOGIN"))
    yield name
    with admin.connect() as conn:
        conn.execute(text(f"DROP OWNED BY {name}"))
        conn.execute(text(f"DROP ROLE {name}"))
    admin.dispose()


def test_the_application_role_cannot_remove_the_guards(
    owner_url: str, app_role: str, sample_files: dict[str, Path]
) -> None:
    init_store(owner_url, app_role=app_role)
    app_url = make_url(owner_url).set(username=app_role).render_as_string(hide_password=False)
    engine = open_store(app_url)
    try:
        for form, path in sample_files.items():  # the service's work is allowed
            import_file(engine, form, path, user="service")
        edit_row(engine, "sites", {"site": "S2"}, {"name": "Aarhus"}, reason="site name")
        report = verify(engine)
        assert report.ok, report.problems
        assert not any("can drop its append-only guards" in w for w in report.warnings)
        for sql in (
            "DROP TRIGGER audit_log_no_change ON audit_log",
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change",
            "ALTER TABLE audit_log DISABLE TRIGGER ALL",
            "DROP FUNCTION audit_log_append_only() CASCADE",
            "UPDATE audit_log SET reason = 'x' WHERE seq = 1",
            "DELETE FROM audit_log WHERE seq = 1",
            "TRUNCATE audit_log",
            "DROP TABLE audit_log",
        ):
            with pytest.raises(ProgrammingError) as err, engine.begin() as conn:
                conn.execute(text(sql))
            assert "permission denied" in str(err.value) or "must be owner" in str(err.value), sql
        assert verify(engine).ok
    finally:
        engine.dispose()
    # the owner is told it could drop them
    owner = open_store(owner_url)
    try:
        assert any("can drop its append-only guards" in w for w in verify(owner).warnings)
    finally:
        owner.dispose()


def test_the_application_role_must_not_be_the_owner(owner_url: str) -> None:
    user = make_url(owner_url).username
    with pytest.raises(StoreError, match="superuser or owns"):
        init_store(owner_url, app_role=user)
    with pytest.raises(StoreError, match="no PostgreSQL role"):
        init_store(owner_url, app_role="no_such_role_xerotrial")


def test_app_role_is_for_postgresql(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="for PostgreSQL"):
        init_store(tmp_path / "t.db", app_role="svc")


def test_a_study_store_s_application_role(owner_url: str, app_role: str) -> None:
    from xerotrial.store.redcap_records import import_redcap_records
    from xerotrial.store.study_edit import edit_study_row
    from xerotrial.store.study_store import init_study_store

    data = Path(__file__).parent / "study_data"
    init_study_store(owner_url, data / "two_arms.toml", user="owner", app_role=app_role)
    app_url = make_url(owner_url).set(username=app_role).render_as_string(hide_password=False)
    engine = open_store(app_url)
    try:
        import_redcap_records(engine, data / "two_arms_records.csv", user="service")
        edit_study_row(
            engine, "enrolment", {"subject": "2", "visit": "baseline"}, {"age": "46"},
            reason="source document", user="service",
        )  # fmt: skip
        assert verify(engine).ok
        with engine.connect() as conn:
            for sql in (
                "DROP TRIGGER audit_log_no_change ON audit_log",
                "UPDATE audit_log SET user_name = 'x'",
                "DROP TABLE enrolment",
            ):
                with pytest.raises(ProgrammingError), conn.begin():
                    conn.execute(text(sql))
    finally:
        engine.dispose()
