"""Create a study store for a study definition, and read back the definition it keeps.

``xerotrial init --db URL --study DEF`` checks the definition, creates the store's own tables
(``audit_log`` with its append-only guards, ``store_meta``) and the tables generated from the
definition (:mod:`.study_schema`), and keeps the definition's text in ``store_meta`` as an
audited value (``study_definition``, with ``layout`` saying the store's kind), all in one
transaction. The store then imports, verifies and exports by that definition.

Example
-------
>>> import tempfile, os
>>> from xerotrial.study import SEED_STUDY
>>> from xerotrial.store.engine import open_store
>>> db = os.path.join(tempfile.mkdtemp(), "s.db")
>>> url = init_study_store(db, SEED_STUDY, user="ana")
>>> with open_store(db).connect() as conn:
...     stored_study(conn).study.id
'NCT03874572'
"""

from __future__ import annotations

import datetime as dt
import json
import weakref
from pathlib import Path

from sqlalchemy import Connection, insert, inspect, select

from xerotrial.study.model import StudyDefinition

from .account_schema import ACCOUNT_TABLES
from .audit import AuditWriter
from .audit_key import load_key
from .engine import make_engine, resolve_url, write_transaction
from .errors import StoreError
from .guards import grant_app_role, install_guards
from .layout import STUDY_KIND, store_kind
from .randomization_schema import RANDOMIZATION_TABLES
from .schema import AUDIT, META
from .statements import META_VALUE
from .study_schema import study_tables

#: The tables of every study store besides its forms: accounts, data management, randomization.
_FIXED = ACCOUNT_TABLES | RANDOMIZATION_TABLES

__all__ = ["definition_text", "forget_stored_study", "init_study_store", "stored_study"]

_CACHE: dict[str, StudyDefinition] = {}
#: the definition a connection read (one query per connection, not per call)
_HELD: weakref.WeakKeyDictionary[Connection, StudyDefinition] = weakref.WeakKeyDictionary()


def definition_text(path: str | Path) -> tuple[StudyDefinition, str]:
    """The checked definition at ``path`` and what the store keeps of it (JSON: its file
    name, format and text)."""
    from xerotrial.study import load_study

    path = Path(path)
    study = load_study(path)
    fmt = "yaml" if path.suffix.lower() in (".yaml", ".yml") else "toml"
    text = path.read_text(encoding="utf-8")
    return study, json.dumps({"file": path.name, "format": fmt, "text": text}, sort_keys=True)


def stored_study(conn: Connection) -> StudyDefinition:
    """The study definition a study store keeps (the current version)."""
    from xerotrial.study.check import build
    from xerotrial.study.load import parse_text

    held = _HELD.get(conn)
    if held is not None:
        return held
    value = conn.execute(META_VALUE, {"key": "study_definition"}).scalar()
    if value is None:
        raise StoreError("not a study store: it keeps no study definition (init --study DEF)")
    hit = _CACHE.get(value)
    if hit is not None:
        _HELD[conn] = hit
        return hit
    kept = json.loads(value)
    where = f"the store's study definition ({kept['file']})"
    data, locate, problems = parse_text(kept["text"], where, kept["format"])
    study = build(data, where, locate, problems)
    if len(_CACHE) >= 8:
        _CACHE.clear()
    _CACHE[value] = study
    _HELD[conn] = study
    return study


def forget_stored_study(conn: Connection) -> None:
    """Read the definition again on this connection's next :func:`stored_study` (after a
    write of it: ``AuditWriter.set_meta``)."""
    _HELD.pop(conn, None)


def init_study_store(
    db: str | Path | None,
    definition: str | Path,
    *,
    user: str | None = None,
    reason: str | None = None,
    app_role: str | None = None,
) -> str:
    """Create a study store at ``db`` for the definition file ``definition``; returns its URL.

    Refused when the database already holds tables (a store of another definition or of the
    seed trial): a new version of the same study is ``study amend``'s. Running it again with
    the same definition on its own store changes nothing.
    """
    from .importer import current_user

    study, kept = definition_text(definition)
    tables = study_tables(study)  # raises when a name clashes with the store's own
    url = resolve_url(db)
    key = load_key()
    engine = make_engine(url)
    try:
        with write_transaction(engine) as conn:
            existing = set(inspect(conn).get_table_names())
            if existing:
                if store_kind(conn) == STUDY_KIND:
                    have = conn.execute(
                        select(META.c.value).where(META.c.key == "study_definition")
                    ).scalar()
                    if have == kept:
                        for t in _FIXED.values():  # a store made before accounts or randomization
                            t.create(conn, checkfirst=True)
                        if app_role is not None:
                            grant_app_role(conn, app_role, [*tables, *_FIXED])
                        return url
                    raise StoreError(
                        f"{url}: the store keeps another version of its study definition: "
                        "apply a new version with `xerotrial study amend`"
                    )
                raise StoreError(
                    f"{url}: the database already holds tables ({', '.join(sorted(existing)[:5])}"
                    f"{', ...' if len(existing) > 5 else ''}): a study store needs an empty one"
                )
            AUDIT.create(conn)
            META.create(conn)
            install_guards(conn)
            for t in [*tables.values(), *_FIXED.values()]:
                t.create(conn)
            created = dt.datetime.now(dt.UTC).isoformat()
            conn.execute(insert(META), {"key": "created_at", "value": created})
            w = AuditWriter.for_new_store(
                conn,
                user=user or current_user(),
                reason=reason or f"study store created for {Path(definition).name}",
                source="init",
            )
            if key is not None:
                w.key_store(key)
            w.set_meta("layout", STUDY_KIND)
            w.set_meta("study_definition", kept)
            if app_role is not None:
                grant_app_role(conn, app_role, [*tables, *_FIXED])
    finally:
        engine.dispose()
    return url
