"""Import the files of ``export raw --format csv`` into a study store: ``subjects.csv`` and
one ``FORM.csv`` per form, each validated by the definition and written all or nothing.

``subjects.csv`` has the subject column, ``site`` and ``arm``. A form's file has the subject
column, ``visit`` (when the study has visits), ``instance`` (a repeating form; default 1), its
fields — a checkbox as ``field___code`` 0/1 columns or as one column of its codes (``1,3``) —
and ``form_status`` (optional). Every column must be one of these: an unknown one is refused
by name. A form row's subject must be stored already (import ``subjects`` first).

Example
-------
>>> import tempfile, os
>>> from xerotrial.store.study_store import init_study_store
>>> from xerotrial.store.engine import open_store
>>> from xerotrial.study import SEED_STUDY
>>> d = tempfile.mkdtemp(); db = os.path.join(d, "s.db"); _ = init_study_store(db, SEED_STUDY)
>>> _ = open(os.path.join(d, "subjects.csv"), "w").write("subject,site,arm\\nP01,RH,\\n")
>>> import_study_csv(open_store(db), "subjects", os.path.join(d, "subjects.csv"), user="ana")
StudyImportResult(source='...subjects.csv', inserted=0, unchanged=0, subjects=1, warnings=())
"""

from __future__ import annotations

from pathlib import Path

from xerotrial.errors import Problem
from xerotrial.study.model import StudyDefinition
from xerotrial.study.redcap import checkbox_column

from .errors import ImportRejectedError, StoreError
from .study_import import FormRow, StudyImportResult, SubjectRow, import_rows
from .study_schema import SUBJECTS, data_fields, subject_column
from .study_store import stored_study

__all__ = ["import_study_csv", "read_form_csv"]


def _blank(v: str | None) -> bool:
    return v is None or not str(v).strip()


def read_form_csv(
    study: StudyDefinition, form: str, path: str | Path
) -> tuple[list[SubjectRow], list[FormRow]]:
    """The rows of one exported file (``form`` ``subjects`` or a form's name)."""
    from xerotrial.tables import read_table

    frame = read_table(path)
    source = str(path)
    lines = frame.attrs["lines"]
    header_line = frame.attrs.get("header_line", 1)
    frame.attrs = {}
    subject = subject_column(study)
    problems: list[Problem] = []
    if form == SUBJECTS:
        known = [subject, "site", "arm"]
        fields = []
    else:
        spec = next((f for f in study.forms if f.name == form), None)
        if spec is None:
            forms = ", ".join([SUBJECTS, *(f.name for f in study.forms)])
            raise StoreError(f"unknown form {form!r}; this study's: {forms}")
        fields = list(data_fields(study, spec))
        known = [subject, "visit", "instance", "form_status"]
        for f in fields:
            known.append(f.name)
            if f.type == "checkbox":
                known += [checkbox_column(f.name, c) for c in f.choices]
    for col in frame.columns:
        if col not in known:
            problems.append(Problem(source, 0, col, None, "unknown column", line=header_line))
    if subject not in frame.columns:
        problems.append(
            Problem(source, 0, subject, None, "the subject column is needed", line=header_line)
        )
    if problems:
        raise ImportRejectedError(source, problems)
    subjects: list[SubjectRow] = []
    rows: list[FormRow] = []
    for i, rec in enumerate(frame.to_dict("records")):
        sid = (rec.get(subject) or "").strip()
        if not sid:
            problems.append(
                Problem(source, None, subject, "", "a subject id is required", line=lines[i])
            )
            continue
        if form == SUBJECTS:
            subjects.append(
                SubjectRow(sid, rec.get("site") or None, rec.get("arm") or None, lines[i])
            )
            continue
        values, columns = {}, {}
        for f in fields:
            boxes = [checkbox_column(f.name, c) for c in f.choices] if f.type == "checkbox" else []
            if f.type == "checkbox" and any(b in rec for b in boxes):
                if f.name in rec and not _blank(rec[f.name]):
                    problems.append(
                        Problem(
                            source,
                            None,
                            f.name,
                            rec[f.name],
                            "give the codes or the ___ columns, not both",
                            line=lines[i],
                        )
                    )
                ticked = []
                for code, col in zip(f.choices, boxes, strict=True):
                    v = (rec.get(col) or "").strip()
                    if v not in ("", "0", "1"):
                        problems.append(
                            Problem(
                                source, None, col, v, "a checkbox column is 0 or 1", line=lines[i]
                            )
                        )
                    elif v == "1":
                        ticked.append(code)
                values[f.name], columns[f.name] = ticked, boxes[0]
            else:
                values[f.name], columns[f.name] = rec.get(f.name), f.name
        instance_text = (rec.get("instance") or "1").strip()
        status_text = (rec.get("form_status") or "").strip()
        if not instance_text.isdigit():
            problems.append(
                Problem(source, None, "instance", instance_text, "a whole number", line=lines[i])
            )
            continue
        if status_text not in ("", "0", "1", "2"):
            problems.append(
                Problem(
                    source, None, "form_status", status_text, "must be 0, 1 or 2", line=lines[i]
                )
            )
            continue
        rows.append(
            FormRow(
                form,
                sid,
                (rec.get("visit") or "").strip(),
                int(instance_text),
                int(status_text) if status_text else None,
                values,
                lines[i],
                columns,
            )
        )
    if problems:
        raise ImportRejectedError(source, problems)
    return subjects, rows


def import_study_csv(
    engine,
    form: str,
    path: str | Path,
    *,
    user: str,
    reason: str | None = None,  # noqa: ANN001
) -> StudyImportResult:
    """Read and import one exported file (all or nothing)."""
    with engine.connect() as conn:
        study = stored_study(conn)
    subjects, rows = read_form_csv(study, form, path)
    return import_rows(engine, study, subjects, rows, source=str(path), user=user, reason=reason)
