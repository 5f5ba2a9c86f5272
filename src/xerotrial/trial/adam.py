"""ADaM basic data structure (BDS): one record per subject, parameter and assessment.

:func:`derive_bds` turns long values (subject, parameter code, study day, value) into the BDS
columns ``USUBJID PARAMCD PARAM AVISIT AVISITN ADY AVAL BASE CHG PCHG ABLFL ANL01FL``, then the
analysis-window columns ``AWTARGET AWTDIFF`` (ADaM IG) and ``AWDEVFL AWDEVRS`` (sponsor-defined:
"Y" and the reason when the study day is outside the visit's target window, e.g. the 4-month
visits done at about 3 months).

Rules:

* AVISIT/AVISITN come from the protocol's visit mapping of ADY (study day, day 0 = injection);
  AVISIT is the visit name (``day0`` ... ``day120``), AVISITN its number (0 ... 120).
* ANL01FL = "Y" on one record per subject, parameter and visit: the non-missing value closest
  to the planned day; of two equally close, the later one. Two values on the same study day
  are an error (ambiguous).
* The baseline is the ANL01FL record of the baseline visit (day 0): ABLFL = "Y"; its AVAL is
  BASE on every record of that subject and parameter.
* CHG = AVAL - BASE; PCHG = 100 * CHG / BASE, NaN when BASE is 0 or missing.
* Flags are "Y" or "" (blank). ADY, AVISITN and AWTARGET are floats (NaN when unknown).

Example
-------
>>> values = pd.DataFrame({"subject": ["P01"] * 3, "paramcd": ["uws_ml_min"] * 3,
...                        "study_day": [0, 30, 92], "value": [0.10, 0.12, 0.15]})
>>> bds = derive_bds(values, "paramcd", {"uws_ml_min": "UWS flow rate (mL/min)"})
>>> cols = ["AVISIT", "ADY", "AVAL", "BASE", "CHG", "PCHG", "ABLFL", "AWDEVFL"]
>>> bds[cols].round(4)  # doctest: +NORMALIZE_WHITESPACE
   AVISIT   ADY  AVAL  BASE   CHG  PCHG ABLFL AWDEVFL
0    day0   0.0  0.10   0.1  0.00   0.0     Y
1   day30  30.0  0.12   0.1  0.02  20.0
2  day120  92.0  0.15   0.1  0.05  50.0             Y
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd

from xerotrial.stats.errors import DataValidationError
from xerotrial.trial._checks import (
    day_cell,
    duplicate_pair,
    numeric,
    py,
    raise_first,
    require_columns,
    row_error,
)
from xerotrial.trial.protocol import Protocol, load_protocol

__all__ = [
    "BDS_COLUMNS",
    "WINDOW_COLUMNS",
    "derive_bds",
    "derive_pct_change_param",
]

#: The BDS columns, in order.
BDS_COLUMNS: tuple[str, ...] = (
    "USUBJID",
    "PARAMCD",
    "PARAM",
    "AVISIT",
    "AVISITN",
    "ADY",
    "AVAL",
    "BASE",
    "CHG",
    "PCHG",
    "ABLFL",
    "ANL01FL",
)
#: Analysis-window columns that follow the BDS columns.
WINDOW_COLUMNS: tuple[str, ...] = ("AWTARGET", "AWTDIFF", "AWDEVFL", "AWDEVRS")

_UNIT_SUFFIXES = ("_ml_min", "_mmol_l", "_pct", "_score", "_g")


def _sort(bds: pd.DataFrame) -> pd.DataFrame:
    return bds.sort_values(
        ["USUBJID", "PARAMCD", "AVISITN", "ADY"], na_position="last", kind="stable"
    ).reset_index(drop=True)


def _base_chg(bds: pd.DataFrame) -> pd.DataFrame:
    """ABLFL, BASE, CHG and PCHG from AVISIT/ANL01FL/AVAL (``bds`` is modified)."""
    base = bds.loc[bds["ABLFL"] == "Y"].set_index(["USUBJID", "PARAMCD"])["AVAL"]
    idx = pd.MultiIndex.from_frame(bds[["USUBJID", "PARAMCD"]])
    bds["BASE"] = base.reindex(idx).to_numpy(dtype=float)
    bds["CHG"] = bds["AVAL"] - bds["BASE"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pchg = 100.0 * bds["CHG"] / bds["BASE"]
    bds["PCHG"] = pchg.where(bds["BASE"].notna() & (bds["BASE"] != 0))
    return bds


def derive_bds(
    values: pd.DataFrame,
    paramcd_col: str,
    param_labels: Mapping[str, str],
    protocol: Protocol | None = None,
    *,
    aval_col: str = "value",
    subject_col: str = "subject",
    day_col: str = "study_day",
    visit_col: str = "visit",
    unmapped: Literal["error", "drop", "keep"] = "error",
    source: str = "data",
) -> pd.DataFrame:
    """Build a BDS dataset from long values (see the module docstring for the rules).

    ``values`` has a subject column, a parameter-code column (``paramcd_col``; every code
    needs a label in ``param_labels``), the value (``aval_col``, may be missing) and the study
    day (``day_col``). Without a study-day column the visit names in ``visit_col`` are used as
    AVISIT directly (ADY is then NaN and a visit may hold one value per subject and
    parameter). A study day in no visit window raises (``unmapped="error"``), is dropped
    (``"drop"``) or kept with a blank AVISIT, NaN AVISITN and no flags (``"keep"``).

    >>> v = pd.DataFrame({"subject": ["P01", "P01", "P01"], "paramcd": ["x", "x", "x"],
    ...                   "study_day": [0, 28, 31], "value": [2.0, 3.0, 4.0]})
    >>> out = derive_bds(v, "paramcd", {"x": "X"})
    >>> out[["ADY", "CHG", "ANL01FL"]]  # doctest: +NORMALIZE_WHITESPACE
        ADY  CHG ANL01FL
    0   0.0  0.0       Y
    1  28.0  1.0
    2  31.0  2.0       Y
    """
    p = protocol if protocol is not None else load_protocol()
    if unmapped not in ("error", "drop", "keep"):
        raise DataValidationError(f"unmapped must be 'error', 'drop' or 'keep', not {unmapped!r}")
    require_columns(values, [subject_col, paramcd_col, aval_col], source)
    by_day = day_col in values.columns
    if not by_day and visit_col not in values.columns:
        raise DataValidationError(
            f"{source}: needs a study-day column {day_col!r} (or visit names in {visit_col!r})"
        )
    for c in (subject_col, paramcd_col):
        raise_first(values, values[c].isna(), c, source, "required, must not be missing")
    for row, code in values[paramcd_col].items():
        if str(code) not in param_labels:
            raise row_error(
                source,
                row,
                paramcd_col,
                code,
                f"parameter code has no label in param_labels ({sorted(param_labels)})",
            )

    n = len(values)
    avisit = np.full(n, "", dtype=object)
    avisitn = np.full(n, np.nan)
    ady = np.full(n, np.nan)
    target = np.full(n, np.nan)
    devfl = np.full(n, "", dtype=object)
    devrs = np.full(n, "", dtype=object)
    keep = np.ones(n, dtype=bool)
    if by_day:
        cache = {}
        for i, (row, d) in enumerate(values[day_col].items()):
            day = day_cell(d, source, row, day_col)
            if day not in cache:
                cache[day] = p.map_visit(day)
            a = cache[day]
            ady[i] = day
            if not a.mapped:
                if unmapped == "error":
                    raise row_error(source, row, day_col, d, a.reason)
                keep[i] = unmapped == "keep"
                continue
            avisit[i] = a.visit
            avisitn[i] = a.avisitn
            target[i] = a.planned_day
            if a.deviation:
                devfl[i] = "Y"
                devrs[i] = a.reason
    else:
        for i, (row, name) in enumerate(values[visit_col].items()):
            try:
                v = p.visit(name)
            except DataValidationError as exc:
                raise row_error(source, row, visit_col, name, str(exc)) from None
            avisit[i] = v.name
            avisitn[i] = v.avisitn
            target[i] = v.planned_day

    bds = pd.DataFrame(
        {
            "USUBJID": values[subject_col].astype(str).to_numpy(),
            "PARAMCD": values[paramcd_col].astype(str).to_numpy(),
            "AVISIT": avisit,
            "AVISITN": avisitn,
            "ADY": ady,
            "AVAL": numeric(values, aval_col, source, allow_missing=True).to_numpy(),
            "AWTARGET": target,
            "AWTDIFF": np.abs(ady - target),
            "AWDEVFL": devfl,
            "AWDEVRS": devrs,
            "_pos": np.arange(n),
        }
    )[keep].reset_index(drop=True)
    bds["PARAM"] = bds["PARAMCD"].map(lambda c: param_labels[c])

    cand = bds[(bds["AVISIT"] != "") & bds["AVAL"].notna()]
    same = ["USUBJID", "PARAMCD", "ADY"] if by_day else ["USUBJID", "PARAMCD", "AVISIT"]
    pair = duplicate_pair(cand, same)
    if pair is not None:
        first, second = (int(cand["_pos"].iloc[i]) for i in pair)
        at = f"study day {cand['ADY'].iloc[pair[0]]:g}" if by_day else "visit"
        raise row_error(
            source,
            values.index[second],
            aval_col,
            values[aval_col].iloc[second],
            f"a second value of this subject and parameter at the same {at} (also row "
            f"{py(values.index[first])!r}); keep one",
        )
    ranked = cand.assign(_later=-cand["ADY"].fillna(0)).sort_values(
        ["USUBJID", "PARAMCD", "AVISITN", "AWTDIFF", "_later"], na_position="last", kind="stable"
    )
    chosen = ranked.drop_duplicates(["USUBJID", "PARAMCD", "AVISITN"]).index
    bds["ANL01FL"] = ""
    bds.loc[chosen, "ANL01FL"] = "Y"
    bds["ABLFL"] = np.where(
        (bds["ANL01FL"] == "Y") & (bds["AVISIT"] == p.baseline_visit.name), "Y", ""
    )
    bds = _base_chg(bds)
    return _sort(bds[list(BDS_COLUMNS + WINDOW_COLUMNS)])


def _default_pct_code(paramcd: str) -> str:
    for suffix in _UNIT_SUFFIXES:
        if paramcd.endswith(suffix) and len(paramcd) > len(suffix):
            return paramcd[: -len(suffix)] + "_pct_change"
    return paramcd + "_pct_change"


def derive_pct_change_param(
    bds: pd.DataFrame,
    paramcd: str,
    new_paramcd: str | None = None,
    new_param: str | None = None,
) -> pd.DataFrame:
    """Add the percent change from baseline of ``paramcd`` as a parameter of its own.

    The new records copy those of ``paramcd`` with AVAL = PCHG (so the baseline record has
    AVAL 0), BASE = 0 (NaN where the source has no baseline), CHG = AVAL and PCHG = NaN; the
    flags and windows are kept. ``new_paramcd`` defaults to the code without its unit suffix
    plus ``_pct_change`` (``uws_ml_min`` -> ``uws_pct_change``), ``new_param`` to the label
    without its unit plus "(% change from baseline)". Returns ``bds`` plus the new records.

    >>> v = pd.DataFrame({"subject": ["P01"] * 2, "paramcd": ["uws_ml_min"] * 2,
    ...                   "study_day": [0, 120], "value": [0.12, 0.18]})
    >>> bds = derive_bds(v, "paramcd", {"uws_ml_min": "UWS flow rate (mL/min)"})
    >>> out = derive_pct_change_param(bds, "uws_ml_min")
    >>> out[["PARAMCD", "PARAM", "AVISIT", "AVAL", "BASE"]].round(6)
              PARAMCD                                   PARAM  AVISIT   AVAL  BASE
    0      uws_ml_min                  UWS flow rate (mL/min)    day0   0.12  0.12
    1      uws_ml_min                  UWS flow rate (mL/min)  day120   0.18  0.12
    2  uws_pct_change  UWS flow rate (% change from baseline)    day0   0.00  0.00
    3  uws_pct_change  UWS flow rate (% change from baseline)  day120  50.00  0.00
    """
    require_columns(bds, BDS_COLUMNS, "bds")
    src = bds[bds["PARAMCD"] == paramcd]
    if src.empty:
        raise DataValidationError(
            f"bds: parameter {paramcd!r} not found (PARAMCD values: "
            f"{sorted(bds['PARAMCD'].unique())})"
        )
    code = new_paramcd if new_paramcd is not None else _default_pct_code(paramcd)
    if (bds["PARAMCD"] == code).any():
        raise DataValidationError(f"bds: parameter {code!r} already exists; choose new_paramcd")
    if new_param is None:
        label = re.sub(r"\s*\([^()]*\)\s*$", "", str(src["PARAM"].iloc[0]))
        new_param = f"{label} (% change from baseline)"
    new = src.copy()
    new["PARAMCD"] = code
    new["PARAM"] = new_param
    new["AVAL"] = src["PCHG"]
    new["BASE"] = np.where(src["BASE"].notna(), 0.0, np.nan)
    new["CHG"] = new["AVAL"] - new["BASE"]
    new["PCHG"] = np.nan
    return _sort(pd.concat([bds, new], ignore_index=True))
