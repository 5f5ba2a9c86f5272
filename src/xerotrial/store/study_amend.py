"""Amend a study store: apply a new version of its definition, or list what blocks it.

``xerotrial study amend --db URL NEW_DEF --reason R``. The new version must be of the same
study, with a new ``version``. Every stored row is checked against the new definition as if
it were imported again (:func:`.study_import.validate_rows`), and the store's structure
against the new forms, so the amendment is refused — nothing changed — while any captured
value would be invalidated, each such value listed with its subject, visit and field:

- a value outside a narrowed range, a choice code removed, a text now too long;
- a removed field, form, visit, arm or site that holds data; a form no longer due at a visit
  where it has rows, or no longer repeating with instances above 1;
- a field whose SQL type changes and holds data; a required field blank in a complete form.

They are resolved by correcting or deleting the data (``xerotrial edit``, with its reason)
under the current version, then amending again. Otherwise the migration is derived from the
two definitions — new forms become tables, new fields columns; removed (empty) ones are
dropped — and applied in the same transaction as the audit entries of the new definition
(``study_definition``, with the reason) and of its diff (``study_diff``). Rows keep the
version they were captured under (``def_version``); new rows get the new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Column, Connection, Engine, select, text
from sqlalchemy.schema import CreateTable

from xerotrial.study.model import StudyDefinition

from .audit import AuditWriter
from .engine import write_transaction
from .errors import StoreError
from .lock import refuse_if_locked
from .study_import import FormRow, SubjectRow, validate_rows
from .study_schema import SUBJECTS, data_fields, study_tables, subject_column
from .study_store import definition_text, stored_study
from .study_values import format_value

__all__ = ["AmendmentBlockedError", "AmendResult", "amend_store", "plan_amendment"]


class AmendmentBlockedError(StoreError):
    """The amendment would invalidate captured data: ``blockers`` lists each value."""

    def __init__(self, blockers: list[str]) -> None:
        n = len(blockers)
        super().__init__(
            f"the amendment would invalidate captured data ({n} value{'s' * (n != 1)}); "
            "nothing was changed. Correct or delete each (xerotrial edit ... --reason), then "
            "amend again:\n" + "\n".join(f"  {b}" for b in blockers)
        )
        self.blockers = blockers


@dataclass(frozen=True)
class AmendResult:
    """What the amendment did: the versions, the diff lines and the DDL statements."""

    old_version: str
    new_version: str
    diff: tuple[str, ...]
    ddl: tuple[str, ...]


def _rows(conn: Connection, study: StudyDefinition) -> tuple[list[SubjectRow], list[FormRow]]:
    """The stored data as the rows an import of them would be (values as text)."""
    tables = study_tables(study)
    subject = subject_column(study)
    subjects = [
        SubjectRow(r[subject], r["site"], r["arm"])
        for r in conn.execute(select(tables[SUBJECTS])).mappings()
    ]
    rows = []
    for form in study.forms:
        fields = data_fields(study, form)
        for r in conn.execute(select(tables[form.name])).mappings():
            values = {f.name: format_value(f, r[f.name]) for f in fields}
            rows.append(
                FormRow(form.name, r[subject], r["visit"], r["instance"], r["form_status"], values)
            )
    return subjects, rows


def plan_amendment(
    conn: Connection, old: StudyDefinition, new: StudyDefinition
) -> tuple[list[str], list[str]]:
    """``(blockers, ddl)``: every captured value the new version would invalidate, and the
    statements that migrate the tables when there is none."""
    blockers: list[str] = []
    if new.study.id != old.study.id:
        raise StoreError(f"the new definition is of study {new.study.id!r}, not {old.study.id!r}")
    if new.version == old.version:
        raise StoreError(
            f"the new definition has the store's version {old.version!r}: give it a new one"
        )
    if subject_column(new) != subject_column(old):
        raise StoreError("the subject field cannot change by an amendment")
    subjects, rows = _rows(conn, old)
    old_forms = {f.name: f for f in old.forms}
    new_forms = {f.name: f for f in new.forms}
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.form] = counts.get(r.form, 0) + 1
    for name in old_forms.keys() - new_forms.keys():
        for r in rows:
            if r.form == name:
                blockers.append(f"form {name} is removed: {_where(r)} holds data")
    # values of removed fields
    kept_rows = []
    for r in rows:
        if r.form not in new_forms:
            continue
        new_names = {f.name for f in data_fields(new, new_forms[r.form])}
        for field, value in r.values.items():
            if field not in new_names and value not in ("", None):
                blockers.append(f"field {r.form}.{field} is removed: {_where(r)} holds {value!r}")
        kept_rows.append(r)
    for subj in subjects:
        for p in validate_rows(new, [subj], [], "stored").problems:
            blockers.append(f"subject {subj.subject}, {p.column} = {p.value!r}: {p.rule}")
    # each row's index as its "line", to name the row a problem is of
    for i, r in enumerate(kept_rows, start=1):
        r.line = i
    checked = validate_rows(new, subjects, kept_rows, "stored")
    for p in checked.problems:
        if p.line is None:
            continue  # a subject's problem, listed above
        r = kept_rows[p.line - 1]
        col = f", {p.column}" if p.column else ""
        val = f" = {p.value!r}" if p.value not in (None, "") else ""
        blockers.append(f"{_where(r)}{col}{val}: {p.rule}")
    # type changes of fields with data
    old_t, new_t = study_tables(old), study_tables(new)
    ddl: list[str] = []
    dialect = conn.dialect
    for name in new_forms:
        if name not in old_forms:
            ddl.append(str(CreateTable(new_t[name]).compile(dialect=dialect)).strip())
            continue
        before = {c.name: c for c in old_t[name].columns}
        after = {c.name: c for c in new_t[name].columns}
        for col in after.keys() - before.keys():
            ddl.append(_add_column(dialect, name, after[col]))
        for col in before.keys() - after.keys():
            ddl.append(f"ALTER TABLE {_q(dialect, name)} DROP COLUMN {_q(dialect, col)}")
        for col in before.keys() & after.keys():
            a, b = before[col].type.compile(dialect), after[col].type.compile(dialect)
            if a == b:
                continue
            held = [r for r in rows if r.form == name and r.values.get(col) not in ("", None)]
            if held:
                blockers += [
                    f"field {name}.{col} changes type ({a} -> {b}): {_where(r)} holds "
                    f"{r.values[col]!r}"
                    for r in held
                ]
            else:
                ddl.append(f"ALTER TABLE {_q(dialect, name)} DROP COLUMN {_q(dialect, col)}")
                ddl.append(_add_column(dialect, name, after[col]))
    for name in old_forms.keys() - new_forms.keys():
        ddl.append(f"DROP TABLE {_q(dialect, name)}")
    return blockers, ddl


def _q(dialect, name: str) -> str:  # noqa: ANN001 - a SQLAlchemy dialect
    return dialect.identifier_preparer.quote(name)


def _add_column(dialect, table: str, col: Column) -> str:  # noqa: ANN001
    typ = col.type.compile(dialect)
    return f"ALTER TABLE {_q(dialect, table)} ADD COLUMN {_q(dialect, col.name)} {typ}"


def _where(r: FormRow) -> str:
    at = f" at {r.visit}" if r.visit else ""
    inst = f" instance {r.instance}" if r.instance != 1 else ""
    return f"{r.form} of {r.subject}{at}{inst}"


def amend_store(engine: Engine, definition: str | Path, *, reason: str, user: str) -> AmendResult:
    """Apply the definition file ``definition`` to the study store (see the module
    docstring); raises :class:`AmendmentBlockedError` listing every value in the way."""
    from xerotrial.study.diff import diff_studies

    if not reason or not reason.strip():
        raise StoreError("an amendment needs its reason (--reason TEXT)")
    new, kept = definition_text(definition)
    study_tables(new)  # a name clashing with the store's own is refused before anything
    with write_transaction(engine) as conn:
        writer = AuditWriter(
            conn, user=user, reason=reason.strip(), source=f"study amend {Path(definition).name}"
        )
        refuse_if_locked(conn)
        old = stored_study(conn)
        blockers, ddl = plan_amendment(conn, old, new)
        if blockers:
            raise AmendmentBlockedError(blockers)
        for sql in ddl:
            conn.execute(text(sql))
        diff = diff_studies(old, new)
        writer.set_meta("study_definition", kept)
        writer.set_meta(
            "study_diff",
            f"{old.version} -> {new.version}\n" + "\n".join(diff),
        )
    return AmendResult(old.version, new.version, tuple(diff), tuple(ddl))
