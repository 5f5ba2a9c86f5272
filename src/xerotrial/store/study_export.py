"""Export a study store: one CSV per form, a REDCap records export, or ODM clinical data.

``export raw --format csv`` writes ``subjects.csv`` (the subject column, site, arm) and one
``FORM.csv`` per form with rows: the subject column, ``visit`` (when the study has visits),
``instance`` (a repeating form), each data field under its own name — a checkbox as one
``field___code`` column of 0/1 per code — and ``form_status``. ``--format redcap`` writes
``records.csv`` in REDCap's raw layout (:func:`.redcap_records.records_text`). Values are
written as REDCap writes them (:func:`.study_values.format_value`). Both first check the store
against its audit trail and write ``AUDIT_STATUS.txt`` beside the files.

Example
-------
>>> import tempfile, os
>>> from xerotrial.study import SEED_STUDY
>>> from xerotrial.store.study_store import init_study_store
>>> from xerotrial.store.engine import open_store
>>> d = tempfile.mkdtemp(); _ = init_study_store(os.path.join(d, "s.db"), SEED_STUDY)
>>> paths = export_study(open_store(os.path.join(d, "s.db")), d, fmt="csv")
>>> [p.name for p in paths][:2]
['subjects.csv', 'sites.csv']
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select

from xerotrial.study.model import StudyDefinition
from xerotrial.study.redcap import checkbox_column

from .integrity import check_store, write_status
from .redcap_records import records_text
from .study_schema import SUBJECTS, data_fields, study_tables, subject_column
from .study_store import stored_study
from .study_values import format_value

__all__ = ["EXPORT_FORMATS", "clinical_records", "export_study", "odm_export", "stored_frames"]

#: The formats of ``export raw`` for a study store.
EXPORT_FORMATS = ("csv", "redcap")


def stored_frames(conn: Connection, study: StudyDefinition) -> dict[str, list[dict[str, Any]]]:
    """Every stored row by form, in the order they were stored (``__subjects__``: the
    subjects)."""
    tables = study_tables(study)
    out = {
        "__subjects__": [
            dict(r)
            for r in conn.execute(
                select(tables[SUBJECTS]).order_by(tables[SUBJECTS].c.id)
            ).mappings()
        ]
    }
    for form in study.forms:
        t = tables[form.name]
        out[form.name] = [dict(r) for r in conn.execute(select(t).order_by(t.c.id)).mappings()]
    return out


def _csv(path: Path, header: list[str], rows: Iterator[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def _form_file(study: StudyDefinition, form_name: str, rows: list[dict], out: Path) -> Path:
    form = next(f for f in study.forms if f.name == form_name)
    subject = subject_column(study)
    context = [subject] + (["visit"] if study.visits else [])
    if form.name in study.schedule.repeating:
        context.append("instance")
    fields = data_fields(study, form)
    header = list(context)
    for f in fields:
        header += (
            [checkbox_column(f.name, c) for c in f.choices] if f.type == "checkbox" else [f.name]
        )
    header.append("form_status")

    def lines() -> Iterator[list[str]]:
        for r in rows:
            cells = [str(r[c]) for c in context]
            for f in fields:
                if f.type == "checkbox":
                    ticked = (r[f.name] or "").split(",")
                    cells += ["1" if c in ticked else "0" for c in f.choices]
                else:
                    cells.append(format_value(f, r[f.name]))
            cells.append("" if r["form_status"] is None else str(r["form_status"]))
            yield cells

    return _csv(out / f"{form.name}.csv", header, lines())


def export_study(engine: Engine, out: str | Path, *, fmt: str = "csv") -> list[Path]:
    """Write the store's data into the folder ``out``; returns the paths written (not the
    audit stamp)."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format {fmt!r}: one of {', '.join(EXPORT_FORMATS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = check_store(engine)
    with engine.connect() as conn:
        study = stored_study(conn)
        if fmt == "redcap":
            path = out / "records.csv"
            path.write_text(records_text(conn, study), encoding="utf-8", newline="")
            paths = [path]
        else:
            frames = stored_frames(conn, study)
            subject = subject_column(study)
            subjects = frames.pop("__subjects__")
            paths = [
                _csv(
                    out / "subjects.csv",
                    [subject, "site", "arm"],
                    ([s[subject], s["site"] or "", s["arm"] or ""] for s in subjects),
                )
            ]
            paths += [_form_file(study, name, rows, out) for name, rows in frames.items()]
    write_status(report, out)
    return paths


def clinical_records(conn: Connection, study: StudyDefinition) -> list[dict[str, Any]]:
    """The stored rows as records for an ODM ClinicalData export: ``subject``, ``site``,
    ``visit``, ``instance``, ``form``, ``status`` and ``values`` (field -> text; a checkbox
    as its list of codes)."""
    frames = stored_frames(conn, study)
    subject = subject_column(study)
    site = {s[subject]: s["site"] for s in frames.pop("__subjects__")}
    out = []
    for form in study.forms:
        fields = data_fields(study, form)
        for r in frames[form.name]:
            values: dict[str, Any] = {}
            for f in fields:
                v = r[f.name]
                if f.type == "checkbox":
                    values[f.name] = v.split(",") if v else []
                elif f.type == "datetime" and v:
                    values[f.name] = v.replace(" ", "T")  # ODM's datetime
                else:
                    values[f.name] = format_value(f, v)
            out.append(
                {
                    "subject": r[subject],
                    "site": site.get(r[subject]),
                    "visit": r["visit"],
                    "instance": r["instance"],
                    "form": form.name,
                    "status": r["form_status"],
                    "values": values,
                }
            )
    return out


def odm_export(engine: Engine, out: str | Path) -> Path:
    """Write the store's clinical data as CDISC ODM 1.3.2 XML (:mod:`xerotrial.study.odm`)
    to the file ``out``, and ``AUDIT_STATUS.txt`` beside it."""
    from xerotrial.study.odm import clinical_data_xml

    out = Path(out)
    report = check_store(engine)
    with engine.connect() as conn:
        study = stored_study(conn)
        xml = clinical_data_xml(study, clinical_records(conn, study))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(xml)
    write_status(report, out.parent)
    return out
