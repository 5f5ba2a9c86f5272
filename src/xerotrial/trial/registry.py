"""The derivations a study definition may name: one entry per derivation function.

A definition's ``[derivations.PARAMCD]`` names a ``function`` of :data:`DERIVATIONS`, the
``form`` it reads, ``inputs`` (the function's input -> the form's field) and ``params``. Each
entry calls the trial's own validated function (so a rule lives once: the flow rate is
:func:`~xerotrial.trial.sialometry.derive_flow_rate`'s, the XQ score
:func:`~xerotrial.trial.questionnaires.score_xq`'s) on a frame of the form's rows with the
inputs renamed, and returns one value per row (NaN where the rule gives none).

Example
-------
>>> import pandas as pd
>>> rows = pd.DataFrame({"subject": ["1"], "visit": ["baseline"], "cup_before_g": [10.0],
...                      "cup_after_g": [11.0], "minutes": [5.0]})
>>> float(DERIVATIONS["flow_rate"].compute(rows, {"kind": "UWS"})[0])
0.2
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .questionnaires import HN35_SCALES

__all__ = ["DERIVATIONS", "Derivation"]


@dataclass(frozen=True)
class Derivation:
    """A derivation function: its inputs (all required unless listed in ``optional``), its
    params with their allowed values, and ``compute(rows, params)``: one value per row, or
    (``per_visit``) a frame of ``subject``, ``visit``, ``value``, one row per subject and
    visit (a mean over several rows, e.g. over glands)."""

    name: str
    doc: str
    inputs: tuple[str, ...]
    params: Mapping[str, tuple[Any, ...]]
    compute: Callable[[pd.DataFrame, Mapping[str, Any]], Any]
    optional: tuple[str, ...] = ()
    per_visit: bool = False


def _flow_rate(rows: pd.DataFrame, params: Mapping[str, Any]) -> np.ndarray:
    """Rows with both weights; a blank time is the protocol's collection time of the kind
    (as ``derive_flow_rate`` does without a ``minutes`` column)."""
    from .sialometry import derive_flow_rate

    weighed = rows.dropna(subset=["cup_before_g", "cup_after_g"]).assign(kind=params["kind"])
    out = np.full(len(rows), np.nan)
    timed = weighed["minutes"].notna() if "minutes" in weighed else pd.Series(False, weighed.index)
    for part in (weighed[timed], weighed[~timed].drop(columns="minutes", errors="ignore")):
        if len(part):
            flow = derive_flow_rate(part, source="the derivation flow_rate")["flow_ml_min"]
            out[rows.index.get_indexer(part.index)] = flow.to_numpy(dtype=float)
    return out


def _xq_score(rows: pd.DataFrame, params: Mapping[str, Any]) -> np.ndarray:
    from .questionnaires import score_xq

    items = rows.assign(id=np.arange(len(rows)))
    scores = score_xq(items, id_column="id", source="the derivation xq_score")
    return scores[params["scale"]].to_numpy(dtype=float)


def _hn35_score(rows: pd.DataFrame, params: Mapping[str, Any]) -> np.ndarray:
    from .questionnaires import score_qlq_hn35

    items = rows.assign(id=np.arange(len(rows)))
    scores = score_qlq_hn35(items, id_column="id", source="the derivation hn35_score")
    return scores[params["scale"]].to_numpy(dtype=float)


def _saliva_ion(rows: pd.DataFrame, params: Mapping[str, Any]) -> np.ndarray:
    from .saliva import derive_saliva_ions

    have = rows.dropna(subset=["value_mmol_l"])
    out = np.full(len(rows), np.nan)
    if len(have):
        ions = derive_saliva_ions(have, source="the derivation saliva_ion")["value_mmol_l"]
        out[rows.index.get_indexer(have.index)] = ions.to_numpy(dtype=float)
    return out


def _scintigraphy(rows: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    from .scintigraphy import derive_scintigraphy

    wide = derive_scintigraphy(rows, source="the derivation scintigraphy")
    column = f"scint_{params['measure']}_{params['glands']}"
    return wide[["subject", "visit"]].assign(value=wide[column].to_numpy(dtype=float))


def _field(rows: pd.DataFrame, params: Mapping[str, Any]) -> np.ndarray:
    return pd.to_numeric(rows["value"], errors="coerce").to_numpy(dtype=float)


#: The derivation functions by name.
DERIVATIONS: dict[str, Derivation] = {
    d.name: d
    for d in (
        Derivation(
            "flow_rate",
            "whole-saliva flow rate, mL/min: (cup after - cup before) / minutes (1 g = 1 mL), "
            "with the plausibility limits of its kind",
            ("cup_before_g", "cup_after_g", "minutes"),
            {"kind": ("UWS", "SWS")},
            _flow_rate,
            optional=("minutes",),
        ),
        Derivation(
            "xq_score",
            "a Xerostomia Questionnaire score, 0-100 (mean of the answered items x 10; "
            "missing under the half rule)",
            tuple(f"xq{i}" for i in range(1, 9)),
            {"scale": ("xq_summary", "xq_eating", "xq_non_eating")},
            _xq_score,
        ),
        Derivation(
            "hn35_score",
            "an EORTC QLQ-H&N35 symptom scale, 0-100 (half rule for multi-item scales)",
            tuple(f"hn{i}" for i in range(31, 66)),
            {"scale": tuple(HN35_SCALES)},
            _hn35_score,
        ),
        Derivation(
            "saliva_ion",
            "a saliva ion concentration, mmol/L, checked for kind, ion and plausibility",
            ("kind", "ion", "value_mmol_l"),
            {},
            _saliva_ion,
        ),
        Derivation(
            "scintigraphy",
            "a scintigraphy mean over glands (all, parotid or submandibular) per visit: "
            "uptake score 0-4 or excretion fraction %",
            ("gland", "uptake_score", "excretion_fraction_pct"),
            {"measure": ("uptake", "excretion"), "glands": ("all", "pg", "smg")},
            _scintigraphy,
            per_visit=True,
        ),
        Derivation("field", "the value of one numeric field", ("value",), {}, _field),
    )
}
