"""REDCap: a CSV data export plus its data dictionary -> the store's forms, all or nothing.

The REDCap project mirrors the case report forms: an instrument (``Form Name`` in the data
dictionary) named like a form (``sialometry``, ``qlq_hn35``, ...) whose fields are named like
the form's columns. Instruments with other names are ignored (and listed in the result).

* ``subject``: the record id (the dictionary's first field) unless the instrument has a
  ``subject`` field itself.
* ``visit``: from ``redcap_event_name`` with the arm suffix removed (``day30_arm_1`` ->
  ``day30``) unless the instrument has a ``visit`` field.
* Coded choices (radio, dropdown: ``1, patient | 2, control``) are replaced by their labels;
  ``yesno`` and ``truefalse`` fields by yes / no. Raw (coded) and label exports both work.
* Rows: an instrument's rows are those of its repeating instrument
  (``redcap_repeat_instrument``), or the non-repeating rows, where any of its fields is
  filled in. Checkbox fields (``field___code``) are not supported.

Every instrument is imported in the store's form order in one transaction: a problem
anywhere rejects the whole export. Problems name ``FILE [form]`` and the export's data row.

Example
-------
>>> dd = pd.DataFrame({"Variable / Field Name": ["record_id", "site", "group"],
...                    "Form Name": ["participants"] * 3,
...                    "Field Type": ["text", "text", "radio"],
...                    "Choices, Calculations, OR Slider Labels": ["", "", "1, patient | 2, control"]})
>>> data = pd.DataFrame({"record_id": ["P01"], "site": ["S1"], "group": ["1"]})
>>> frames = redcap_frames(data, dd)
>>> frames["participants"][["subject", "site", "group"]].values.tolist()
[['P01', 'S1', 'patient']]
"""  # noqa: E501

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from .audit import AuditWriter
from .engine import write_transaction
from .errors import ImportRejectedError, StoreError
from .forms import FORMS
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


def redcap_frames(data: pd.DataFrame, dictionary: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One DataFrame per form found in the export, one row per export row (rows of other
    instruments left blank, so that a row's position is its row in the export)."""
    for c in (_VAR, _FORM, _TYPE):
        if c not in dictionary.columns:
            raise StoreError(
                f"the data dictionary has no column {c!r}: is it a REDCap data dictionary CSV?"
            )
    dd = dictionary.fillna("")
    record_id = str(dd[_VAR].iloc[0]).strip()
    if record_id not in data.columns:
        raise StoreError(f"the export has no record id column {record_id!r}")
    out: dict[str, pd.DataFrame] = {}
    n = len(data)
    repeat = (
        data["redcap_repeat_instrument"].fillna("").astype(str)
        if "redcap_repeat_instrument" in data.columns
        else pd.Series([""] * n)
    )
    for form, fields in dd.groupby(_FORM, sort=False):
        if form not in FORMS:
            continue
        spec = FORMS[form]
        cols = {}
        for rec in fields.to_dict("records"):
            name = str(rec[_VAR]).strip()
            if name == record_id or name not in spec.columns:
                continue
            values = data[name].tolist() if name in data.columns else [None] * n
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
        out[form] = frame
    return out


def import_redcap(
    engine: Engine,
    export: str | Path,
    dictionary: str | Path,
    *,
    user: str | None = None,
    reason: str | None = None,
) -> list[ImportResult]:
    """Import a REDCap CSV export with its data dictionary, all or nothing.

    Raises :class:`ImportRejectedError` with every problem of every form.
    """
    frames = redcap_frames(read_table(export), read_table(dictionary))
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
