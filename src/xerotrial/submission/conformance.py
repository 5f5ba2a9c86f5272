"""The implementation guides' naming rules and required variables, checked before writing.

For every dataset (SDTMIG 3.4 sections 2.5-2.6 and 4.1, ADaMIG 1.3 section 3, SAS transport
version 5):

* dataset names of 1-8 capitals and digits (ADaM's starting ``AD``), labels of 1-40 characters;
* variable names of 1-8 capitals, digits (and ``_`` in ADaM), starting with a letter; labels of
  1-40 characters; text values of at most 200 bytes of ASCII;
* every required (Req) variable present and never empty; the domain's own variables prefixed
  with its code; DOMAIN equal to the dataset's name;
* ``--SEQ`` unique within each subject; ``--TESTCD``, PARAMCD and QNAM of at most 8
  capitals, digits or ``_`` (not starting with a digit), ``--TEST`` and QLABEL of at most 40
  characters, one PARAM per PARAMCD; the dataset's keys unique.

:func:`problems` returns each breach as ``DATASET: rule`` (row and column where it has one).

Example
-------
>>> import pandas as pd
>>> from xerotrial.submission.datasets import Dataset, Variable
>>> v = Variable("STUDYID", "Study Identifier", core="Req")
>>> d = Dataset("TS", "Trial Summary", "TRIAL DESIGN", "", ("STUDYID",), (v,),
...             pd.DataFrame({"STUDYID": [None]}))
>>> problems(d)
['TS row 1, column STUDYID: a required variable is empty']
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from .datasets import Dataset

__all__ = ["problems", "problems_of"]

_DATASET = re.compile(r"^[A-Z][A-Z0-9]{0,7}$")
_SDTM_VAR = re.compile(r"^[A-Z][A-Z0-9]{0,7}$")
_ADAM_VAR = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
_CODE = re.compile(r"^[A-Z_][A-Z0-9_]{0,7}$")
#: Variables every dataset may hold without its domain prefix (SDTMIG 3.4 section 2.5).
_UNPREFIXED = re.compile(
    r"^(STUDYID|DOMAIN|RDOMAIN|USUBJID|SUBJID|SITEID|VISITNUM|VISIT|VISITDY|EPOCH|ARMCD|ARM|"
    r"ACTARMCD|ACTARM|ARMNRS|ETCD|ELEMENT|TAETORD|TESTRL|TEENRL|TVSTRL|IDVAR|IDVARVAL|QNAM|"
    r"QLABEL|QVAL|QORIG|QEVAL|RFSTDTC|RFENDTC|RFXSTDTC|RFXENDTC|AGE|AGEU|SEX|RACE|ETHNIC|"
    r"COUNTRY|IETESTCD|IETEST|IECAT|TIVERS|TSSEQ|TSPARMCD|TSPARM|TSVAL)$"
)


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, float) and pd.isna(v)) or v == "" or v is pd.NA


def problems(d: Dataset) -> list[str]:
    """Every breach of the rules above in ``d`` (empty: conformant)."""
    out: list[str] = []
    adam = d.standard.startswith("ADaM")
    if not _DATASET.match(d.name):
        out.append(f"{d.name}: a dataset name is 1-8 capitals and digits")
    if adam and not d.name.startswith("AD"):
        out.append(f"{d.name}: an ADaM dataset's name starts with AD")
    if not 0 < len(d.label) <= 40:
        out.append(f"{d.name}: the dataset label has {len(d.label)} characters (1-40)")
    pattern = _ADAM_VAR if adam else _SDTM_VAR
    frame = d.frame
    for v in d.variables:
        if not pattern.match(v.name):
            out.append(f"{d.name} column {v.name}: a variable name is 1-8 capitals and digits")
        if not 0 < len(v.label) <= 40:
            out.append(f"{d.name} column {v.name}: the label has {len(v.label)} characters (1-40)")
        col = frame[v.name]
        if v.core == "Req":
            empty = col.isna() | (col.astype(object) == "")
            for i in list(np.flatnonzero(empty.to_numpy()))[:3]:
                out.append(f"{d.name} row {i + 1}, column {v.name}: a required variable is empty")
        if v.type == "text" and len(col):
            text = col.astype(object).where(col.notna(), "").astype(str)
            bad = (text.str.encode("utf-8").str.len() > 200) | ~text.map(str.isascii)
            if bad.any():
                i = int(bad.to_numpy().argmax())
                out.append(
                    f"{d.name} row {i + 1}, column {v.name}: {text.iloc[i][:30]!r} is not "
                    "ASCII of at most 200 bytes"
                )
    if not adam and len(d.name) == 2 and d.klass != "TRIAL DESIGN":
        for v in d.variables:
            if not _UNPREFIXED.match(v.name) and not v.name.startswith(d.name):
                out.append(f"{d.name} column {v.name}: a domain variable starts with {d.name}")
    if "DOMAIN" in frame and not frame.empty and set(frame["DOMAIN"]) != {d.name}:
        out.append(f"{d.name} column DOMAIN: holds {sorted(set(frame['DOMAIN']))}, not {d.name}")
    seq = f"{d.name}SEQ"
    if seq in frame and "USUBJID" in frame and frame.duplicated(["USUBJID", seq]).any():
        out.append(f"{d.name} column {seq}: not unique within a subject")
    for code, limit in ((f"{d.name}TESTCD", 8), ("PARAMCD", 8), ("QNAM", 8)):
        if code in frame:
            bad = sorted({str(x) for x in frame[code] if not _CODE.match(str(x))})
            if bad:
                out.append(f"{d.name} column {code}: {bad[:5]} are not 1-{limit} capitals")
    for test in (f"{d.name}TEST", "QLABEL"):
        if test in frame and (frame[test].astype(str).str.len() > 40).any():
            out.append(f"{d.name} column {test}: at most 40 characters")
    if "PARAMCD" in frame and "PARAM" in frame:
        n = frame.groupby("PARAMCD")["PARAM"].nunique()
        for code in n[n > 1].index:
            out.append(f"{d.name} column PARAM: PARAMCD {code} has several PARAM values")
    keys = [k for k in d.keys if k in frame]
    if keys and frame.duplicated(keys).any():
        row = int(frame.duplicated(keys).to_numpy().argmax()) + 1
        out.append(f"{d.name} row {row}: the keys {', '.join(keys)} repeat an earlier record")
    return out


def problems_of(datasets: Iterable[Dataset]) -> list[str]:
    """The problems of every dataset, and dataset names that repeat."""
    out, seen = [], set()
    for d in datasets:
        if d.name in seen:
            out.append(f"{d.name}: two datasets have this name")
        seen.add(d.name)
        out += problems(d)
    return out
