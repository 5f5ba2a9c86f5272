"""Salivary gland scintigraphy: per-gland scores -> means over all, parotid and submandibular.

Each record is one gland at one visit: ``uptake_score`` is the semi-quantitative tracer uptake
score, an integer 0 (none) to 4, and ``excretion_fraction_pct`` the excretion fraction,
0-100 %. Per subject and visit the means over all glands, the parotid glands (PG) and the
submandibular glands (SMG) are derived for both measures. A missing value (gland not assessed)
is left out of the means; a mean over no values is NaN. "All glands" is the mean over the
glands, not the mean of the PG and SMG means (they differ when a gland is missing).

Example
-------
>>> rec = pd.DataFrame({
...     "subject": ["P01"] * 4, "visit": ["day0"] * 4,
...     "gland": ["left parotid", "right parotid", "left submandibular", "right submandibular"],
...     "uptake_score": [3, 2, 1, 0], "excretion_fraction_pct": [60.0, 58.0, 42.0, 38.0]})
>>> derive_scintigraphy(rec).iloc[0].to_dict()  # doctest: +NORMALIZE_WHITESPACE
{'subject': 'P01', 'visit': 'day0', 'scint_uptake_all': 1.5, 'scint_uptake_pg': 2.5,
 'scint_uptake_smg': 0.5, 'scint_excretion_all': 49.5, 'scint_excretion_pg': 59.0,
 'scint_excretion_smg': 40.0}
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xerotrial.stats.errors import DataValidationError
from xerotrial.trial._checks import (
    duplicate_pair,
    key_columns,
    numeric,
    one_of,
    py,
    raise_first,
    require_columns,
    row_error,
)
from xerotrial.trial.protocol import GLANDS, normalize_gland

__all__ = [
    "EXCRETION_RANGE",
    "SCINT_PARAM_LABELS",
    "UPTAKE_RANGE",
    "derive_scintigraphy",
]

#: Allowed uptake scores (integers, inclusive).
UPTAKE_RANGE: tuple[int, int] = (0, 4)
#: Allowed excretion fractions in percent (inclusive).
EXCRETION_RANGE: tuple[float, float] = (0.0, 100.0)

#: PARAMCD -> PARAM of the six derived parameters (the output's value columns).
SCINT_PARAM_LABELS: dict[str, str] = {
    "scint_uptake_all": "Scintigraphic uptake score, all glands (0-4)",
    "scint_uptake_pg": "Scintigraphic uptake score, parotid glands (0-4)",
    "scint_uptake_smg": "Scintigraphic uptake score, submandibular glands (0-4)",
    "scint_excretion_all": "Scintigraphic excretion fraction, all glands (%)",
    "scint_excretion_pg": "Scintigraphic excretion fraction, parotid glands (%)",
    "scint_excretion_smg": "Scintigraphic excretion fraction, submandibular glands (%)",
}

_GROUPS = {"all": ("parotid", "submandibular"), "pg": ("parotid",), "smg": ("submandibular",)}


def _gland_name(name: object) -> str | None:
    return normalize_gland(name) if isinstance(name, str) else None


def derive_scintigraphy(
    records: pd.DataFrame, source: str = "data", *, require_all_glands: bool = False
) -> pd.DataFrame:
    """Per subject and visit, mean uptake score and excretion fraction over gland groups.

    ``records`` has ``subject``, ``visit`` and/or ``study_day``, ``gland`` (left/right parotid,
    left/right submandibular; case, spaces and hyphens free, e.g. ``"Left Parotid"``),
    ``uptake_score`` (integer 0-4) and ``excretion_fraction_pct`` (0-100). The output has the
    key columns and ``scint_uptake_all``, ``scint_uptake_pg``, ``scint_uptake_smg``,
    ``scint_excretion_all``, ``scint_excretion_pg``, ``scint_excretion_smg``; one row per
    subject and visit in order of first appearance.

    Raises DataValidationError naming row, column, value and rule for an unknown gland, a
    score that is not an integer 0-4, an excretion fraction outside 0-100, a gland given twice
    for the same subject and visit, and (with ``require_all_glands``) a missing gland.

    >>> rec = pd.DataFrame({"subject": ["P01", "P01"], "study_day": [0, 0],
    ...                     "gland": ["left_parotid", "left_submandibular"],
    ...                     "uptake_score": [3, 1], "excretion_fraction_pct": [60.0, None]})
    >>> derive_scintigraphy(rec)[["scint_uptake_all", "scint_excretion_smg"]]
       scint_uptake_all  scint_excretion_smg
    0               2.0                  NaN
    """
    require_columns(records, ["gland", "uptake_score", "excretion_fraction_pct"], source)
    keys = key_columns(records, source)
    glands = one_of(records, "gland", source, GLANDS, _gland_name).tolist()
    uptake = numeric(records, "uptake_score", source, allow_missing=True)
    lo, hi = UPTAKE_RANGE
    bad = uptake.notna() & ((uptake < lo) | (uptake > hi) | (uptake != np.floor(uptake)))
    raise_first(records, bad, "uptake_score", source, f"must be an integer score {lo} to {hi}")
    excretion = numeric(records, "excretion_fraction_pct", source, allow_missing=True)
    elo, ehi = EXCRETION_RANGE
    bad = excretion.notna() & ((excretion < elo) | (excretion > ehi))
    raise_first(
        records, bad, "excretion_fraction_pct", source, f"must be a percentage {elo:g} to {ehi:g}"
    )

    frame = records[keys].copy()
    frame["_gland"] = glands
    frame["_type"] = [GLANDS[g] for g in glands]
    frame["_uptake"] = uptake.to_numpy()
    frame["_excretion"] = excretion.to_numpy()
    pair = duplicate_pair(frame, [*keys, "_gland"])
    if pair is not None:
        first, second = (py(records.index[i]) for i in pair)
        raise row_error(
            source,
            second,
            "gland",
            records["gland"].iloc[pair[1]],
            f"this gland of this subject and visit was already given in row {first!r}; keep one "
            "record per gland and visit",
        )
    if require_all_glands:
        for key, grp in frame.groupby(keys, sort=False):
            missing = [g for g in GLANDS if g not in set(grp["_gland"])]
            if missing:
                raise DataValidationError(
                    f"{source}: {dict(zip(keys, key, strict=True))} has no record for "
                    f"gland(s) {missing}; all four glands are required"
                )

    out = frame[keys].drop_duplicates().reset_index(drop=True)
    for measure, col in (("uptake", "_uptake"), ("excretion", "_excretion")):
        for group, types in _GROUPS.items():
            sel = frame[frame["_type"].isin(types)]
            means = sel.groupby(keys, sort=False)[col].mean().rename(f"scint_{measure}_{group}")
            out = out.merge(means.reset_index(), on=keys, how="left")
    return out
