"""Create or migrate a store: Alembic ``upgrade head`` with the migrations in this package.

Example
-------
>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> url = init_store(os.path.join(d, "trial.db"))
>>> current_revision(url) == head_revision()
True
"""

from __future__ import annotations

import datetime as dt
import tomllib
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, insert, select

from xerotrial.trial.protocol import Protocol, load_protocol, parse_protocol

from .audit import AuditWriter
from .audit_key import load_key
from .engine import make_engine, resolve_url, write_transaction
from .errors import StoreError
from .guards import grant_app_role
from .schema import META, TABLES

__all__ = ["MIGRATIONS", "current_revision", "head_revision", "init_store", "stored_protocol"]

#: The folder of the Alembic environment and revisions (inside the installed package).
MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest revision of the schema."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(db: str | Path | None) -> str | None:
    """The store's revision (None for an empty database)."""
    engine = make_engine(resolve_url(db))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _holds_data(conn: Connection) -> bool:
    return any(conn.execute(select(t.c.id).limit(1)).first() for t in TABLES.values())


def _bundled_text() -> str:
    return resources.files("xerotrial").joinpath("data", "protocol.toml").read_text("utf-8")


def init_store(
    db: str | Path | None = None,
    protocol: str | Path | None = None,
    *,
    reason: str | None = None,
    app_role: str | None = None,
    user: str | None = None,
) -> str:
    """Create the store at ``db`` or migrate it to the newest schema; returns its URL.

    ``protocol`` (a TOML file, see ``xerotrial.trial.protocol``) is checked and kept in the
    store, with an audit entry; imports then use its visits and windows. Without it the
    bundled protocol is used, and a protocol kept earlier is left as it is. Changing the
    protocol of a store that holds data is an amendment: it needs a ``reason``. With an audit
    key (``$XEROTRIAL_AUDIT_KEY_FILE``) an unkeyed store is keyed from then on. ``app_role``
    (PostgreSQL): the role the service runs as gets what it needs and cannot remove the audit
    trail's guards (``guards.grant_app_role``). Every audited write first checks the store
    (``AuditWriter``). Running it twice changes nothing.
    """
    url = resolve_url(db)
    text_ = None
    if protocol is not None:
        load_protocol(protocol)  # raises DataValidationError when the file is not valid
        text_ = Path(protocol).read_text(encoding="utf-8")
    reason = reason.strip() if reason and reason.strip() else None
    key = load_key()
    engine = make_engine(url)
    try:
        with write_transaction(engine) as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            have = {r.key: r.value for r in conn.execute(select(META))}
            if "created_at" not in have:
                conn.execute(
                    insert(META),
                    {"key": "created_at", "value": dt.datetime.now(dt.UTC).isoformat()},
                )
            keying = key is not None and "audit_key_id" not in have
            change = text_ is not None and text_ != have.get("protocol_toml")
            if keying or change:
                _audited_init(
                    conn, have, text_ if change else None, reason, key if keying else None, user
                )
            if app_role is not None:
                grant_app_role(conn, app_role)
    finally:
        engine.dispose()
    return url


def _audited_init(
    conn: Connection,
    have: dict[str, str],
    text_: str | None,
    reason: str | None,
    key: bytes | None,
    user: str | None,
) -> None:
    """Key the store (``key``) and / or set its protocol (``text_``), each audited."""
    from .importer import current_user

    amendment = (
        text_ is not None
        and text_ != have.get("protocol_toml", _bundled_text())
        and _holds_data(conn)
    )
    if amendment and reason is None:
        raise StoreError(
            "the store holds data and this protocol differs from its protocol: changing it "
            "is an amendment, give its reason (--reason TEXT)"
        )
    w = AuditWriter(conn, user=user or current_user(), reason="init", source="init", key=key)
    if key is not None:
        w.reason = "the store is keyed: init with an audit key kept outside the store"
        w.key_store(key)
    if text_ is not None:
        w.reason = reason or "the protocol given to `xerotrial init`"
        w.set_meta("protocol_toml", text_)


def stored_protocol(conn: Connection) -> Protocol:
    """The store's protocol (the bundled one when none was given to ``init``)."""
    text_ = conn.execute(select(META.c.value).where(META.c.key == "protocol_toml")).scalar()
    if text_ is None:
        return load_protocol()
    return parse_protocol(tomllib.loads(text_), source="the store's protocol")
