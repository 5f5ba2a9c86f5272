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
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, insert, select

from xerotrial.trial.protocol import Protocol, load_protocol, parse_protocol

from .engine import make_engine, resolve_url, write_transaction
from .schema import META

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


def init_store(db: str | Path | None = None, protocol: str | Path | None = None) -> str:
    """Create the store at ``db`` or migrate it to the newest schema; returns its URL.

    ``protocol`` (a TOML file, see ``xerotrial.trial.protocol``) is checked and kept in the
    store; imports then use its visits and windows. Without it the bundled protocol is used,
    and a protocol kept earlier is left as it is. Running it twice changes nothing.
    """
    url = resolve_url(db)
    text_ = None
    if protocol is not None:
        load_protocol(protocol)  # raises DataValidationError when the file is not valid
        text_ = Path(protocol).read_text(encoding="utf-8")
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
            if text_ is not None:
                if "protocol_toml" in have:
                    conn.execute(
                        META.update().where(META.c.key == "protocol_toml").values(value=text_)
                    )
                else:
                    conn.execute(insert(META), {"key": "protocol_toml", "value": text_})
    finally:
        engine.dispose()
    return url


def stored_protocol(conn: Connection) -> Protocol:
    """The store's protocol (the bundled one when none was given to ``init``)."""
    text_ = conn.execute(select(META.c.value).where(META.c.key == "protocol_toml")).scalar()
    if text_ is None:
        return load_protocol()
    return parse_protocol(tomllib.loads(text_), source="the store's protocol")
