"""Form entry in a study store: read one form of a subject at a visit, and save it.

What the web application and the API do with a form, on the store's own rules: a save is
checked as an import is (:func:`.study_import.validate_rows`: every cell, required,
calculations, checks, schedule), writes all of it or nothing, and is audited under the
actor's identity. A change to a value that was saved before needs a reason. Saves are
guarded by the row's *version*, the number of audit entries of that row (0: never saved): a
save made on a stale version is refused (:class:`StaleVersionError`, carrying the row as it
is now), so two people editing one form never overwrite each other unseen. A locked store
refuses every save (:class:`~.lock.StoreLockedError`).

Example
-------
>>> import tempfile, os
>>> from xerotrial.store.study_store import init_study_store
>>> from xerotrial.store.engine import open_store
>>> from xerotrial.store.accounts import Actor
>>> from xerotrial.store.study_import import SubjectRow, import_rows
>>> from xerotrial.study import load_study
>>> path = os.path.join(tempfile.mkdtemp(), "s.toml")
>>> _ = open(path, "w").write('''version = "1"
... [study]
... id = "S"
... title = "T"
... [study.sites.rh]
... [visits.baseline]
... [forms.enrolment]
... title = "Enrolment"
... [forms.enrolment.fields]
... age = {type = "integer", lo = 18, hi = 90}
... ''')
>>> eng = open_store(init_study_store(path[:-5] + ".db", path))
>>> _ = import_rows(eng, load_study(path), [SubjectRow("1", "rh")], [], source="t", user="t")
>>> e = save_entry(eng, "enrolment", "1", "baseline", {"age": "61"}, version=0,
...                actor=Actor("ana"))
>>> e.values["age"], e.version
('61', 1)
>>> save_entry(eng, "enrolment", "1", "baseline", {"age": "62"}, version=1,
...            actor=Actor("ana"))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
xerotrial.errors.ImportRejectedError: ...a changed value needs the reason for the change...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from xerotrial.errors import Problem
from xerotrial.study.model import Form, StudyDefinition

from .audit import AuditWriter
from .chain import canonical, jsonable
from .engine import engine_of, reading, write_transaction
from .errors import ImportRejectedError, StoreError
from .lock import refuse_if_locked
from .schema import AUDIT
from .statements import ROW_VERSION, by_key
from .study_import import FormRow, SubjectRow, validate_rows
from .study_schema import SUBJECTS, data_fields, study_tables, subject_column
from .study_store import stored_study
from .study_values import format_value
from .verify import row_problem

__all__ = [
    "Change",
    "Entry",
    "NotFoundError",
    "StaleVersionError",
    "entry_history",
    "read_entry",
    "save_entry",
    "subject_site",
]


class NotFoundError(StoreError):
    """An unknown subject, form or visit."""


@dataclass(frozen=True)
class Entry:
    """One form of one subject at one visit and instance: its values as text (REDCap's raw
    export: ``""`` for blank), its status, its version; ``warnings`` of the last save."""

    form: str
    subject: str
    visit: str
    instance: int
    values: dict[str, str]
    status: int | None
    version: int
    warnings: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The API's answer."""
        return {
            "subject": self.subject,
            "form": self.form,
            "visit": self.visit,
            "instance": self.instance,
            "values": self.values,
            "status": self.status,
            "version": self.version,
            "warnings": list(self.warnings),
        }


class StaleVersionError(StoreError):
    """The form changed since the version the writer read; ``current`` is how it is now."""

    def __init__(self, message: str, current: Entry) -> None:
        super().__init__(message)
        self.current = current


def _form(study: StudyDefinition, name: str) -> Form:
    for f in study.forms:
        if f.name == name:
            return f
    raise NotFoundError(f"unknown form {name!r}")


def _key(study: StudyDefinition, subject: str, visit: str, instance: int) -> dict[str, Any]:
    return {subject_column(study): subject, "visit": visit, "instance": instance}


def _version(conn: Connection, form: str, key: Mapping[str, Any]) -> int:
    return int(
        conn.execute(ROW_VERSION, {"table": form, "row_key": canonical(dict(key))}).scalar_one()
    )


def subject_site(conn: Connection, study: StudyDefinition, subject: str) -> str | None:
    """The subject's site; :class:`NotFoundError` for an unknown subject."""
    col = subject_column(study)
    row = conn.execute(by_key(study_tables(study)[SUBJECTS], (col,)), {col: subject})
    row = row.mappings().first()
    if row is None:
        raise NotFoundError(f"unknown subject {subject!r}")
    return row["site"]


def _read(
    conn: Connection, study: StudyDefinition, form: str, subject: str, visit: str, instance: int
) -> tuple[Entry, dict[str, Any] | None]:
    spec = _form(study, form)
    if study.visits and visit not in {v.name for v in study.visits}:
        raise NotFoundError(f"unknown visit {visit!r}")
    subject_site(conn, study, subject)
    key = _key(study, subject, visit, instance)
    t = study_tables(study)[form]
    row = conn.execute(by_key(t, tuple(key)), key).mappings().first()
    fields = data_fields(study, spec)
    if row is None:
        values = {f.name: "" for f in fields}
        status = None
    else:
        values = {f.name: format_value(f, row[f.name]) for f in fields}
        status = row["form_status"]
    entry = Entry(form, subject, visit, instance, values, status, _version(conn, form, key))
    return entry, None if row is None else dict(row)


def read_entry(
    source: Engine | Connection, form: str, subject: str, visit: str = "", instance: int = 1
) -> Entry:
    """The form as stored (blank values and version 0 when it was never saved); a row that
    differs from the audit trail is refused (:class:`StoreError`). ``source``: an engine, or
    a connection to read on."""
    with reading(source) as conn:
        study = stored_study(conn)
        entry, row = _read(conn, study, form, subject, visit, instance)
        if row is not None:
            problem = row_problem(conn, form, _key(study, subject, visit, instance), row)
            if problem is not None:
                raise StoreError(problem)
        return entry


def _as_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return value


def save_entry(
    source: Engine | Connection,
    form: str,
    subject: str,
    visit: str,
    values: Mapping[str, Any],
    *,
    version: int,
    actor: Any,
    reason: str | None = None,
    instance: int = 1,
    status: int | None = None,
    dry_run: bool = False,
) -> Entry:
    """Save ``values`` (field -> text; fields not given keep their values; calculated
    fields are computed) as ``actor``
    (:class:`~.accounts.Actor`) if the row is still at ``version``; returns the saved entry.

    Raises :class:`NotFoundError`, :class:`StaleVersionError`,
    :class:`~.lock.StoreLockedError`, or :class:`ImportRejectedError` listing every problem
    (an unknown field, a broken rule, a changed value without a reason). ``dry_run``: check
    only, and return the entry as it would be saved (its warnings: soft limits, ...)."""
    where = f"form {form}"
    reason = reason.strip() if reason and reason.strip() else None
    # read and check outside the write lock (other saves go on meanwhile); under it, only
    # that nothing changed since, and the write
    with reading(source) as conn:
        plan = _plan(conn, form, subject, visit, values, version, reason, instance, status)
    if dry_run:
        return plan.entry(plan.now.version)
    with write_transaction(engine_of(source)) as conn:
        refuse_if_locked(conn)
        study = stored_study(conn)
        now, row = _read(conn, study, form, subject, visit, instance)
        _refuse_if_stale(now, version)
        if study is not plan.study or row != plan.row:  # an amendment, or a change unseen
            plan = _plan(conn, form, subject, visit, values, version, reason, instance, status)
        key = _key(study, subject, visit, instance)
        writer = AuditWriter(
            conn,
            user=actor.audit_name,
            reason=reason or ("form entry" if row is None else "form saved"),
            source=where,
        )
        t = study_tables(study)[form]
        logged = 0
        if row is None:
            new = key | plan.parsed | {"def_version": study.version}
            conn.execute(insert(t), new)
            logged = writer.log("insert", form, key, None, {c: jsonable(v) for c, v in new.items()})
        else:
            problem = row_problem(conn, form, key, row)
            if problem is not None:
                raise StoreError(f"{problem}; nothing was saved")
            new = {c: v for c, v in row.items() if c != "id"} | plan.parsed
            new["def_version"] = study.version
            if any(jsonable(row[c]) != jsonable(v) for c, v in new.items()):
                conn.execute(t.update().where(t.c.id == row["id"]).values(**new))
                before = {c: jsonable(v) for c, v in row.items() if c != "id"}
                after = {c: jsonable(v) for c, v in new.items()}
                logged = writer.log("update", form, key, before, after)
        stored = conn.execute(by_key(t, tuple(key)), key).mappings().one()
        fields = data_fields(study, _form(study, form))
        saved = {f.name: format_value(f, stored[f.name]) for f in fields}
        version = now.version + (1 if logged else 0)
        return Entry(
            form, subject, visit, instance, saved, stored["form_status"], version,
            tuple(plan.warnings),
        )  # fmt: skip


@dataclass(frozen=True)
class _Plan:
    """A save checked against the form as read: the values to store, or the problems."""

    study: StudyDefinition
    now: Entry
    row: dict[str, Any] | None
    raw: dict[str, Any]
    parsed: dict[str, Any]
    status: int | None
    warnings: tuple[Any, ...]

    def entry(self, version: int) -> Entry:
        n = self.now
        return Entry(
            n.form, n.subject, n.visit, n.instance, self.raw, self.status, version, self.warnings
        )


def _refuse_if_stale(now: Entry, version: int) -> None:
    """:class:`StaleVersionError` when the form is no longer at the ``version`` read."""
    if now.version != version:
        raise StaleVersionError(
            f"{now.form} of {now.subject} at {now.visit or '-'} was saved by someone else "
            f"since version {version} (it is at version {now.version}): reload it",
            now,
        )


def _plan(
    conn: Connection,
    form: str,
    subject: str,
    visit: str,
    values: Mapping[str, Any],
    version: int,
    reason: str | None,
    instance: int,
    status: int | None,
) -> _Plan:
    """Check a save against the form as stored now (raises as :func:`save_entry`)."""
    source = f"form {form}"
    refuse_if_locked(conn)
    study = stored_study(conn)
    now, row = _read(conn, study, form, subject, visit, instance)
    _refuse_if_stale(now, version)
    spec = _form(study, form)
    fields = {f.name: f for f in data_fields(study, spec)}
    problems = [
        Problem(source, None, name, v, "no such field in this form")
        for name, v in values.items()
        if name not in fields
    ]
    raw = dict(now.values) | {n: _as_text(v) for n, v in values.items() if n in fields}
    calculated = {n for n, f in fields.items() if f.type == "calculated" and f.calc}
    for n in calculated:  # computed, never entered
        raw[n] = ""
    changed = [
        n
        for n in fields
        if row is not None and n not in calculated and now.values[n] and raw[n] != now.values[n]
    ]
    if changed and reason is None:
        problems += [
            Problem(source, None, n, raw[n], "a changed value needs the reason for the change")
            for n in changed
        ]
    new_status = now.status if status is None else status
    col = subject_column(study)
    subj = conn.execute(by_key(study_tables(study)[SUBJECTS], (col,)), {col: subject})
    subj = subj.mappings().one()
    checked = validate_rows(
        study,
        [SubjectRow(subject, subj["site"], subj["arm"])],
        [FormRow(form, subject, visit, instance, new_status, raw, computed=True)],
        source,
    )
    problems += checked.problems
    if problems:
        raise ImportRejectedError(source, problems, done="saved")
    parsed = checked.rows[0][1] | {"form_status": new_status}
    return _Plan(study, now, row, raw, parsed, new_status, tuple(checked.warnings))


@dataclass(frozen=True)
class Change:
    """One field's change in the audit trail: who, when, old -> new (text), why."""

    field: str
    ts: str
    user: str
    old: str
    new: str
    reason: str


def entry_history(
    engine: Engine, form: str, subject: str, visit: str = "", instance: int = 1
) -> list[Change]:
    """Every change of every field of one form row, oldest first, from the audit trail."""
    import json

    with engine.connect() as conn:
        study = stored_study(conn)
        spec = _form(study, form)
        fields = {f.name: f for f in data_fields(study, spec)} | {"form_status": None}
        key = canonical(_key(study, subject, visit, instance))
        rows = conn.execute(
            select(
                AUDIT.c.ts,
                AUDIT.c.user_name,
                AUDIT.c.reason,
                AUDIT.c.old_values,
                AUDIT.c.new_values,
            )  # fmt: skip
            .where(AUDIT.c.table_name == form, AUDIT.c.row_key == key)
            .order_by(AUDIT.c.seq)
        ).all()
    out = []
    for r in rows:
        old = json.loads(r.old_values) if r.old_values else {}
        new = json.loads(r.new_values) if r.new_values else {}
        for name, f in fields.items():
            a, b = old.get(name), new.get(name)
            if a == b:
                continue
            text_a = "" if a is None else (str(a) if f is None else format_value(f, _typed(f, a)))
            text_b = "" if b is None else (str(b) if f is None else format_value(f, _typed(f, b)))
            out.append(Change(name, r.ts, r.user_name, text_a, text_b, r.reason))
    return out


def _typed(f: Any, value: Any) -> Any:
    """An audited (JSON) value as the stored type, for :func:`format_value`."""
    import datetime as dt

    if f.type == "date" and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if f.type in ("decimal", "calculated") and isinstance(value, int | float):
        return float(value)
    return value
