"""The database's own guards of the audit trail: are they in place, and who may remove them.

Migration 0001 makes ``audit_log`` append-only with triggers (SQLite ``audit_log_no_update``
and ``audit_log_no_delete``; PostgreSQL ``audit_log_no_change`` and ``audit_log_no_truncate``
calling ``audit_log_append_only()``). :func:`missing_guards` says which of them are gone,
replaced by ones that do not refuse, or (PostgreSQL) disabled; ``audit verify`` reports each as
a problem. :func:`owner_warning` says when the store is used by a role that could remove them
(the owner of ``audit_log`` or a superuser). :func:`grant_app_role` gives a PostgreSQL role
what the service needs and nothing that lets it drop, disable or bypass the guards (only a
table's owner may drop or disable its triggers; the role gets no UPDATE, DELETE or TRUNCATE
on ``audit_log``).

Example
-------
>>> from sqlalchemy import create_engine
>>> with create_engine("sqlite://").connect() as conn:
...     missing_guards(conn)[0]
'the append-only guard audit_log_no_update (trigger) is missing'
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

from .errors import StoreError
from .schema import AUDIT, META, TABLES

__all__ = [
    "SQLITE_GUARDS",
    "PG_GUARDS",
    "grant_app_role",
    "install_guards",
    "missing_guards",
    "owner_warning",
]

#: SQLite: trigger name -> the statement migration 0001 created it with.
SQLITE_GUARDS = {
    f"audit_log_no_{what}": f"CREATE TRIGGER audit_log_no_{what} BEFORE {what.upper()} ON "
    "audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    for what in ("update", "delete")
}
#: PostgreSQL: the triggers on audit_log (each calls ``audit_log_append_only()``).
PG_GUARDS = ("audit_log_no_change", "audit_log_no_truncate")
_PG_FUNCTION_BODY = "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END"
#: PostgreSQL: the statements that create the guards (as migration 0001 does).
_PG_DDL = (
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ {_PG_FUNCTION_BODY} $$",
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
)


def install_guards(conn: Connection) -> None:
    """Make ``audit_log`` append-only (a study store; a seed store's migration 0001 does it).

    >>> from sqlalchemy import create_engine
    >>> with create_engine("sqlite://").begin() as conn:
    ...     AUDIT.create(conn); install_guards(conn); missing_guards(conn)
    []
    """
    ddl = _PG_DDL if conn.dialect.name == "postgresql" else tuple(SQLITE_GUARDS.values())
    for sql in ddl:
        conn.execute(text(sql))


def _squash(sql: str | None) -> str:
    return re.sub(r"\s+", " ", sql or "").strip()


def _sqlite(conn: Connection) -> list[str]:
    have = dict(
        conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
            {"t": AUDIT.name},
        ).all()
    )
    out = []
    for name, sql in SQLITE_GUARDS.items():
        if name not in have:
            out.append(f"the append-only guard {name} (trigger) is missing")
        elif _squash(have[name]) != sql:
            out.append(f"the append-only guard {name} (trigger) was replaced: {have[name]!r}")
    return out


def _postgresql(conn: Connection) -> list[str]:
    rows = conn.execute(
        text(
            "SELECT t.tgname, t.tgenabled, p.proname, p.prosrc FROM pg_trigger t "
            "JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE t.tgrelid = to_regclass(:t) AND NOT t.tgisinternal"
        ),
        {"t": AUDIT.name},
    ).all()
    have = {r.tgname: r for r in rows}
    out = []
    for name in PG_GUARDS:
        r = have.get(name)
        if r is None:
            out.append(f"the append-only guard {name} (trigger) is missing")
        elif r.tgenabled == "D":
            out.append(f"the append-only guard {name} (trigger) is disabled")
        elif r.proname != "audit_log_append_only" or _squash(r.prosrc) != _PG_FUNCTION_BODY:
            out.append(
                f"the append-only guard {name} (trigger) no longer refuses: it calls "
                f"{r.proname}() with {_squash(r.prosrc)!r}"
            )
    return out


def missing_guards(conn: Connection) -> list[str]:
    """One line per append-only guard of ``audit_log`` that is missing, replaced or disabled."""
    name = conn.dialect.name
    if name == "sqlite":
        return _sqlite(conn)
    if name == "postgresql":
        return _postgresql(conn)
    return [f"the append-only guards cannot be checked on {name}"]


def owner_warning(conn: Connection) -> str | None:
    """PostgreSQL: a warning when the current role could drop the guards (owner, superuser)."""
    if conn.dialect.name != "postgresql":
        return None
    row = conn.execute(
        text(
            "SELECT current_user AS me, r.rolsuper AS su, "
            "pg_has_role(current_user, c.relowner, 'USAGE') AS owns FROM pg_class c, pg_roles r "
            "WHERE c.oid = to_regclass(:t) AND r.rolname = current_user"
        ),
        {"t": AUDIT.name},
    ).first()
    if row is None or not (row.su or row.owns):
        return None
    what = "a superuser" if row.su else "the owner of audit_log"
    return (
        f"the store is used as {row.me}, {what}, who can drop its append-only guards: run the "
        "service as an application role (xerotrial init --app-role NAME)"
    )


def _ident(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def grant_app_role(conn: Connection, role: str, tables: list[str] | None = None) -> None:
    """PostgreSQL: grant ``role`` what the store's service needs, run as the tables' owner.

    Form tables: SELECT, INSERT, UPDATE, DELETE; ``audit_log``: SELECT, INSERT; ``store_meta``:
    SELECT, INSERT, UPDATE; ``alembic_version``: SELECT; the schema's sequences: USAGE, SELECT.
    Refused for the current role, a superuser, or a role that is (a member of) the owner.
    ``tables``: the form tables (default: the seed store's).
    """
    if conn.dialect.name != "postgresql":
        raise StoreError("--app-role is for PostgreSQL stores (SQLite has no roles)")
    row = conn.execute(
        text(
            "SELECT r.rolsuper AS su, pg_has_role(r.oid, c.relowner, 'USAGE') AS owns "
            "FROM pg_roles r, pg_class c WHERE r.rolname = :r AND c.oid = to_regclass(:t)"
        ),
        {"r": role, "t": AUDIT.name},
    ).first()
    if row is None:
        raise StoreError(f"no PostgreSQL role {role!r}: create it first (CREATE ROLE ... LOGIN)")
    if row.su or row.owns:
        raise StoreError(
            f"role {role!r} is a superuser or owns the store's tables: it could drop the audit "
            "trail's guards; the application role must be a different, ordinary role"
        )
    r = _ident(conn, role)
    schema = _ident(conn, conn.execute(text("SELECT current_schema()")).scalar_one())
    names = [t.name for t in TABLES.values()] if tables is None else tables
    forms = ", ".join(_ident(conn, n) for n in names)
    for sql in (
        f"GRANT USAGE ON SCHEMA {schema} TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {forms} TO {r}",
        f"GRANT SELECT, INSERT ON {AUDIT.name} TO {r}",
        f"GRANT SELECT, INSERT, UPDATE ON {META.name} TO {r}",
        *([f"GRANT SELECT ON alembic_version TO {r}"] if tables is None else []),
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {r}",
    ):
        conn.execute(text(sql))
