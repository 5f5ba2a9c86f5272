"""Export a study store: one CSV per form, a REDCap records export, or ODM clinical data.

``export raw --format csv`` writes ``subjects.csv`` (the subject column, site, arm) and one
``FORM.csv`` per form with rows: the subject column, ``visit`` (when the study has visits),
``instance`` (a repeating form), each data field under its own name — a checkbox as one
``field___code`` column of 0/1 per code — and ``form_status``. ``--format redcap`` writes
``records.csv`` in REDCap's raw layout (:func:`.redcap_records.records_text`); ``parquet``
and ``xpt`` (SAS transport 5, read back by pyreadstat) one typed dataset per form — a checkbox
as its codes (``"1,3"``), XPT names of at most 8 characters from each field's ``xpt`` or its
upper-cased name (a clash is refused, naming the fields; ``xpt_names.csv`` maps them). Values are
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

from .errors import StoreError
from .integrity import check_store, write_status
from .redcap_records import records_text
from .study_schema import SUBJECTS, data_fields, study_tables, subject_column
from .study_store import stored_study
from .study_values import format_value

__all__ = [
    "EXPORT_FORMATS",
    "clinical_records",
    "export_study",
    "form_header",
    "odm_export",
    "stored_frames",
    "study_forms_text",
    "xpt_names",
]

#: The formats of ``export raw`` for a study store.
EXPORT_FORMATS = ("csv", "parquet", "redcap", "xpt")


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


def _context(study: StudyDefinition, form: str) -> list[str]:
    context = [subject_column(study)] + (["visit"] if study.visits else [])
    return context + (["instance"] if form in study.schedule.repeating else [])


def form_header(study: StudyDefinition, form_name: str) -> list[str]:
    """The columns of a form's raw CSV (``subjects``: the subjects file): what
    ``export raw --format csv`` writes and ``import FORM FILE`` reads."""
    if form_name == SUBJECTS:
        return [subject_column(study), "site", "arm"]
    form = next((f for f in study.forms if f.name == form_name), None)
    if form is None:
        known = ", ".join([SUBJECTS, *(f.name for f in study.forms)])
        raise StoreError(f"unknown form {form_name!r}; this study's forms: {known}")
    header = _context(study, form_name)
    for f in data_fields(study, form):
        header += (
            [checkbox_column(f.name, c) for c in f.choices] if f.type == "checkbox" else [f.name]
        )
    return [*header, "form_status"]


def study_forms_text(study: StudyDefinition) -> str:
    """The forms of a study store for people: each field's type, unit, limits, choices."""
    lines = [f"{SUBJECTS}: {', '.join(form_header(study, SUBJECTS))}"]
    for form in study.forms:
        lines.append(f"{form.name}: {form.title}")
        for f in data_fields(study, form):
            bits = [f.type]
            if f.unit:
                bits.append(f.unit)
            if f.lo is not None or f.hi is not None:
                bits.append(
                    f"range [{'' if f.lo is None else f'{f.lo:g}'}, "
                    f"{'' if f.hi is None else f'{f.hi:g}'}]"
                )
            if f.choices:
                bits.append("codes " + "/".join(f.choices))
            bits.append("required" if f.required else "optional")
            label = f": {f.label}" if f.label else ""
            lines.append(f"    {f.name} ({', '.join(bits)}){label}")
    return "\n".join(lines)


def _form_file(study: StudyDefinition, form_name: str, rows: list[dict], out: Path) -> Path:
    form = next(f for f in study.forms if f.name == form_name)
    context = _context(study, form_name)
    fields = data_fields(study, form)
    header = form_header(study, form_name)

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
        elif fmt in ("parquet", "xpt"):
            paths = _typed_files(study, stored_frames(conn, study), out, fmt)
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


def xpt_names(study: StudyDefinition) -> dict[str, tuple[str, dict[str, str]]]:
    """Per dataset (``subjects`` and each form): its XPT member name and column -> XPT name.
    Raises :class:`StoreError` naming every clash (give the field an ``xpt`` name)."""
    subject = subject_column(study)
    context = {
        subject: subject.upper()[:8],
        "visit": "VISIT",
        "instance": "INSTANCE",
        "form_status": "FORMSTAT",
    }
    out = {SUBJECTS: ("SUBJECTS", {subject: context[subject], "site": "SITE", "arm": "ARM"})}
    problems = []
    members: dict[str, str] = {"SUBJECTS": SUBJECTS}
    for form in study.forms:
        member = form.name.upper()[:8]
        if member in members:
            problems.append(f"forms {members[member]} and {form.name} are both XPT member {member}")
        members[member] = form.name
        names = dict(context)
        taken = {v: k for k, v in names.items()}
        for f in data_fields(study, form):
            n = f.xpt or f.name.upper()[:8]
            if n in taken:
                problems.append(
                    f"form {form.name}: fields {taken[n]} and {f.name} are both XPT {n} "
                    f"(give {f.name} an xpt name in the definition)"
                )
            taken[n] = f.name
            names[f.name] = n
        out[form.name] = (member, names)
    if problems:
        raise StoreError("cannot write XPT:\n" + "\n".join(f"  {p}" for p in problems))
    return out


def _typed_files(
    study: StudyDefinition, frames: dict[str, list[dict[str, Any]]], out: Path, fmt: str
) -> list[Path]:
    import pandas as pd

    subject = subject_column(study)
    names = xpt_names(study) if fmt == "xpt" else {}
    datasets = {SUBJECTS: pd.DataFrame(frames["__subjects__"], columns=[subject, "site", "arm"])}
    kinds = {}
    for form in study.forms:
        fields = data_fields(study, form)
        cols = [subject, "visit", "instance", "form_status", *(f.name for f in fields)]
        datasets[form.name] = pd.DataFrame(frames[form.name], columns=cols)
        kinds[form.name] = {f.name: f.type for f in fields}
    paths, mapping = [], []
    for name, frame in datasets.items():
        typed = pd.DataFrame(index=frame.index)
        for col in frame.columns:
            kind = kinds.get(name, {}).get(
                col, "int" if col in ("instance", "form_status") else "text"
            )
            values = frame[col].tolist()
            if kind in ("integer", "int"):
                typed[col] = pd.array(values, dtype="Int64")
            elif kind in ("decimal", "calculated"):
                typed[col] = pd.array(values, dtype="Float64")
            elif kind == "yesno":
                typed[col] = pd.array(values, dtype="boolean")
            elif kind == "date":
                typed[col] = (
                    values
                    if fmt == "parquet"
                    else ["" if v is None else v.isoformat() for v in values]
                )
            else:
                typed[col] = pd.array(values, dtype="string")
        if fmt == "parquet":
            path = out / f"{name}.parquet"
            typed.to_parquet(path, index=False)
        else:
            import pyreadstat

            member, cols = names[name]
            xpt = pd.DataFrame(index=typed.index)
            for col in typed.columns:
                v = typed[col]
                if str(v.dtype) in ("Int64", "Float64", "boolean"):
                    xpt[cols[col]] = v.astype("Float64").astype(float)
                else:
                    xpt[cols[col]] = v.astype(object).where(v.notna(), "").astype(str)
                mapping.append((name, member, col, cols[col]))
            path = out / f"{name}.xpt"
            pyreadstat.write_xport(
                xpt,
                str(path),
                file_format_version=5,
                table_name=member,
                column_labels=list(typed.columns),
            )
        paths.append(path)
    if fmt == "xpt":
        paths.append(
            _csv(
                out / "xpt_names.csv",
                ["dataset", "member", "column", "xpt_name"],
                (list(m) for m in mapping),
            )
        )
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
