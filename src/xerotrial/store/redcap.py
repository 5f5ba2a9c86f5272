"""REDCap: a CSV data export plus its data dictionary -> the store's forms, all or nothing.

The REDCap project mirrors the case report forms: an instrument (``Form Name`` in the data
dictionary) named like a form (``sialometry``, ``qlq_hn35``, ...) whose fields are named like
the form's columns. Every field and column goes somewhere or is refused by name: an
instrument that is not a form (unless skipped by name: ``--skip-instrument``), a field that
is not a column of its form, a form column the instrument lacks, a field of the dictionary
missing from the export, an export column not in the dictionary (REDCap's own
``redcap_*`` columns and the instruments' ``*_complete`` status columns excepted).

* ``subject``: the record id (the dictionary's first field) unless the instrument has a
  ``subject`` field itself.
* ``visit``: from ``redcap_event_name`` with the arm suffix removed (``day30_arm_1`` ->
  ``day30``) unless the instrument has a ``visit`` field.
* Coded choices (radio, dropdown: ``1, patient | 2, control``) are replaced by their labels;
  ``yesno`` and ``truefalse`` fields by yes / no. Raw (coded) and label exports both work.
* Rows: an instrument's rows are those of its repeating instrument
  (``redcap_repeat_instrument``), or the non-repeating rows, where any of its fields is
  filled in. Checkbox fields (``field___code``) are not supported (refused).

Every instrument is imported in the store's form order in one transaction: a problem
anywhere rejects the whole export. Problems name ``FILE [form]`` and the export's data row.

Example
-------
>>> dd = pd.DataFrame({"Variable / Field Name": ["site", "name", "country"],
...                    "Form Name": ["sites"] * 3,
...                    "Field Type": ["text", "text", "dropdown"],
...                    "Choices, Calculations, OR Slider Labels": ["", "", "1, DK | 2, SE"]})
>>> data = pd.DataFrame({"site": ["RH"], "name": ["Rigshospitalet"], "country": ["1"]})
>>> redcap_frames(data, dd)["sites"].values.tolist()
[['RH', 'Rigshospitalet', 'DK']]
>>> redcap_frames(data.assign(notes="x"), dd)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
xerotrial.errors.ImportRejectedError: export: rejected, nothing was imported (1 problem):
  export: row 0, column 'notes', value None: a column of the export that is not a field of ...
"""  # noqa: E501

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from .audit import AuditWriter
from .engine import write_transaction
from .errors import ImportRejectedError, StoreError
from .forms import FORMS, Problem
from .importer import ImportResult, current_user, import_into, read_table
from .migrate import stored_protocol

__all__ = ["import_redcap", "redcap_frames"]

_VAR, _FORM, _TYPE, _CHOICES = (
    "Variable / Field Name",
    "Form Name",
    "Field Type",
    "Choices, Calculations, OR Slider Labels",
)
_ARM = re.compile(r"_arm_\d+$")


def _choices(text: object) -> dict[str, str]:
    out = {}
    if not isinstance(text, str):
        return out
    for part in text.split("|"):
        code, sep, label = part.partition(",")
        if sep:
            out[code.strip()] = label.strip()
    return out


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())


#: Columns of a REDCap export that describe the row, not a field.
SYSTEM_COLUMNS = frozenset(
    {
        "redcap_event_name",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
        "redcap_data_access_group",
        "redcap_survey_identifier",
    }
)
_DERIVED = ("subject", "visit")  # filled from the record id and the event when not fields


def _where(frame: pd.DataFrame, i: int) -> int | None:
    lines = frame.attrs.get("lines")
    return lines[i] if lines else None


def _accounted(
    data: pd.DataFrame, dd: pd.DataFrame, skip: set[str], dd_name: str, export_name: str
) -> list[Problem]:
    """Every dictionary field and export column goes into a form column, or is a problem."""
    problems: list[Problem] = []
    record_id = str(dd[_VAR].iloc[0]).strip()
    known: set[str] = {record_id}
    instruments = list(dict.fromkeys(str(f).strip() for f in dd[_FORM]))
    for i, rec in enumerate(dd.to_dict("records")):
        name, form = str(rec[_VAR]).strip(), str(rec[_FORM]).strip()
        kind = str(rec[_TYPE]).strip()
        line = _where(dd, i)
        if form in skip or kind == "descriptive":
            known.add(name)
            continue
        if form not in FORMS:
            problems.append(
                Problem(
                    dd_name,
                    i + 1,
                    _FORM,
                    form,
                    f"instrument {form!r} (field {name!r}) is not a form of this study (forms: "
                    f"{', '.join(FORMS)}); leave it out of the export, or skip it by name",
                    line=line,
                )
            )
            continue
        if kind == "checkbox":
            problems.append(
                Problem(dd_name, i + 1, _VAR, name, "checkbox fields are not supported", line=line)
            )
            continue
        if name != record_id and name not in FORMS[form].columns:
            problems.append(
                Problem(
                    dd_name,
                    i + 1,
                    _VAR,
                    name,
                    f"field {name!r} of instrument {form!r} is not a column of the form (its "
                    f"template: {', '.join(FORMS[form].columns)})",
                    line=line,
                )
            )
            continue
        known.add(name)
        if name not in data.columns:
            problems.append(
                Problem(
                    export_name,
                    0,
                    name,
                    None,
                    f"field {name!r} of instrument {form!r} is in the dictionary but not in "
                    "the export",
                    line=data.attrs.get("header_line"),
                )
            )
    for form in instruments:
        if form not in FORMS or form in skip:
            continue
        fields = {str(v).strip() for v in dd.loc[dd[_FORM].astype(str).str.strip() == form, _VAR]}
        for column in FORMS[form].columns:
            if column not in fields and column not in _DERIVED:
                problems.append(
                    Problem(
                        dd_name,
                        0,
                        column,
                        None,
                        f"instrument {form!r} has no field {column!r} (every column of the form "
                        "is needed: add the field, empty where unknown)",
                    )
                )
    status = {f"{form}_complete" for form in instruments} | {
        f"{form}_timestamp" for form in instruments
    }
    for column in data.columns:
        c = str(column)
        if c not in known and c not in SYSTEM_COLUMNS and c not in status:
            problems.append(
                Problem(
                    export_name,
                    0,
                    c,
                    None,
                    "a column of the export that is not a field of the data dictionary",
                    line=data.attrs.get("header_line"),
                )
            )
    return problems


def redcap_frames(
    data: pd.DataFrame,
    dictionary: pd.DataFrame,
    *,
    skip: Iterable[str] = (),
    names: tuple[str, str] = ("data dictionary", "export"),
) -> dict[str, pd.DataFrame]:
    """One DataFrame per form found in the export, one row per export row (rows of other
    instruments left blank, so that a row's position is its row in the export).

    Every field of the dictionary and column of the export goes into a form's column; one
    that cannot (an instrument or field the study does not have, a field not exported, a
    checkbox) is an :class:`ImportRejectedError` naming it, unless its instrument is named in
    ``skip``. ``names``: the dictionary's and the export's file names, for the problems.
    """
    for c in (_VAR, _FORM, _TYPE):
        if c not in dictionary.columns:
            raise StoreError(
                f"the data dictionary has no column {c!r}: is it a REDCap data dictionary CSV?"
            )
    dd = dictionary.fillna("")
    dd.attrs = dict(dictionary.attrs)
    record_id = str(dd[_VAR].iloc[0]).strip()
    if record_id not in data.columns:
        raise StoreError(f"the export has no record id column {record_id!r}")
    skip = set(skip)
    problems = _accounted(data, dd, skip, *names)
    if problems:
        raise ImportRejectedError(names[1], problems)
    out: dict[str, pd.DataFrame] = {}
    n = len(data)
    repeat = (
        data["redcap_repeat_instrument"].fillna("").astype(str)
        if "redcap_repeat_instrument" in data.columns
        else pd.Series([""] * n)
    )
    for form, fields in dd.groupby(_FORM, sort=False):
        if form not in FORMS or form in skip:
            continue
        spec = FORMS[form]
        cols = {}
        for rec in fields.to_dict("records"):
            name = str(rec[_VAR]).strip()
            if name not in spec.columns:
                continue  # the record id, when the form has no column of its name
            values = data[name].tolist()
            kind = str(rec[_TYPE]).strip()
            if kind in ("radio", "dropdown"):
                codes = _choices(rec.get(_CHOICES))
                values = [codes.get(str(v).strip(), v) if not _blank(v) else v for v in values]
            elif kind in ("yesno", "truefalse"):
                values = [{"1": "yes", "0": "no"}.get(str(v).strip(), v) for v in values]
            cols[name] = values
        if not cols:
            continue
        filled = [any(not _blank(cols[c][i]) for c in cols) for i in range(n)]
        mine = [(r == form) if spec.name in set(repeat) else (r == "") for r in repeat]
        keep = [f and m for f, m in zip(filled, mine, strict=True)]
        frame = pd.DataFrame(index=range(n), columns=list(spec.columns), dtype=object)
        for c, values in cols.items():
            frame[c] = values
        if "subject" in spec.columns and "subject" not in cols:
            frame["subject"] = data[record_id].tolist()
        if "visit" in spec.columns and "visit" not in cols:
            if "redcap_event_name" not in data.columns:
                raise StoreError(
                    f"form {form}: no 'visit' field and no redcap_event_name "
                    "(a longitudinal export is needed)"
                )
            frame["visit"] = [_ARM.sub("", str(e)) for e in data["redcap_event_name"]]
        frame = frame.astype(object)
        frame.loc[[not k for k in keep], :] = None
        frame.attrs["lines"] = data.attrs.get("lines")
        out[form] = frame
    return out


def import_redcap(
    engine: Engine,
    export: str | Path,
    dictionary: str | Path,
    *,
    user: str | None = None,
    reason: str | None = None,
    skip: Iterable[str] = (),
) -> list[ImportResult]:
    """Import a REDCap CSV export with its data dictionary, all or nothing (``skip``:
    instruments left out on purpose).

    Raises :class:`ImportRejectedError` with every problem of every form.
    """
    frames = redcap_frames(
        read_table(export), read_table(dictionary), skip=skip, names=(str(dictionary), str(export))
    )
    if not frames:
        raise StoreError(f"{dictionary}: no instrument is named like a form ({', '.join(FORMS)})")
    results, problems = [], []
    with write_transaction(engine) as conn:
        audit = AuditWriter(
            conn,
            user=user or current_user(),
            reason=reason or f"REDCap import of {export}",
            source=str(export),
        )
        protocol = stored_protocol(conn)
        for form in FORMS:
            if form not in frames:
                continue
            res, probs = import_into(
                conn,
                form,
                frames[form],
                source=f"{export} [{form}]",
                audit=audit,
                protocol=protocol,
            )
            results.append(res)
            problems += probs
        if problems:
            raise ImportRejectedError(str(export), problems)
    return results
