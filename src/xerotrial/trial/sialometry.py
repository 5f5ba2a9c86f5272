"""Whole-saliva flow rates from cup weights, hyposalivation, percent change and responders.

Flow rate (mL/min) = (cup after - cup before, g) / collection minutes, with 1 g of saliva =
1 mL (gravimetric method; spec 5.1). The net weight is rounded to 9 decimals only to remove
binary floating-point noise of the subtraction (cups are weighed to 0.01 g); the flow rate is
compared with the hyposalivation threshold unrounded (spec 5.2).

Plausibility limits (protocol ``[sialometry.max_flow_ml_min]``, bundled values): a flow above
5 mL/min for UWS (50 g in a 10-minute collection) or above 10 mL/min for SWS (50 g in 5
minutes) is rejected as a weighing or unit error.

Example
-------
>>> samples = pd.DataFrame({
...     "subject": ["P01", "P01"], "visit": ["day0", "day0"], "kind": ["UWS", "SWS"],
...     "cup_before_g": [12.00, 12.00], "cup_after_g": [13.30, 15.30], "minutes": [10, 5]})
>>> derive_flow_rate(samples)[["kind", "net_weight_g", "flow_ml_min", "hyposalivation"]]
  kind  net_weight_g  flow_ml_min  hyposalivation
0  UWS           1.3         0.13           False
1  SWS           3.3         0.66           False
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from xerotrial.stats.errors import DataValidationError
from xerotrial.trial._checks import (
    key_columns,
    numeric,
    one_of,
    raise_first,
    require_columns,
    upper_text,
)
from xerotrial.trial.protocol import (
    COMPARISON_OPERATORS,
    SALIVA_KINDS,
    Protocol,
    compare,
    load_protocol,
)

__all__ = ["FLOW_PARAM_LABELS", "derive_flow_rate", "derive_responder", "percent_change"]

#: PARAMCD -> PARAM of the flow-rate parameters (the ``paramcd`` column of the output).
FLOW_PARAM_LABELS: dict[str, str] = {
    "uws_ml_min": "Unstimulated whole saliva flow rate (mL/min)",
    "sws_ml_min": "Stimulated whole saliva flow rate (mL/min)",
}


def derive_flow_rate(
    samples: pd.DataFrame, protocol: Protocol | None = None, source: str = "data"
) -> pd.DataFrame:
    """Add net weight, flow rate, hyposalivation flag and PARAMCD to sialometry samples.

    ``samples`` has ``subject``, ``visit`` and/or ``study_day``, ``kind`` (UWS or SWS, any
    case), ``cup_before_g``, ``cup_after_g`` and ``minutes``. Without a ``minutes`` column the
    protocol's collection time per kind is used (UWS 10, SWS 5) and written to the output.
    The output is a copy with ``kind`` upper-cased and the columns ``minutes``,
    ``net_weight_g``, ``flow_ml_min``, ``hyposalivation`` (protocol threshold per kind) and
    ``paramcd`` (``uws_ml_min`` / ``sws_ml_min``) added; other columns are kept.

    Raises DataValidationError naming the row (index label), column, value and rule for: a
    missing key, a kind other than UWS/SWS, a missing or non-numeric weight or time, a
    negative cup weight, a cup lighter after than before, minutes <= 0, and a flow above the
    plausible maximum of its kind.

    >>> s = pd.DataFrame({"subject": ["P01"], "study_day": [0], "kind": ["uws"],
    ...                   "cup_before_g": [12.0], "cup_after_g": [12.9]})
    >>> derive_flow_rate(s)[["kind", "minutes", "flow_ml_min", "hyposalivation"]]
      kind  minutes  flow_ml_min  hyposalivation
    0  UWS     10.0         0.09            True
    """
    p = protocol if protocol is not None else load_protocol()
    require_columns(samples, ["subject", "kind", "cup_before_g", "cup_after_g"], source)
    key_columns(samples, source)
    kind = one_of(samples, "kind", source, SALIVA_KINDS, upper_text)
    before = numeric(samples, "cup_before_g", source)
    after = numeric(samples, "cup_after_g", source)
    for col, values in (("cup_before_g", before), ("cup_after_g", after)):
        raise_first(samples, values < 0, col, source, "a weight must be >= 0 g")
    if "minutes" in samples.columns:
        minutes = numeric(samples, "minutes", source)
        raise_first(samples, minutes <= 0, "minutes", source, "must be > 0 minutes")
    else:
        minutes = kind.map(p.collection_minutes).astype(float)
    net = (after - before).round(9)
    b, n, m = before.to_numpy(), net.to_numpy(), minutes.to_numpy()
    raise_first(
        samples,
        n < 0,
        "cup_after_g",
        source,
        lambda i: (
            f"the cup weighs less after collection than before (cup_before_g = "
            f"{float(b[i])!r}): the net weight {n[i]:g} g must be >= 0"
        ),
    )
    flow = net / minutes
    f, k = flow.to_numpy(), kind.to_numpy()
    limit = kind.map(p.max_flow_ml_min).to_numpy(dtype=float)
    raise_first(
        samples,
        f > limit,
        "cup_after_g",
        source,
        lambda i: (
            f"net weight {n[i]:g} g over {m[i]:g} min gives {f[i]:g} mL/min, above the "
            f"plausible maximum {limit[i]:g} mL/min for {k[i]} (rule: flow_ml_min <= {limit[i]:g})"
        ),
    )
    out = samples.copy()
    out["kind"] = kind
    out["minutes"] = minutes
    out["net_weight_g"] = net
    out["flow_ml_min"] = flow
    hypo = np.zeros(len(samples), dtype=bool)
    for name, rule in p.hyposalivation.items():
        sel = k == name
        hypo[sel] = rule.holds(f[sel])
    out["hyposalivation"] = hypo
    out["paramcd"] = kind.str.lower() + "_ml_min"
    return out


def _wrap(values: np.ndarray, *inputs: Any, dtype: str | None = None) -> Any:
    """Scalar in -> scalar out; a Series in -> a Series with its index; else an array."""
    for x in inputs:
        if isinstance(x, pd.Series):
            return pd.Series(values, index=x.index, dtype=dtype)
    if all(np.ndim(x) == 0 for x in inputs):
        if dtype is None:
            return values.item()
        v = values[()]
        return v if v is pd.NA else bool(v)
    if values.ndim != 1:
        raise DataValidationError(f"expected scalars or 1-D values, not shape {values.shape}")
    return values if dtype is None else pd.array(values, dtype=dtype)


def percent_change(base: Any, value: Any) -> Any:
    """Percent change from baseline: ``100 * (value - base) / base``.

    Undefined (NaN) when the baseline is 0 or missing, or the value is missing. Scalars give
    a float, a Series a Series (its index), anything else a numpy array.

    >>> percent_change(0.12, 0.18), percent_change(0.0, 0.1)
    (50.0, nan)
    """
    b = np.asarray(base, dtype=float)
    v = np.asarray(value, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        pc = np.where((b == 0) | np.isnan(b), np.nan, 100.0 * (v - b) / b)
    return _wrap(np.asarray(pc, dtype=float), base, value)


def derive_responder(
    base: Any,
    follow: Any,
    threshold_pct: float | None = None,
    operator: str | None = None,
    protocol: Protocol | None = None,
) -> Any:
    """Responder: percent change from baseline ``<operator> threshold_pct``, the protocol's
    ``[thresholds.responder]`` rule unless both are given (the bundled protocol's: > 30 %,
    paper: "a clinically relevant increase above 30 %").

    Undefined (``pd.NA``) when the percent change is (baseline 0 or missing, follow-up
    missing). The percent change is rounded to 9 decimals before the comparison, only to
    remove binary floating-point noise (0.50 -> 0.65 is 30 %, not 30.000000000000004 %).
    Scalars give ``True``/``False``/``pd.NA``; a Series or 1-D array gives a nullable
    ``boolean`` Series or array.

    >>> derive_responder(pd.Series([0.10, 0.10, 0.0]), pd.Series([0.14, 0.13, 0.05])).tolist()
    [True, False, <NA>]
    >>> derive_responder(0.10, 0.115, protocol=load_protocol())
    False
    """
    rule = (protocol if protocol is not None else load_protocol()).responder
    if rule.variable not in ("", "pct_change"):
        raise DataValidationError(
            f"the protocol's responder rule is {rule}; derive_responder compares the percent "
            "change from baseline (variable = 'pct_change')"
        )
    threshold_pct = rule.value if threshold_pct is None else threshold_pct
    operator = rule.operator if operator is None else operator
    if operator not in COMPARISON_OPERATORS:
        raise DataValidationError(
            f"responder operator {operator!r} must be one of {list(COMPARISON_OPERATORS)}"
        )
    if isinstance(threshold_pct, bool) or not np.isfinite(threshold_pct):
        raise DataValidationError(f"threshold_pct {threshold_pct!r} is not a finite number")
    pc = np.asarray(percent_change(base, follow), dtype=float)
    flat = np.round(pc.ravel(), 9)
    flags = np.asarray(compare(flat, operator, float(threshold_pct)), dtype=object)
    flags[np.isnan(flat)] = pd.NA
    return _wrap(flags.reshape(pc.shape), base, follow, dtype="boolean")
