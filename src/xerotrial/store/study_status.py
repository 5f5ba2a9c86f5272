"""The record status dashboard of a study store: each subject's forms by visit, with status.

As REDCap's record status dashboard: for each subject, each visit and each form due there,
``empty`` (never saved), ``incomplete`` (status 0), ``unverified`` (1) or ``complete`` (2);
every cell is ``locked`` once the store is. Forms not tied to visits (a study without visits)
are under the visit ``""``.

>>> STATUS_NAMES[2], STATUS_NAMES[None]
('complete', 'empty')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, select

from xerotrial.study.model import StudyDefinition

from .lock import read_lock
from .study_schema import study_tables, subject_column

__all__ = ["STATUS_NAMES", "Grid", "status_grid"]

#: A form row's status by its ``form_status`` (None: no row).
STATUS_NAMES = {None: "empty", 0: "incomplete", 1: "unverified", 2: "complete"}


@dataclass(frozen=True)
class Grid:
    """The columns (visit, form) and, per subject, each column's status."""

    columns: tuple[tuple[str, str], ...]
    rows: dict[str, tuple[str, ...]]
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


def status_grid(conn: Connection, study: StudyDefinition, subjects: Iterable[str]) -> Grid:
    """The dashboard of ``subjects`` (instance 1 of repeating forms stands for the form)."""
    subjects = list(subjects)
    columns = due_columns(study)
    col = subject_column(study)
    tables = study_tables(study)
    have: dict[tuple[str, str, str], int | None] = {}
    for form in {f for _, f in columns}:
        t = tables[form]
        q = select(t.c[col], t.c.visit, t.c.form_status).where(t.c.instance == 1)
        for s, v, status in conn.execute(q):
            have[(s, v, form)] = status
    locked = read_lock(conn).locked
    rows = {}
    for s in subjects:
        cells = []
        for v, f in columns:
            key = (s, v, f)
            name = STATUS_NAMES.get(have[key], "complete") if key in have else "empty"
            cells.append(name)
        rows[s] = tuple(cells)
    return Grid(columns, rows, locked)
