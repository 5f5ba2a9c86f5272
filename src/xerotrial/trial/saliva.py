"""Saliva composition: Na+, K+, Cl- and PO4 3- (mmol/L) per whole-saliva sample, long format.

Each value belongs to the sample it was measured in: subject, visit and/or study day, and kind
(UWS or SWS). Values must be non-negative and at most a plausible maximum per ion (protocol
``[saliva.max_mmol_l]``; bundled: Na+ 200, K+ 100, Cl- 200, PO4 3- 50 mmol/L). Whole saliva is
hypotonic, so Na+ and Cl- stay below plasma levels (~140 and ~105 mmol/L) even in damaged
glands, K+ is about 15-40 and phosphate about 2-25 mmol/L: a value above the limit is almost
always a unit error (mg/L, umol/L). Missing values (ion not measured) are dropped.

Example
-------
>>> wide = pd.DataFrame({"subject": ["P01"], "visit": ["day0"], "kind": ["UWS"],
...                      "na": [8.4], "k": [19.1], "cl": [21.7], "po4": [4.7]})
>>> derive_saliva_ions(wide)
  subject visit kind  ion  value_mmol_l         paramcd
0     P01  day0  UWS   Na           8.4   uws_na_mmol_l
1     P01  day0  UWS    K          19.1    uws_k_mmol_l
2     P01  day0  UWS   Cl          21.7   uws_cl_mmol_l
3     P01  day0  UWS  PO4           4.7  uws_po4_mmol_l
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from xerotrial.stats.errors import DataValidationError
from xerotrial.trial._checks import (
    duplicate_pair,
    key_columns,
    numeric,
    one_of,
    py,
    row_error,
    upper_text,
)
from xerotrial.trial.protocol import SALIVA_IONS, SALIVA_KINDS, Protocol, load_protocol

__all__ = ["ION_ALIASES", "ION_LABELS", "SALIVA_PARAM_LABELS", "derive_saliva_ions", "ion_code"]

#: Ion code -> label.
ION_LABELS: dict[str, str] = {
    "Na": "Sodium (Na+)",
    "K": "Potassium (K+)",
    "Cl": "Chloride (Cl-)",
    "PO4": "Phosphate (PO4 3-)",
}

#: Accepted spellings (lower case, spaces, '^' and '_' removed) -> ion code.
ION_ALIASES: dict[str, str] = {
    "na": "Na",
    "na+": "Na",
    "sodium": "Na",
    "k": "K",
    "k+": "K",
    "potassium": "K",
    "cl": "Cl",
    "cl-": "Cl",
    "chloride": "Cl",
    "po4": "PO4",
    "po43-": "PO4",
    "po4-3": "PO4",
    "phosphate": "PO4",
}

_ION_NAMES = {"Na": "sodium", "K": "potassium", "Cl": "chloride", "PO4": "phosphate"}

#: PARAMCD -> PARAM of the eight composition parameters (the ``paramcd`` output column).
SALIVA_PARAM_LABELS: dict[str, str] = {
    f"{kind.lower()}_{ion.lower()}_mmol_l": f"{kind} {_ION_NAMES[ion]} (mmol/L)"
    for kind in SALIVA_KINDS
    for ion in SALIVA_IONS
}


def ion_code(name: object) -> str | None:
    """The ion code of a spelling (``"Na+"``, ``"sodium"``, ``"po4_mmol_l"``), else None.

    >>> ion_code("Na+"), ion_code("PO4 3-"), ion_code("cl_mmol_l"), ion_code("subject")
    ('Na', 'PO4', 'Cl', None)
    """
    if not isinstance(name, str):
        return None
    key = re.sub(r"[\s^_]+", "", name.strip().lower())
    key = re.sub(r"\(?mmol/?l\)?$", "", key)
    return ION_ALIASES.get(key)


def derive_saliva_ions(
    samples: pd.DataFrame, protocol: Protocol | None = None, source: str = "data"
) -> pd.DataFrame:
    """Validate saliva ion concentrations and return them in long format.

    ``samples`` has ``subject``, ``visit`` and/or ``study_day``, ``kind`` (UWS/SWS, any case)
    and either one column per ion (wide: named as :func:`ion_code` accepts, e.g. ``na``,
    ``k_mmol_l``, ``Cl-``, ``PO4``) or the columns ``ion`` and ``value_mmol_l`` (long). Other
    columns are dropped. The output has ``subject``, ``visit`` and/or ``study_day``, ``kind``,
    ``ion`` (Na, K, Cl, PO4), ``value_mmol_l`` and ``paramcd`` (e.g. ``uws_na_mmol_l``), one
    row per measured value, in input order.

    Raises DataValidationError naming row, column, value and rule for a missing key, an
    unknown kind or ion, a non-numeric, negative or implausibly high value, and a value given
    twice for the same sample and ion.

    >>> long = pd.DataFrame({"subject": ["P01"], "study_day": [120], "kind": ["sws"],
    ...                      "ion": ["chloride"], "value_mmol_l": [25.9]})
    >>> derive_saliva_ions(long)[["kind", "ion", "value_mmol_l"]]
      kind ion  value_mmol_l
    0  SWS  Cl          25.9
    """
    p = protocol if protocol is not None else load_protocol()
    keys = key_columns(samples, source)
    kind = one_of(samples, "kind", source, SALIVA_KINDS, upper_text)
    frame = samples.copy()
    frame["kind"] = kind
    if "ion" in samples.columns or "value_mmol_l" in samples.columns:
        for c in ("ion", "value_mmol_l"):
            if c not in samples.columns:
                raise DataValidationError(
                    f"{source}: long format needs both 'ion' and 'value_mmol_l'; {c!r} is missing"
                )
        frame["ion"] = one_of(samples, "ion", source, SALIVA_IONS, ion_code).to_numpy()
        frame["value_mmol_l"] = numeric(
            samples, "value_mmol_l", source, allow_missing=True
        ).to_numpy()
        frame["_column"] = "value_mmol_l"
        frame["_row"] = samples.index
        frame["_order"] = np.arange(len(frame))
        long = frame[[*keys, "kind", "ion", "value_mmol_l", "_column", "_row", "_order"]]
    else:
        cols: dict[str, str] = {}
        for c in samples.columns:
            code = ion_code(c)
            if code is None:
                continue
            if code in cols:
                raise DataValidationError(
                    f"{source}: columns {cols[code]!r} and {c!r} both hold {code}; keep one"
                )
            cols[code] = c
        if not cols:
            raise DataValidationError(
                f"{source}: no ion column found; name them {list(SALIVA_IONS)} (wide) or give "
                "columns 'ion' and 'value_mmol_l' (long)"
            )
        parts = []
        for j, code in enumerate(c for c in SALIVA_IONS if c in cols):
            part = frame[[*keys, "kind"]].copy()
            part["ion"] = code
            part["value_mmol_l"] = numeric(
                samples, cols[code], source, allow_missing=True
            ).to_numpy()
            part["_column"] = cols[code]
            part["_row"] = samples.index
            part["_order"] = np.arange(len(frame)) * len(SALIVA_IONS) + j
            parts.append(part)
        long = pd.concat(parts, ignore_index=True)
    long = long.sort_values("_order", kind="stable")
    long = long[long["value_mmol_l"].notna()].reset_index(drop=True)

    for i in range(len(long)):
        v = long.at[i, "value_mmol_l"]
        ion = long.at[i, "ion"]
        limit = p.saliva_max_mmol_l[ion]
        if v < 0 or v > limit:
            raise row_error(
                source,
                long.at[i, "_row"],
                long.at[i, "_column"],
                v,
                f"{ion} must be between 0 and {limit:g} mmol/L (the plausible maximum; check "
                "the unit)",
            )
    pair = duplicate_pair(long, [*keys, "kind", "ion"])
    if pair is not None:
        first, second = pair
        raise row_error(
            source,
            long.at[second, "_row"],
            long.at[second, "_column"],
            long.at[second, "value_mmol_l"],
            f"{long.at[second, 'ion']} of this sample ({', '.join(map(str, keys))}, kind) was "
            f"already given in row {py(long.at[first, '_row'])!r}; keep one value per sample "
            "and ion",
        )
    long["paramcd"] = long["kind"].str.lower() + "_" + long["ion"].str.lower() + "_mmol_l"
    return long.drop(columns=["_column", "_row", "_order"]).reset_index(drop=True)
