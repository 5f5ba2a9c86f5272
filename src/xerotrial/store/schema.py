"""The store's tables (SQLAlchemy 2): one table per form, the audit trail and metadata.

Form tables are built from :data:`xerotrial.store.forms.FORMS`: a surrogate ``id``, the
form's columns with their SQL types, a unique constraint on the form's key, and foreign keys
for references (participant, visit, donor, batch). The database itself enforces them, so
even a writer that bypasses the importer cannot store a sample of an unknown visit.

Example
-------
>>> sorted(c.name for c in TABLES["visits"].columns)
['id', 'study_day', 'subject', 'visit', 'visit_date']
>>> AUDIT.name
'audit_log'
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Double,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeEngine

from .forms import FORMS, Field, FormSpec

__all__ = ["AUDIT", "META", "METADATA", "REVISION", "TABLES", "sql_type", "stored_rows"]

#: The Alembic revision these tables are (``migrate.head_revision()``; a test checks it).
REVISION = "0003"

METADATA = MetaData(
    naming_convention={
        "uq": "uq_%(table_name)s_key",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def sql_type(f: Field) -> TypeEngine:
    """The SQL type of a field.

    >>> sql_type(FORMS["sialometry"].field("minutes"))
    Double()
    """
    return {
        "text": String(200) if f.name != "failed_criteria" else Text(),
        "int": Integer(),
        "float": Double(),
        "bool": Boolean(),
        "date": Date(),
    }[f.kind]


def _table(spec: FormSpec) -> Table:
    cols: list = [Column("id", Integer, primary_key=True, autoincrement=True)]
    cols += [Column(f.name, sql_type(f), nullable=not f.required) for f in spec.fields]
    cons: list = [UniqueConstraint(*spec.key)]
    if spec.visit_columns is not None:
        cons.append(
            ForeignKeyConstraint(list(spec.visit_columns), ["visits.subject", "visits.visit"])
        )
    elif spec.participant_column is not None:
        cons.append(ForeignKeyConstraint([spec.participant_column], ["participants.subject"]))
    for col, (form, target) in spec.refs.items():
        if form != spec.name:
            cons.append(ForeignKeyConstraint([col], [f"{form}.{target}"]))
    return Table(spec.name, METADATA, *cols, *cons)


#: The form tables by form name.
TABLES: dict[str, Table] = {name: _table(spec) for name, spec in FORMS.items()}

#: Append-only audit trail; each entry's ``hash`` covers its content and ``prev_hash``;
#: ``mac`` (keyed stores) is the HMAC of ``hash`` with the audit key kept outside the store.
AUDIT = Table(
    "audit_log",
    METADATA,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("ts", String(40), nullable=False),
    Column("user_name", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("action", String(10), nullable=False),
    Column("table_name", String(64), nullable=False),
    Column("row_key", Text, nullable=False),
    Column("old_values", Text),
    Column("new_values", Text),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("mac", String(64)),
    Index("ix_audit_log_row", "table_name", "row_key"),
)

#: Key/value facts about the store (protocol TOML, creation time, audit tip and key id).
META = Table(
    "store_meta",
    METADATA,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


def stored_rows(conn: Connection, form: str) -> dict[tuple, dict]:
    """The stored rows of ``form`` by their key, each as ``column -> value``.

    >>> from xerotrial.store.engine import make_engine
    >>> eng = make_engine("sqlite://"); METADATA.create_all(eng)
    >>> with eng.begin() as conn:
    ...     _ = conn.execute(TABLES["sites"].insert(), {"site": "S1", "name": "RH"})
    ...     stored_rows(conn, "sites")
    {('S1',): {'site': 'S1', 'name': 'RH', 'country': None}}
    """
    from sqlalchemy import select

    spec = FORMS[form]
    return {
        tuple(r[k] for k in spec.key): {c: r[c] for c in spec.columns}
        for r in conn.execute(select(TABLES[form])).mappings()
    }
