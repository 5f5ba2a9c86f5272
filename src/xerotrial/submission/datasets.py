"""A submission dataset and its metadata, and how a folder of them is written.

A :class:`Dataset` is a frame with exactly its :class:`Variable` columns, in order, and what
define.xml says of it (label, class, structure, keys, standard). The XPT labels and define.xml
both read this one description, so the two cannot disagree.

XPT is SAS transport version 5 (pyreadstat): names of at most 8 characters, labels of at most
40, text of at most 200 bytes; dates of ADaM's numeric ``*DT`` variables are SAS dates
(DATE9.). CSV writes the same columns, dates as ISO 8601.

Example
-------
>>> import pandas as pd
>>> v = Variable("STUDYID", "Study Identifier", "text")
>>> d = Dataset("TS", "Trial Summary", "TRIAL DESIGN", "One record per trial summary "
...             "parameter value", ("STUDYID",), (v,), pd.DataFrame({"STUDYID": ["S1"]}))
>>> d.frame.columns.tolist(), d.variable("STUDYID").label
(['STUDYID'], 'Study Identifier')
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["DATASET_FORMATS", "Dataset", "Variable", "write_dataset"]

#: The formats ``export sdtm`` and ``export adam`` write.
DATASET_FORMATS = ("xpt", "csv")
#: Variable types (define.xml DataType: text, integer, float, date).
TYPES = ("text", "integer", "float", "date")
#: define.xml origin types (Define-XML 2.1 section 5.3.11.2).
ORIGINS = ("Collected", "Derived", "Assigned", "Protocol", "Predecessor")


@dataclass(frozen=True)
class Variable:
    """A variable: name, label, type, and where its values come from (``origin`` of
    :data:`ORIGINS`; ``source`` the form field, ``FORM.FIELD``, or the predecessor; ``method``
    the derivation in words); ``codelist``: the values it may take (empty: any);
    ``core``: Req, Exp or Perm as the implementation guide gives it."""

    name: str
    label: str
    type: str = "text"
    origin: str = "Derived"
    source: str = ""
    method: str = ""
    codelist: tuple[str, ...] = ()
    core: str = "Perm"

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"{self.name}: type {self.type!r}, one of {TYPES}")
        if self.origin not in ORIGINS:
            raise ValueError(f"{self.name}: origin {self.origin!r}, one of {ORIGINS}")


@dataclass(frozen=True)
class Dataset:
    """A dataset and its metadata (see the module docstring); ``standard`` is the guide,
    e.g. ``SDTMIG 3.4``; ``params`` describes each PARAMCD or --TESTCD value
    (value-level metadata: code -> (label, unit, origin text))."""

    name: str
    label: str
    klass: str
    structure: str
    keys: tuple[str, ...]
    variables: tuple[Variable, ...]
    frame: pd.DataFrame
    standard: str = "SDTMIG 3.4"
    params: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [v.name for v in self.variables]
        if list(self.frame.columns) != names:
            raise ValueError(
                f"{self.name}: the frame's columns {list(self.frame.columns)} are not its "
                f"variables {names}"
            )

    def variable(self, name: str) -> Variable:
        """The variable called ``name`` (KeyError if none)."""
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)

    @property
    def file_stem(self) -> str:
        """The file name without its suffix (``dm``, ``suppdm``, ``adsl``)."""
        return self.name.lower()


def _xpt_frame(d: Dataset) -> pd.DataFrame:
    out = d.frame.copy()
    for v in d.variables:
        col = out[v.name]
        if v.type == "text":
            out[v.name] = col.where(col.notna(), "").astype(str)
        elif v.type == "date":
            out[v.name] = [x if isinstance(x, dt.date) else None for x in col]
        else:
            out[v.name] = pd.to_numeric(col, errors="raise").astype(float)
    return out


def write_dataset(d: Dataset, folder: Path, fmt: str) -> Path:
    """Write ``d`` as ``folder/NAME.xpt`` (SAS transport 5, with the labels) or ``.csv``."""
    if fmt not in DATASET_FORMATS:
        raise ValueError(f"format {fmt!r}: one of {', '.join(DATASET_FORMATS)}")
    path = folder / f"{d.file_stem}.{fmt}"
    if fmt == "csv":
        frame = d.frame.copy()
        for v in d.variables:
            if v.type == "date":
                frame[v.name] = [
                    x.isoformat() if isinstance(x, dt.date) else "" for x in frame[v.name]
                ]
        frame.to_csv(path, index=False, lineterminator="\n")
        return path
    import pyreadstat

    formats = {v.name: "DATE9." for v in d.variables if v.type == "date"}
    pyreadstat.write_xport(
        _xpt_frame(d),
        str(path),
        file_label=d.label,
        column_labels=[v.label for v in d.variables],
        table_name=d.name,
        file_format_version=5,
        variable_format=formats or None,
    )
    return path
