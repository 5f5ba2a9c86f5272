"""A REDCap raw records export, read into a study store's rows, and written back.

The export's layout (REDCap's "CSV raw data", one row per record, event and repeat instance):
the record id column (the study's ``subject_field``), ``redcap_event_name`` in a longitudinal
project (``<visit>_arm_<N>``: the visit and the N-th arm of the definition),
``redcap_repeat_instrument`` and ``redcap_repeat_instance`` (a row of one repeating form's
instance), ``redcap_data_access_group`` (the site), then every field in dictionary order —
a checkbox as one ``field___code`` column of 0/1 per code — and ``<form>_complete`` after
each form's fields (0 incomplete, 1 unverified, 2 complete).

Every column, event, arm, instrument and code must be the definition's: anything else is a
problem that names it (nothing is dropped). A form with no value on a row (blank fields, no
box ticked, status blank or 0) is not entered there: REDCap writes 0 for the boxes and the
status of a form never saved, so those zeros are not data. :func:`records_text` writes a
store back in the same layout (the zeros included), so an export read in and written out
gives the same file.

Example
-------
>>> event_visit("month_1_arm_2")
('month_1', 2)
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from xerotrial.errors import Problem
from xerotrial.study.model import Field, Form, StudyDefinition
from xerotrial.study.redcap import checkbox_column, record_columns

from .errors import ImportRejectedError
from .study_import import FormRow, StudyImportResult, SubjectRow, import_rows
from .study_schema import data_fields, memo, subject_column
from .study_store import stored_study
from .study_values import format_value

__all__ = [
    "REDCAP_COLUMNS",
    "event_visit",
    "export_columns",
    "import_redcap_records",
    "read_records",
    "records_text",
]

#: REDCap's own columns of a records export (after the record id).
REDCAP_COLUMNS = (
    "redcap_event_name",
    "redcap_repeat_instrument",
    "redcap_repeat_instance",
    "redcap_data_access_group",
)
_EVENT = re.compile(r"^(.+)_arm_(\d+)$")


def event_visit(event: str) -> tuple[str, int] | None:
    """The visit and arm number of a unique event name (None when it has no ``_arm_N``)."""
    m = _EVENT.match(event)
    return None if m is None else (m.group(1), int(m.group(2)))


def _form_columns(study: StudyDefinition, form: Form) -> list[tuple[str, Field, str | None]]:
    """(column, field, checkbox code) of a form's data columns, in order."""

    def make() -> list[tuple[str, Field, str | None]]:
        out: list[tuple[str, Field, str | None]] = []
        for f in data_fields(study, form):
            if f.type == "checkbox":
                out += [(checkbox_column(f.name, c), f, c) for c in f.choices]
            else:
                out.append((f.name, f, None))
        return out

    return memo(study, "redcap_columns", form.name, make)


def export_columns(study: StudyDefinition) -> list[str]:
    """The columns of a records export of ``study``, in REDCap's order
    (:func:`xerotrial.study.redcap.record_columns`)."""
    return record_columns(study, events=bool(study.visits))


def _arm_name(study: StudyDefinition, n: int) -> str | None:
    arms = study.allocation.arms
    if not arms:
        return None if n == 1 else f"arm {n}"
    return arms[n - 1].name if 1 <= n <= len(arms) else f"arm {n}"


def read_records(
    study: StudyDefinition, path: str | Path
) -> tuple[list[SubjectRow], list[FormRow], list[str]]:
    """The subjects and form rows of a records export, and notes (what was not data).
    Raises :class:`ImportRejectedError` naming every unknown column, event, arm, instrument
    and malformed cell."""
    from xerotrial.tables import read_table

    frame = read_table(path)
    source = str(path)
    lines = frame.attrs["lines"]
    header_line = frame.attrs.get("header_line", 1)
    problems: list[Problem] = []
    subject = subject_column(study)
    forms = {f.name: f for f in study.forms}
    by_column: dict[str, tuple[Form, Field | None, str | None]] = {}
    for form in study.forms:
        for col, f, code in _form_columns(study, form):
            by_column[col] = (form, f, code)
        by_column[f"{form.name}_complete"] = (form, None, None)
    known = {subject, *REDCAP_COLUMNS, *by_column}
    for col in frame.columns:
        if col not in known:
            problems.append(
                Problem(source, 0, col, None, "unknown column: not a field of the definition")
            )
    if subject not in frame.columns:
        problems.append(
            Problem(source, 0, subject, None, "the record id column (the study's subject_field)")
        )
    if study.visits and "redcap_event_name" not in frame.columns:
        problems.append(
            Problem(source, 0, "redcap_event_name", None, "the study has visits: needed")
        )
    if problems:
        raise ImportRejectedError(source, [_at(p, header_line) for p in problems])
    visits = {v.name for v in study.visits}
    subjects: dict[str, SubjectRow] = {}
    rows: list[FormRow] = []
    empty = 0

    def bad(i: int, col: str | None, value: Any, rule: str) -> None:
        problems.append(Problem(source, None, col, value, rule, line=lines[i]))

    frame.attrs = {}  # (pandas copies attrs at every column access)
    records = frame.to_dict("records")
    for i, rec in enumerate(records):
        sid = (rec.get(subject) or "").strip()
        if not sid:
            bad(i, subject, "", "a record id is required")
            continue
        visit, arm = "", None
        event = rec.get("redcap_event_name")
        if study.visits:
            parsed = event_visit(event or "")
            if parsed is None or parsed[0] not in visits:
                bad(
                    i,
                    "redcap_event_name",
                    event,
                    f"unknown event ({', '.join(sorted(visits))} with _arm_N)",
                )
                continue
            visit, n = parsed
            arm = _arm_name(study, n)
            if arm is not None and arm.startswith("arm "):
                bad(
                    i,
                    "redcap_event_name",
                    event,
                    f"unknown arm {n} (the definition has {len(study.allocation.arms) or 1})",
                )
                continue
        elif event:
            bad(i, "redcap_event_name", event, "the study has no visits (events)")
            continue
        dag = rec.get("redcap_data_access_group") or None
        s = subjects.get(sid)
        if s is None:
            subjects[sid] = SubjectRow(sid, dag, arm, lines[i])
        else:
            if dag is not None and s.site is not None and dag != s.site:
                bad(
                    i,
                    "redcap_data_access_group",
                    dag,
                    f"record {sid} is in {s.site} on line {s.line}",
                )
            if s.site is None and dag is not None:
                s.site = dag
            if arm != s.arm:
                bad(
                    i,
                    "redcap_event_name",
                    event,
                    f"record {sid} is in {s.arm} on line {s.line}: a record is in one arm",
                )
        instrument = rec.get("redcap_repeat_instrument") or None
        instance_text = rec.get("redcap_repeat_instance") or None
        if instrument is not None and instrument not in forms:
            bad(i, "redcap_repeat_instrument", instrument, "unknown instrument")
            continue
        if instrument is not None and instrument not in study.schedule.repeating:
            bad(
                i,
                "redcap_repeat_instrument",
                instrument,
                "not a repeating form of the definition (schedule.repeating)",
            )
            continue
        instance = 1
        if instance_text is not None:
            if instrument is None:
                bad(
                    i,
                    "redcap_repeat_instance",
                    instance_text,
                    "an instance without an instrument (a repeating event): not supported",
                )
                continue
            if not instance_text.isdigit() or int(instance_text) < 1:
                bad(i, "redcap_repeat_instance", instance_text, "must be a whole number >= 1")
                continue
            instance = int(instance_text)
        elif instrument is not None:
            bad(i, "redcap_repeat_instance", "", "a repeat instrument needs its instance")
            continue
        for form in study.forms:
            got = _form_values(study, form, rec)
            if got is None:
                continue
            values, status, columns, touched, error = got
            if error is not None:
                bad(i, *error)
                continue
            if not touched:  # blank, no box ticked, status blank or 0: not entered here
                empty += status == 0
                continue
            repeats = form.name in study.schedule.repeating
            if (form.name != instrument) if instrument else repeats:
                where = f"instrument {instrument}" if instrument else "no repeat instrument"
                bad(
                    i,
                    touched[0],
                    rec.get(touched[0]),
                    f"a value of form {form.name} on a row of {where}",
                )
                continue
            rows.append(FormRow(form.name, sid, visit, instance, status, values, lines[i], columns))
    if problems:
        raise ImportRejectedError(source, problems)
    notes = [f"{empty} never-saved forms (no value, status 0) are not data"] if empty else []
    if not study.study.sites:
        dags = sorted({s.site for s in subjects.values() if s.site})
        if dags:
            notes.append(
                "the definition declares no sites: data access groups stored as given ("
                + ", ".join(dags)
                + ")"
            )
    return list(subjects.values()), rows, notes


def _at(p: Problem, line: int) -> Problem:
    return Problem(p.file, p.row, p.column, p.value, p.rule, line=line)


def _form_values(
    study: StudyDefinition, form: Form, rec: Mapping[str, Any]
) -> tuple[dict[str, Any], int | None, dict[str, str], list[str], tuple | None] | None:
    """A form's raw values on one export row, its status, field -> column, the columns that
    hold data, and the first malformed cell (None when none of its columns is there)."""
    values: dict[str, Any] = {}
    columns: dict[str, str] = {}
    touched: list[str] = []
    present = False
    for col, f, code in _form_columns(study, form):
        if col not in rec:
            continue
        present = True
        raw = rec[col]
        columns.setdefault(f.name, col)
        if code is None:
            values[f.name] = raw
            if raw not in (None, ""):
                touched.append(col)
            continue
        values.setdefault(f.name, [])
        if raw in (None, "", "0"):
            continue
        if raw != "1":
            return values, None, columns, touched, (col, raw, "a checkbox column is 0 or 1")
        values[f.name].append(code)
        touched.append(col)
    status_col = f"{form.name}_complete"
    status_raw = rec.get(status_col)
    if status_col not in rec and not present:
        return None
    status = None
    if status_raw not in (None, ""):
        if status_raw not in ("0", "1", "2"):
            return values, None, columns, touched, (status_col, status_raw, "must be 0, 1 or 2")
        status = int(status_raw)
        if status:
            touched.append(status_col)
    return values, status, columns, touched, None


def records_text(conn: Connection, study: StudyDefinition) -> str:
    """The store as a REDCap raw records export (see the module docstring)."""
    from .study_export import stored_frames

    frames = stored_frames(conn, study)
    subject = subject_column(study)
    cols = export_columns(study)
    subjects = frames.pop("__subjects__")
    arm_no = {a.name: i + 1 for i, a in enumerate(study.allocation.arms)}
    order = {v.name: i for i, v in enumerate(study.visits)}
    due = study.schedule.due
    repeating = set(study.schedule.repeating)
    by_key: dict[tuple, dict[str, str]] = {}
    for form in study.forms:
        for r in frames[form.name]:
            key = (
                r[subject],
                r["visit"],
                form.name if form.name in repeating else "",
                r["instance"] if form.name in repeating else 0,
            )
            by_key.setdefault(key, {}).update(_cells(study, form, r))
    rank = {s[subject]: i for i, s in enumerate(subjects)}
    site = {s[subject]: s["site"] or "" for s in subjects}
    arm = {s[subject]: s["arm"] for s in subjects}
    form_rank = {f.name: i for i, f in enumerate(study.forms)}
    # every subject has its rows at each visit it has data at; a visit row holds the
    # non-repeating forms due there (never-saved ones as REDCap writes them: boxes and status 0)
    for sid, visit, _, _ in list(by_key):
        by_key.setdefault((sid, visit, "", 0), {})
    for s in subjects:
        if not any(k[0] == s[subject] for k in by_key):
            by_key[(s[subject], study.visits[0].name if study.visits else "", "", 0)] = {}
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(cols)
    for key in sorted(
        by_key, key=lambda k: (rank[k[0]], order.get(k[1], 0), form_rank.get(k[2], -1), k[3])
    ):
        sid, visit, instrument, instance = key
        cells = dict.fromkeys(cols, "")
        cells[subject] = sid
        if study.visits:
            cells["redcap_event_name"] = f"{visit}_arm_{arm_no.get(arm[sid], 1)}"
        if "redcap_repeat_instrument" in cells:
            cells["redcap_repeat_instrument"] = instrument
            cells["redcap_repeat_instance"] = str(instance) if instrument else ""
        cells["redcap_data_access_group"] = site[sid]
        if not instrument:
            for form in study.forms:
                if form.name in repeating:
                    continue
                if study.visits and form.name in due and visit not in due[form.name]:
                    continue
                for col, _, code in _form_columns(study, form):
                    if code is not None:
                        cells[col] = "0"
                cells[f"{form.name}_complete"] = "0"
        cells.update(by_key[key])
        w.writerow([cells[c] for c in cols])
    return out.getvalue()


def _cells(study: StudyDefinition, form: Form, row: Mapping[str, Any]) -> dict[str, str]:
    cells: dict[str, str] = {}
    for col, f, code in _form_columns(study, form):
        value = row[f.name]
        if code is None:
            cells[col] = format_value(f, value)
        else:
            cells[col] = "1" if value and code in value.split(",") else "0"
    status = row["form_status"]
    cells[f"{form.name}_complete"] = "" if status is None else str(status)
    return cells


def import_redcap_records(
    engine: Engine, path: str | Path, *, user: str, reason: str | None = None
) -> tuple[StudyImportResult, list[str]]:
    """Read a records export by the store's definition and import it (all or nothing);
    returns the result and the notes of :func:`read_records`."""
    with engine.connect() as conn:
        study = stored_study(conn)
    subjects, rows, notes = read_records(study, path)
    result = import_rows(engine, study, subjects, rows, source=str(path), user=user, reason=reason)
    return result, notes
