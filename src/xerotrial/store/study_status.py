"""The record status dashboard of a study store: each subject's forms by visit, with status.

As REDCap's record status dashboard: for each subject, each visit and each form due there,
``empty`` (never saved), ``incomplete`` (status 0), ``unverified`` (1) or ``complete`` (2);
then ``verified`` when a monitor verified the form's current version (source-data
verification), ``signed`` when the subject's casebook signature still holds, and every saved
cell ``locked`` once the store is; with the number of the cell's queries not closed. Forms not
tied to visits (a study without visits) are under the visit ``""``.

>>> STATUS_NAMES[2], STATUS_NAMES[None]
('complete', 'empty')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from xerotrial.study.model import StudyDefinition

from .chain import canonical
from .lock import read_lock
from .schema import AUDIT
from .study_schema import study_tables, subject_column

__all__ = ["STATUS_NAMES", "Grid", "status_grid"]

#: A form row's status by its ``form_status`` (None: no row).
STATUS_NAMES = {None: "empty", 0: "incomplete", 1: "unverified", 2: "complete"}


@dataclass(frozen=True)
class Grid:
    """The columns (visit, form) and, per subject, each column's ``(status, queries)``: its
    status name and its number of queries not closed."""

    columns: tuple[tuple[str, str], ...]
    rows: dict[str, tuple[tuple[str, int], ...]]
    locked: bool


def due_columns(study: StudyDefinition) -> tuple[tuple[str, str], ...]:
    """``(visit, form)`` in visit order, each form due at that visit (every form, once,
    under ``""`` in a study without visits)."""
    if not study.visits:
        return tuple(("", f.name) for f in study.forms)
    due = study.schedule.due
    return tuple(
        (v.name, f.name) for v in study.visits for f in study.forms if v.name in due.get(f.name, ())
    )


def _versions(conn: Connection, forms: set[str]) -> dict[tuple[str, str], int]:
    q = (
        select(AUDIT.c.table_name, AUDIT.c.row_key, func.count())
        .where(AUDIT.c.table_name.in_(sorted(forms)))
        .group_by(AUDIT.c.table_name, AUDIT.c.row_key)
    )
    return {(t, k): n for t, k, n in conn.execute(q)}


def status_grid(conn: Connection, study: StudyDefinition, subjects: Iterable[str]) -> Grid:
    """The dashboard of ``subjects`` (instance 1 of repeating forms stands for the form)."""
    from .review import list_queries, sdv_versions, signature_of

    subjects = list(subjects)
    columns = due_columns(study)
    col = subject_column(study)
    tables = study_tables(study)
    forms = {f for _, f in columns}
    have: dict[tuple[str, str, str], int | None] = {}
    for form in forms:
        t = tables[form]
        q = select(t.c[col], t.c.visit, t.c.form_status).where(t.c.instance == 1)
        for s, v, status in conn.execute(q):
            have[(s, v, form)] = status
    versions = _versions(conn, forms)
    verified = sdv_versions(conn)
    pending: dict[tuple[str, str, str], int] = {}
    for q in list_queries(conn):
        if q["status"] != "closed":
            k = (q["subject"], q["visit"], q["form"])
            pending[k] = pending.get(k, 0) + 1
    locked = read_lock(conn).locked
    rows = {}
    for s in subjects:
        signature = signature_of(conn, study, s)
        signed = signature is not None and signature.valid
        cells = []
        for v, f in columns:
            key = (s, v, f)
            if key not in have:
                name = "empty"
            else:
                name = STATUS_NAMES.get(have[key], "complete")
                row_key = canonical({col: s, "visit": v, "instance": 1})
                if verified.get((f, s, v, 1)) == versions.get((f, row_key)):
                    name = "verified"
                if signed:
                    name = "signed"
                if locked:
                    name = "locked"
            cells.append((name, pending.get(key, 0)))
        rows[s] = tuple(cells)
    return Grid(columns, rows, locked)
