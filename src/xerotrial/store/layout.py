"""What a store's tables are: the seed trial's fixed forms, or those of a study definition.

A store is one of two kinds. A *seed store* (``xerotrial init``) has the tables of
:data:`xerotrial.store.schema.TABLES`, made by the Alembic migrations. A *study store*
(``xerotrial init --study DEF``) has the tables generated from the definition it keeps in
``store_meta`` (:mod:`.study_schema`). Everything that walks every table (``audit verify``'s
replay, the PostgreSQL grants) asks :func:`store_layout` for the store's tables, each with its
audited columns and natural key, and so works for both.

Example
-------
>>> from xerotrial.store.engine import make_engine
>>> from xerotrial.store.schema import METADATA
>>> eng = make_engine("sqlite://"); METADATA.create_all(eng)
>>> with eng.connect() as conn:
...     layout = store_layout(conn)
>>> layout["sialometry"].key
('subject', 'visit', 'kind')
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Table, inspect

from .schema import META, TABLES

__all__ = [
    "STUDY_KIND",
    "StoreTable",
    "fixed_layout",
    "seed_layout",
    "store_kind",
    "store_layout",
]

#: ``store_meta`` ``layout`` of a study store (a seed store has no such row).
STUDY_KIND = "study/1"


@dataclass(frozen=True)
class StoreTable:
    """One table of a store: the SQL table, the columns the audit trail records, the key."""

    name: str
    table: Table
    columns: tuple[str, ...]
    key: tuple[str, ...]


def fixed_layout(
    tables: Mapping[str, Table], keys: Mapping[str, tuple[str, ...]]
) -> dict[str, StoreTable]:
    """The audited ones of a store's fixed tables (accounts, randomization): every column but
    the surrogate ``id``, by the natural key ``keys`` gives each."""
    return {
        name: StoreTable(name, tables[name], tuple(c.name for c in tables[name].columns
                                                   if c.name != "id"), key)
        for name, key in keys.items()
    }  # fmt: skip


def seed_layout() -> dict[str, StoreTable]:
    """The seed store's form tables (:data:`~.schema.TABLES`, columns from ``FORMS``)."""
    from .forms import FORMS

    return {
        name: StoreTable(name, t, FORMS[name].columns, FORMS[name].key)
        for name, t in TABLES.items()
    }


_STUDY_STORES: weakref.WeakSet[Engine] = weakref.WeakSet()


def store_kind(conn: Connection) -> str:
    """``"seed"`` or :data:`STUDY_KIND` (from ``store_meta``; ``"seed"`` when it has none).

    A study store stays one: an engine found to be one is remembered (no query next time).
    """
    if conn.engine in _STUDY_STORES:
        return STUDY_KIND
    if not inspect(conn).has_table(META.name):
        return "seed"
    from .statements import META_VALUE

    value = conn.execute(META_VALUE, {"key": "layout"}).scalar()
    if value == STUDY_KIND:
        _STUDY_STORES.add(conn.engine)
    return value or "seed"


def store_layout(conn: Connection) -> dict[str, StoreTable]:
    """The store's audited tables by name (a study store's from its stored definition)."""
    if store_kind(conn) == "seed":
        return seed_layout()
    from .study_schema import study_layout
    from .study_store import stored_study

    return study_layout(stored_study(conn))
