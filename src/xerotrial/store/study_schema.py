"""The tables of a study store, generated from its study definition (no code per trial).

The design, and why: one table per form with one typed column per field, generated from the
definition (SQLAlchemy ``Table`` objects made at run time, never hand-written), rather than a
long item table (REDCap's ``redcap_data``, ODM's ItemData) or JSON columns. Typed columns let
the database itself refuse a text in a number or a row of an unknown subject, keep one audit
entry per form row (not per item: a 1,000 x 20 x 100 store has 2 million items but 20,000
form rows per form), and read back as a data frame with one query. An amendment changes the
tables by migrations derived from the definition's diff (``study amend``); each row keeps the
definition version it was captured under (``def_version``).

Every form table has the context columns :data:`CONTEXT` — the subject (named as the study's
``subject_field``, e.g. REDCap's ``record_id``), the visit (``""`` when the study has none),
the repeat ``instance`` (1 unless the form repeats), the form's status (REDCap's
``<form>_complete``: 0 incomplete, 1 unverified, 2 complete) and ``def_version`` — then the
fields that hold data. A field named as the subject field or ``visit`` *is* that context
column. A checkbox field is one text column of its ticked codes (``"1,3"``, in the order of
its choices). The ``subjects`` table holds each subject's site and arm.

Example
-------
>>> from xerotrial.study.model import Field, Form, Schedule, Study, StudyDefinition
>>> from xerotrial.study.model import Allocation
>>> form = Form("vitals", "Vital signs", (), (Field("sbp", "integer"), Field("note", "text")))
>>> study = StudyDefinition("1", Study("S", "T"), Allocation(), (), Schedule(), (form,))
>>> layout = study_layout(study)
>>> layout["vitals"].columns
('subject', 'visit', 'instance', 'form_status', 'def_version', 'sbp', 'note')
>>> layout["vitals"].key
('subject', 'visit', 'instance')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Double,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeEngine

from xerotrial.study.model import Field, Form, StudyDefinition

from .errors import StoreError
from .layout import StoreTable

T = TypeVar("T")

__all__ = [
    "CONTEXT",
    "RESERVED_TABLES",
    "SUBJECTS",
    "context_columns",
    "data_fields",
    "memo",
    "study_layout",
    "study_tables",
    "subject_column",
]

#: The context columns of a form table after the subject column.
CONTEXT: tuple[str, ...] = ("visit", "instance", "form_status", "def_version")
#: The table of subjects (site, arm, the version they were enrolled under).
SUBJECTS = "subjects"
#: Table names a form may not have.
RESERVED_TABLES = frozenset({SUBJECTS, "audit_log", "store_meta", "alembic_version"})
#: Forms may not be named with the prefix of the store's own fixed tables (accounts).
RESERVED_PREFIX = "xt_"
_RESERVED_FIELDS = frozenset({"id", "instance", "form_status", "def_version"})


def subject_column(study: StudyDefinition) -> str:
    """The name of the subject column (the study's ``subject_field``, default ``subject``)."""
    return study.study.subject_field or "subject"


def context_columns(study: StudyDefinition) -> tuple[str, ...]:
    """The subject column and :data:`CONTEXT`."""
    return (subject_column(study), *CONTEXT)


_MEMO: dict[tuple[int, str, str], tuple[object, object]] = {}


def memo(study: StudyDefinition, what: str, name: str, make: Callable[[], T]) -> T:
    """``make()``, once per definition object, ``what`` and ``name`` (the definition is frozen,
    so what is derived from it never changes; imports derive per cell)."""
    key = (id(study), what, name)
    hit = _MEMO.get(key)
    if hit is not None and hit[0] is study:
        return hit[1]  # type: ignore[return-value]
    if len(_MEMO) > 4096:
        _MEMO.clear()
    value = make()
    _MEMO[key] = (study, value)
    return value


def data_fields(study: StudyDefinition, form: Form) -> tuple[Field, ...]:
    """The fields of ``form`` with a column of their own (not context, not descriptive)."""

    def make() -> tuple[Field, ...]:
        context = set(context_columns(study))
        return tuple(f for f in form.fields if f.holds_data and f.name not in context)

    return memo(study, "data_fields", form.name, make)


def _sql_type(f: Field) -> TypeEngine:
    if f.type == "integer":
        return Integer()
    if f.type in ("decimal", "calculated"):
        return Double()
    if f.type == "yesno":
        return Boolean()
    if f.type == "date":
        return Date()
    if f.type == "datetime":
        return String(19)
    return Text()


def _problems(study: StudyDefinition) -> list[str]:
    out = []
    subject = subject_column(study)
    for form in study.forms:
        if form.name in RESERVED_TABLES or form.name.startswith(RESERVED_PREFIX):
            out.append(f"form {form.name!r}: the store has a table of that name; rename the form")
        for f in form.fields:
            if f.name in _RESERVED_FIELDS:
                out.append(
                    f"form {form.name!r}, field {f.name!r}: the store uses that column name "
                    f"({', '.join(sorted(_RESERVED_FIELDS))} are reserved); rename the field"
                )
            if f.name in (subject, "visit") and f.type not in ("text", "choice"):
                out.append(
                    f"form {form.name!r}, field {f.name!r}: the {f.name} column is text, "
                    f"not {f.type}"
                )
    return out


def _table(study: StudyDefinition, form: Form, metadata: MetaData) -> Table:
    subject = subject_column(study)
    cols: list = [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column(subject, String(100), nullable=False),
        Column("visit", String(64), nullable=False),
        Column("instance", Integer, nullable=False),
        Column("form_status", Integer),
        Column("def_version", String(64), nullable=False),
    ]
    cols += [Column(f.name, _sql_type(f)) for f in data_fields(study, form)]
    return Table(
        form.name,
        metadata,
        *cols,
        UniqueConstraint(subject, "visit", "instance", name=f"uq_{form.name}_key"),
        ForeignKeyConstraint([subject], [f"{SUBJECTS}.{subject}"], name=f"fk_{form.name}_subject"),
    )


def study_tables(study: StudyDefinition) -> dict[str, Table]:
    """The SQL tables of a study store: ``subjects`` first, then one per form (in one
    ``MetaData`` of their own, made once per definition object). Raises :class:`StoreError`
    when a name clashes with the store's own."""
    return memo(study, "tables", "", lambda: _make_tables(study))


def _make_tables(study: StudyDefinition) -> dict[str, Table]:
    problems = _problems(study)
    if problems:
        raise StoreError(
            "this definition cannot be stored as it is:\n" + "\n".join(f"  {p}" for p in problems)
        )
    metadata = MetaData()
    subject = subject_column(study)
    tables = {
        SUBJECTS: Table(
            SUBJECTS,
            metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column(subject, String(100), nullable=False, unique=True),
            Column("site", String(64)),
            Column("arm", String(64)),
            Column("def_version", String(64), nullable=False),
        )
    }
    for form in study.forms:
        tables[form.name] = _table(study, form, metadata)
    return tables


def study_layout(study: StudyDefinition) -> dict[str, StoreTable]:
    """The audited tables of a study store (see :mod:`.layout`): subjects, the forms, the
    accounts (:mod:`.account_schema`) and the randomization (:mod:`.randomization_schema`)."""
    from .account_schema import ACCOUNT_LAYOUT
    from .randomization_schema import RANDOMIZATION_LAYOUT

    tables = study_tables(study)
    subject = subject_column(study)
    out = {
        SUBJECTS: StoreTable(
            SUBJECTS, tables[SUBJECTS], (subject, "site", "arm", "def_version"), (subject,)
        )
    }
    for form in study.forms:
        cols = (*context_columns(study), *(f.name for f in data_fields(study, form)))
        out[form.name] = StoreTable(
            form.name, tables[form.name], cols, (subject, "visit", "instance")
        )
    return out | ACCOUNT_LAYOUT | RANDOMIZATION_LAYOUT
