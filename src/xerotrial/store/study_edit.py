"""Corrections in a study store: change or delete one form row, with a reason, audited.

A row is named by its subject, visit and instance (``{"record_id": "3", "visit": "baseline"}``;
``instance`` defaults to 1, ``visit`` to ``""`` in a study without visits). The changed row is
checked as an imported one is (:func:`.study_import.validate_rows`: every cell, required,
calculations, checks, schedule), so a correction cannot store what an import would refuse;
its old and new values go into the audit trail with the reason. ``form_status`` may be set
like a field; the context columns cannot (delete the row and import the right one). An edit
that changes nothing writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select

from xerotrial.errors import Problem
from xerotrial.study.model import StudyDefinition

from .audit import AuditWriter, jsonable, row_problem
from .engine import write_transaction
from .errors import ImportRejectedError, StoreError
from .lock import refuse_if_locked
from .study_import import FormRow, SubjectRow, validate_rows
from .study_schema import SUBJECTS, data_fields, study_tables, subject_column
from .study_store import stored_study
from .study_values import format_value

__all__ = ["StudyEditResult", "delete_study_row", "edit_study_row"]


@dataclass(frozen=True)
class StudyEditResult:
    """The row's key, the columns changed (``column -> (old, new)``) and the warnings of the
    new row (soft limits, hidden values, warning-level checks)."""

    form: str
    key: dict[str, Any]
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def _key(study: StudyDefinition, form: str, key: Mapping[str, str]) -> dict[str, Any]:
    if form not in {f.name for f in study.forms}:
        known = ", ".join(f.name for f in study.forms)
        raise StoreError(f"unknown form {form!r}; the study's forms: {known}")
    subject = subject_column(study)
    allowed = {subject, "visit", "instance"}
    extra = sorted(set(key) - allowed)
    if extra:
        raise StoreError(f"--key {extra[0]}: a row is named by {subject}, visit and instance")
    if subject not in key:
        raise StoreError(f"--key {subject}=... is needed (the subject)")
    if study.visits and "visit" not in key:
        raise StoreError("--key visit=... is needed (the study has visits)")
    instance = key.get("instance", "1")
    if not str(instance).isdigit():
        raise StoreError(f"--key instance={instance}: a whole number")
    return {subject: key[subject], "visit": key.get("visit", ""), "instance": int(instance)}


def _fetch(conn: Connection, study: StudyDefinition, form: str, key: Mapping[str, Any]) -> dict:
    t = study_tables(study)[form]
    row = conn.execute(select(t).where(*(t.c[k] == v for k, v in key.items()))).mappings().first()
    if row is None:
        raise StoreError(f"{form}: no stored row {dict(key)}")
    return dict(row)


def _where(form: str, key: Mapping[str, Any]) -> str:
    return f"{form} row {', '.join(f'{k}={v}' for k, v in key.items())}"


def edit_study_row(
    engine: Engine,
    form: str,
    key: Mapping[str, str],
    changes: Mapping[str, str],
    *,
    reason: str,
    user: str,
) -> StudyEditResult:
    """Change the fields ``changes`` (field -> raw text) of one row; raises
    :class:`ImportRejectedError` (done="changed") with every problem of the new row."""
    if not reason or not reason.strip():
        raise StoreError("a correction needs its reason (--reason TEXT)")
    with write_transaction(engine) as conn:
        study = stored_study(conn)
        k = _key(study, form, key)
        subject = subject_column(study)
        spec = next(f for f in study.forms if f.name == form)
        fields = {f.name: f for f in data_fields(study, spec)}
        unknown = sorted(set(changes) - set(fields) - {"form_status"})
        if unknown:
            raise StoreError(
                f"{form}: no field {unknown[0]!r} to set (fields: {', '.join(fields)}, form_status)"
            )
        writer = AuditWriter(conn, user=user, reason=reason.strip(), source="edit")
        refuse_if_locked(conn)
        old = _fetch(conn, study, form, k)
        problem = row_problem(conn, form, k, old)
        if problem is not None:
            raise StoreError(f"{problem}; nothing was changed")
        raw = {n: format_value(f, old[n]) for n, f in fields.items()}
        raw.update({n: v for n, v in changes.items() if n != "form_status"})
        status = old["form_status"]
        if "form_status" in changes:
            text = changes["form_status"].strip()
            if text not in ("", "0", "1", "2"):
                raise ImportRejectedError(
                    "edit",
                    [Problem("edit", None, "form_status", text, "must be 0, 1 or 2")],
                    done="changed",
                )
            status = int(text) if text else None
        subj = (
            conn.execute(
                select(study_tables(study)[SUBJECTS]).where(
                    study_tables(study)[SUBJECTS].c[subject] == k[subject]
                )
            )
            .mappings()
            .one()
        )
        row = FormRow(form, k[subject], k["visit"], k["instance"], status, raw)
        checked = validate_rows(
            study, [SubjectRow(k[subject], subj["site"], subj["arm"])], [row], "edit"
        )
        if checked.problems:
            raise ImportRejectedError("edit", checked.problems, done="changed")
        parsed = checked.rows[0][1] | {"form_status": status}
        changed = {c: (old[c], v) for c, v in parsed.items() if jsonable(old[c]) != jsonable(v)}
        if not changed:
            return StudyEditResult(form, k)
        warnings = tuple(checked.warnings)
        new = old | parsed | {"def_version": study.version}
        new.pop("id")
        t = study_tables(study)[form]
        conn.execute(t.update().where(t.c.id == old["id"]).values(**new))
        before = {c: jsonable(v) for c, v in old.items() if c != "id"}
        writer.log("update", form, k, before, {c: jsonable(v) for c, v in new.items()})
        return StudyEditResult(form, k, changed, warnings)


def delete_study_row(
    engine: Engine, form: str, key: Mapping[str, str], *, reason: str, user: str
) -> dict[str, Any]:
    """Delete one row (its values stay in the audit trail); returns them."""
    if not reason or not reason.strip():
        raise StoreError("a deletion needs its reason (--reason TEXT)")
    with write_transaction(engine) as conn:
        study = stored_study(conn)
        k = _key(study, form, key)
        writer = AuditWriter(conn, user=user, reason=reason.strip(), source="edit")
        refuse_if_locked(conn)
        old = _fetch(conn, study, form, k)
        problem = row_problem(conn, form, k, old)
        if problem is not None:
            raise StoreError(f"{problem}; nothing was deleted")
        t = study_tables(study)[form]
        conn.execute(t.delete().where(t.c.id == old["id"]))
        before = {c: jsonable(v) for c, v in old.items() if c != "id"}
        writer.log("delete", form, k, before, None)
        return before
