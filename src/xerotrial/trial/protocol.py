"""The trial protocol as data: visits and windows, doses, cohorts, criteria and thresholds,
the schedule of assessments and the visits of the prespecified analysis.

The protocol is read from a TOML file (the seed trial's, ``xerotrial/data/protocol.toml``, is
bundled) and checked on load: a missing key, an unknown key, a bad operator or an inconsistent
window raises :class:`~xerotrial.stats.errors.DataValidationError` naming the key. A protocol
that says ``study = NAME`` takes its visits, windows, schedule and identifiers from that
bundled study definition (the seed's does: they are stated once, in
``data/studies/seed/study.toml``); :func:`standalone_text` writes them into the file.

Study day 0 is the injection day. A study day maps to the visit whose *window* holds it; a day
inside the window but outside the visit's *target* window is still that visit, flagged as a
protocol deviation with the reason (so the last two patients, seen at about 3 months under the
SARS-CoV-2 amendment, count as the 4-month visit). A day in no window is unmapped.

``[schedule]`` says which forms are due at which visits; ``[analysis]`` names the model's
visits, the primary follow-up visit (Table 3), the early look and the long-term follow-up
(:class:`AnalysisPlan`). The analysis and the report read them from the store's protocol.

Example
-------
>>> p = load_protocol()
>>> [v.name for v in p.visits]
['day0', 'day1', 'day5', 'day30', 'day120', 'year2']
>>> a = p.map_visit(92)
>>> a.visit, a.planned_day, a.deviation
('day120', 120, True)
>>> p.volume_ml("left_submandibular"), p.volume_ml("parotid")
(0.5, 1.0)
>>> p.cohort_for(5), p.cohort_for(6)
('CS5', 'CS10')
>>> p.scheduled("xq"), p.analysis.primary, p.analysis.early
(('day0', 'day30', 'day120'), 'day120', 'day30')
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from xerotrial.stats.errors import DataValidationError
from xerotrial.trial._checks import is_missing, parse_study_day

__all__ = [
    "UNSCHEDULED_CHOICES",
    "AnalysisPlan",
    "COMPARISON_OPERATORS",
    "GLANDS",
    "GLAND_TYPES",
    "OPERATORS",
    "SALIVA_IONS",
    "SALIVA_KINDS",
    "Cohort",
    "Dosing",
    "Protocol",
    "Rule",
    "TrialInfo",
    "Visit",
    "VisitAssignment",
    "Window",
    "compare",
    "load_protocol",
    "normalize_gland",
    "parse_protocol",
    "standalone_text",
]

#: Operators a protocol rule may use; "between" is inclusive and takes ``[lower, upper]``.
OPERATORS: tuple[str, ...] = (">", ">=", "<", "<=", "==", "!=", "in", "not in", "between")
#: Operators that order numbers (the only ones a numeric threshold may use).
COMPARISON_OPERATORS: tuple[str, ...] = (">", ">=", "<", "<=")
#: Whole-saliva sample kinds: unstimulated and stimulated.
SALIVA_KINDS: tuple[str, ...] = ("UWS", "SWS")
#: Saliva ions measured, in mmol/L.
SALIVA_IONS: tuple[str, ...] = ("Na", "K", "Cl", "PO4")
#: Gland types of the major salivary glands.
GLAND_TYPES: tuple[str, ...] = ("parotid", "submandibular")
#: The four major salivary glands (canonical names) and their type.
GLANDS: Mapping[str, str] = MappingProxyType(
    {
        "left_parotid": "parotid",
        "right_parotid": "parotid",
        "left_submandibular": "submandibular",
        "right_submandibular": "submandibular",
    }
)

#: What the analysis does with data at a visit where its form is not scheduled
#: (``[analysis] unscheduled``): analyse them with the rest, or leave them out; either way the
#: report lists them.
UNSCHEDULED_CHOICES: tuple[str, ...] = ("include", "exclude")
_FORM_NAME = re.compile(r"[a-z][a-z0-9_]*")

_BUNDLED = "protocol.toml"


# ------------------------------------------------------------------------------- helpers


def _eq(x: Any, v: Any) -> bool:
    if isinstance(x, str) and isinstance(v, str):
        return x.strip().casefold() == v.strip().casefold()
    if isinstance(x, str) or isinstance(v, str):
        return False
    return bool(x == v)


def _compare_scalar(x: Any, op: str, value: Any) -> bool:
    if is_missing(x):
        return False
    if op == "==":
        return _eq(x, value)
    if op == "!=":
        return not _eq(x, value)
    if op == "in":
        return any(_eq(x, v) for v in value)
    if op == "not in":
        return not any(_eq(x, v) for v in value)
    if isinstance(x, str):
        raise DataValidationError(f"cannot compare the text {x!r} with {op} {value!r}")
    x = float(x)
    if op == "between":
        return bool(value[0] <= x <= value[1])
    if op == ">":
        return x > value
    if op == ">=":
        return x >= value
    if op == "<":
        return x < value
    if op == "<=":
        return x <= value
    raise DataValidationError(f"unknown operator {op!r}; use one of {list(OPERATORS)}")


def compare(x: Any, operator: str, value: Any) -> Any:
    """Whether ``x <operator> value`` holds, elementwise for a Series or array.

    Missing values (None, NaN, NA) never satisfy a rule (not even ``!=``); callers that need
    "unknown" must test for missing values first. Text compares case-insensitively, ignoring
    surrounding spaces. A scalar gives a ``bool``, a Series a boolean Series with its index,
    anything else a boolean numpy array.

    >>> compare(0.1, "<=", 0.1), compare(" Negative", "==", "negative")
    (True, True)
    >>> compare(pd.Series([0.05, float("nan"), 0.2]), "<=", 0.1).tolist()
    [True, False, False]
    """
    if operator not in OPERATORS:
        raise DataValidationError(f"unknown operator {operator!r}; use one of {list(OPERATORS)}")
    if isinstance(x, pd.Series):
        return pd.Series(
            [_compare_scalar(v, operator, value) for v in x], index=x.index, dtype=bool
        )
    if isinstance(x, str) or np.ndim(x) == 0:
        return _compare_scalar(x, operator, value)
    arr = np.asarray(x, dtype=object)
    out = [_compare_scalar(v, operator, value) for v in arr.ravel()]
    return np.array(out, dtype=bool).reshape(arr.shape)


def normalize_gland(name: Any) -> str:
    """Canonical gland or gland-type name: lower case, spaces and hyphens as ``_``.

    >>> normalize_gland("Left Parotid"), normalize_gland("right-submandibular")
    ('left_parotid', 'right_submandibular')
    """
    if not isinstance(name, str):
        raise DataValidationError(f"gland name {name!r} is not text")
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


# ------------------------------------------------------------------------------- classes


@dataclass(frozen=True)
class Window:
    """Inclusive range of study days.

    >>> Window(80, 150).contains(92), str(Window(80, 150))
    (True, '[80, 150]')
    """

    lower: int
    upper: int

    def contains(self, day: int) -> bool:
        """Whether ``lower <= day <= upper``."""
        return self.lower <= day <= self.upper

    def __str__(self) -> str:
        return f"[{self.lower}, {self.upper}]"


@dataclass(frozen=True)
class Visit:
    """A planned visit: name (AVISIT), label, AVISITN, planned day, windows."""

    name: str
    label: str
    avisitn: int
    planned_day: int
    window: Window
    target: Window
    baseline: bool = False
    note: str = ""


@dataclass(frozen=True)
class VisitAssignment:
    """Where a study day falls: the visit (None when unmapped), its planned day, and whether
    the day is a protocol deviation (outside the target window, or unmapped) with the reason.
    """

    visit: str | None
    planned_day: int | None
    deviation: bool
    reason: str
    avisitn: int | None = None
    study_day: int | None = None

    @property
    def mapped(self) -> bool:
        """Whether the day falls in a visit window."""
        return self.visit is not None


@dataclass(frozen=True)
class Rule:
    """A named rule ``variable <operator> value`` (criterion or threshold).

    >>> r = Rule("cd45", "<", 3.0, variable="cd45", unit="%")
    >>> r.holds(2.9), r.holds(3.0), str(r)
    (True, False, 'cd45 < 3.0 %')
    """

    name: str
    operator: str
    value: Any
    variable: str = ""
    unit: str = ""
    description: str = ""

    def holds(self, x: Any) -> Any:
        """Whether the rule holds for ``x`` (see :func:`compare`)."""
        return compare(x, self.operator, self.value)

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.variable or self.name} {self.operator} {self.value!r}{unit}"


@dataclass(frozen=True)
class Cohort:
    """Excipient cohort by enrolment order (``last_patient`` None = open-ended)."""

    name: str
    excipient: str
    dmso_pct: float
    first_patient: int
    last_patient: int | None = None

    def contains(self, order: int) -> bool:
        """Whether the patient enrolled ``order``-th belongs to this cohort."""
        return order >= self.first_patient and (
            self.last_patient is None or order <= self.last_patient
        )


@dataclass(frozen=True)
class Dosing:
    """Cell dose per gland type, the glands treated and the suspension's concentration."""

    concentration_million_per_ml: float
    million_cells: Mapping[str, float]
    glands: Mapping[str, str]

    def _type(self, gland: Any) -> str:
        g = normalize_gland(gland)
        if g in self.glands:
            return self.glands[g]
        if g in self.million_cells:
            return g
        raise DataValidationError(
            f"unknown gland {gland!r}; use one of {sorted(self.glands)} or a gland type "
            f"{sorted(self.million_cells)}"
        )

    def cells_million(self, gland: str) -> float:
        """Million cells injected into ``gland`` (a gland or a gland type)."""
        return float(self.million_cells[self._type(gland)])

    def volume_ml(self, gland: str) -> float:
        """Volume injected into ``gland`` in mL: cells / concentration."""
        return self.cells_million(gland) / self.concentration_million_per_ml

    @property
    def total_cells_million(self) -> float:
        """Million cells over all treated glands."""
        return float(sum(self.million_cells[t] for t in self.glands.values()))

    @property
    def total_volume_ml(self) -> float:
        """Volume over all treated glands in mL."""
        return self.total_cells_million / self.concentration_million_per_ml


@dataclass(frozen=True)
class TrialInfo:
    """Identification of the trial."""

    id: str
    title: str
    reference: str = ""
    eudract: str = ""
    sample_size: int | None = None
    study_day_origin: str = "injection"


@dataclass(frozen=True)
class AnalysisPlan:
    """The prespecified analysis's visits (``[analysis]``): the model's visits (baseline
    first, in visit order), the primary follow-up visit (Table 3, the sensitivity analysis,
    responders), the early look (None when the plan has none), the long-term safety
    follow-up visit (None when none) and what to do with data at unscheduled visits
    (:data:`UNSCHEDULED_CHOICES`)."""

    efficacy_visits: tuple[str, ...]
    primary: str
    early: str | None = None
    long_term: str | None = None
    unscheduled: str = "exclude"


@dataclass(frozen=True)
class Protocol:
    """The trial protocol (see the module docstring); build it with :func:`load_protocol`."""

    trial: TrialInfo
    visits: tuple[Visit, ...]
    dosing: Dosing
    cohorts: tuple[Cohort, ...]
    inclusion: tuple[Rule, ...]
    exclusion: tuple[Rule, ...]
    release: tuple[Rule, ...]
    hyposalivation: Mapping[str, Rule]
    responder: Rule
    hla_positive: Rule
    collection_minutes: Mapping[str, float]
    max_flow_ml_min: Mapping[str, float]
    saliva_max_mmol_l: Mapping[str, float]
    schedule: Mapping[str, tuple[str, ...]]
    analysis: AnalysisPlan
    source: str = "<protocol>"

    @property
    def baseline_visit(self) -> Visit:
        """The baseline visit (day 0)."""
        return next(v for v in self.visits if v.baseline)

    def visit(self, name: str) -> Visit:
        """The visit called ``name``."""
        for v in self.visits:
            if v.name == name:
                return v
        raise DataValidationError(
            f"{self.source}: unknown visit {name!r}; use one of {[v.name for v in self.visits]}"
        )

    def scheduled(self, form: str) -> tuple[str, ...]:
        """The visits at which ``form`` is due, in visit order (``()`` when the schedule
        does not list the form).

        >>> load_protocol().scheduled("scintigraphy")
        ('day0', 'day120')
        """
        return self.schedule.get(form, ())

    def map_visit(self, study_day: Any, *, strict: bool = False) -> VisitAssignment:
        """Map a study day (day 0 = injection) to a visit.

        Inside a visit's target window: that visit, no deviation. Inside its window but
        outside the target: that visit, ``deviation=True`` with the reason. In no window:
        ``visit=None``, ``deviation=True`` (or DataValidationError when ``strict``).

        >>> p = load_protocol()
        >>> p.map_visit(30).deviation, p.map_visit(60).visit
        (False, None)
        >>> print(p.map_visit(92).reason)  # doctest: +NORMALIZE_WHITESPACE
        study day 92 is outside the target window [106, 134] of visit day120 (4 months,
        planned day 120), 14 day(s) early; accepted in its window [80, 150]
        """
        day = parse_study_day(study_day)
        for v in self.visits:
            if not v.window.contains(day):
                continue
            if v.target.contains(day):
                return VisitAssignment(v.name, v.planned_day, False, "", v.avisitn, day)
            off = (
                f"{v.target.lower - day} day(s) early"
                if day < v.target.lower
                else f"{day - v.target.upper} day(s) late"
            )
            reason = (
                f"study day {day} is outside the target window {v.target} of visit {v.name} "
                f"({v.label}, planned day {v.planned_day}), {off}; accepted in its window "
                f"{v.window}"
            )
            return VisitAssignment(v.name, v.planned_day, True, reason, v.avisitn, day)
        windows = ", ".join(f"{v.name} {v.window}" for v in self.visits)
        reason = f"study day {day} is outside every visit window ({windows})"
        if strict:
            raise DataValidationError(f"{self.source}: {reason}")
        return VisitAssignment(None, None, True, reason, None, day)

    def volume_ml(self, gland: str) -> float:
        """Volume injected into a gland (or gland type) in mL.

        >>> load_protocol().volume_ml("right_parotid")
        1.0
        """
        return self.dosing.volume_ml(gland)

    def cohort_for(self, enrolment_order: Any) -> str:
        """Excipient cohort of the patient enrolled ``enrolment_order``-th (1-based).

        >>> load_protocol().cohort_for(1)
        'CS5'
        """
        if isinstance(enrolment_order, bool | np.bool_ | str) or is_missing(enrolment_order):
            raise DataValidationError(f"enrolment order {enrolment_order!r} is not a number")
        try:
            f = float(enrolment_order)
        except (TypeError, ValueError):
            raise DataValidationError(
                f"enrolment order {enrolment_order!r} is not a number"
            ) from None
        if not math.isfinite(f) or f != int(f) or f < 1:
            raise DataValidationError(
                f"enrolment order {enrolment_order!r} must be a whole number >= 1"
            )
        for c in self.cohorts:
            if c.contains(int(f)):
                return c.name
        raise DataValidationError(
            f"{self.source}: enrolment order {int(f)} is in no cohort "
            f"({[(c.name, c.first_patient, c.last_patient) for c in self.cohorts]})"
        )

    def with_hyposalivation(self, kind: str, operator: str, value: float) -> Protocol:
        """A copy with another hyposalivation threshold for ``kind`` (UWS or SWS).

        >>> p = load_protocol().with_hyposalivation("SWS", "<=", 0.7)
        >>> p.hyposalivation["SWS"].holds(0.6)
        True
        """
        kind = str(kind).strip().upper()
        if kind not in SALIVA_KINDS:
            raise DataValidationError(f"kind {kind!r} must be one of {list(SALIVA_KINDS)}")
        if operator not in COMPARISON_OPERATORS:
            raise DataValidationError(
                f"hyposalivation operator {operator!r} must be one of {list(COMPARISON_OPERATORS)}"
            )
        if not _is_number(value):
            raise DataValidationError(f"hyposalivation value {value!r} is not a number")
        rules = dict(self.hyposalivation)
        rules[kind] = replace(rules[kind], operator=operator, value=float(value))
        return replace(self, hyposalivation=MappingProxyType(rules))


# ------------------------------------------------------------------------------- parsing


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


class _Reader:
    """Reads a parsed TOML document; every failure names the dotted key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> DataValidationError:
        return DataValidationError(f"{self.source}: key {key!r}: {message}")

    def table(self, d: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        full = f"{path}.{key}" if path else key
        if key not in d:
            raise self.fail(full, "missing (a table is required)")
        if not isinstance(d[key], Mapping):
            raise self.fail(full, f"must be a table, not {type(d[key]).__name__}")
        return d[key]

    def tables(self, d: Mapping[str, Any], key: str, path: str) -> list[Mapping[str, Any]]:
        full = f"{path}.{key}" if path else key
        if key not in d:
            raise self.fail(full, "missing (an array of tables [[...]] is required)")
        val = d[key]
        if not isinstance(val, list) or not val or not all(isinstance(t, Mapping) for t in val):
            raise self.fail(full, "must be a non-empty array of tables [[...]]")
        return val

    def keys(self, d: Mapping[str, Any], allowed: Iterable[str], path: str) -> None:
        unknown = sorted(set(d) - set(allowed))
        if unknown:
            raise self.fail(
                f"{path}.{unknown[0]}" if path else unknown[0],
                f"unknown key; allowed here: {sorted(allowed)}",
            )

    def get(self, d: Mapping[str, Any], key: str, path: str, kind: str, default: Any = ...) -> Any:
        full = f"{path}.{key}" if path else key
        if key not in d:
            if default is ...:
                article = "an" if kind[0] in "aeiou" else "a"
                raise self.fail(full, f"missing ({article} {kind} is required)")
            return default
        v = d[key]
        ok = {
            "string": isinstance(v, str) and v.strip() != "",
            "integer": isinstance(v, int) and not isinstance(v, bool),
            "number": _is_number(v),
            "positive number": _is_number(v) and v > 0,
            "boolean": isinstance(v, bool),
            "day range [lower, upper]": isinstance(v, list)
            and len(v) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
            and v[0] <= v[1],
        }[kind]
        if not ok:
            article = "an" if kind[0] in "aeiou" else "a"
            raise self.fail(full, f"must be {article} {kind}, not {v!r}")
        return v

    def visit_names(
        self, v: Any, key: str, visits: tuple[Visit, ...], minimum: int = 1
    ) -> tuple[str, ...]:
        """A list of visit names of the protocol, each once; returned in visit order."""
        names = [x.name for x in visits]
        if not isinstance(v, list) or len(v) < minimum:
            what = "a non-empty list" if minimum == 1 else f"a list of at least {minimum}"
            raise self.fail(key, f"must be {what} of visit names, not {v!r}")
        for i, x in enumerate(v):
            if not isinstance(x, str) or x not in names:
                raise self.fail(f"{key}[{i}]", f"unknown visit {x!r}; use one of {names}")
            if x in v[:i]:
                raise self.fail(f"{key}[{i}]", f"visit {x!r} is listed twice")
        return tuple(n for n in names if n in v)

    def visit_name(
        self,
        d: Mapping[str, Any],
        key: str,
        path: str,
        visits: tuple[Visit, ...],
        default: Any = ...,
    ) -> str | None:
        """One visit name of the protocol."""
        v = self.get(d, key, path, "string", default)
        names = [x.name for x in visits]
        if v is not None and v not in names:
            raise self.fail(f"{path}.{key}", f"unknown visit {v!r}; use one of {names}")
        return v

    def rule(
        self,
        d: Mapping[str, Any],
        path: str,
        name: str | None = None,
        operators: tuple[str, ...] = OPERATORS,
    ) -> Rule:
        allowed = {"name", "description", "variable", "operator", "value", "unit"}
        if name is not None:
            allowed.discard("name")
        self.keys(d, allowed, path)
        rname = name if name is not None else self.get(d, "name", path, "string")
        op = self.get(d, "operator", path, "string")
        if op not in operators:
            raise self.fail(
                f"{path}.operator", f"bad operator {op!r}; use one of {list(operators)}"
            )
        if "value" not in d:
            raise self.fail(f"{path}.value", "missing (the rule's value is required)")
        value = d["value"]
        vkey = f"{path}.value"
        if op in COMPARISON_OPERATORS and not _is_number(value):
            raise self.fail(vkey, f"operator {op!r} needs a number, not {value!r}")
        if op == "between" and not (
            isinstance(value, list)
            and len(value) == 2
            and all(_is_number(x) for x in value)
            and value[0] <= value[1]
        ):
            raise self.fail(vkey, f"operator 'between' needs [lower, upper], not {value!r}")
        if op in ("in", "not in"):
            if not isinstance(value, list) or not value:
                raise self.fail(vkey, f"operator {op!r} needs a non-empty list, not {value!r}")
            value = tuple(value)
        if op in ("==", "!=") and not isinstance(value, str | bool | int | float):
            raise self.fail(vkey, f"operator {op!r} needs a text, number or boolean")
        if op == "between":
            value = (float(value[0]), float(value[1]))
        elif op in COMPARISON_OPERATORS:
            value = float(value)
        return Rule(
            name=rname,
            operator=op,
            value=value,
            variable=self.get(d, "variable", path, "string", ""),
            unit=self.get(d, "unit", path, "string", ""),
            description=self.get(d, "description", path, "string", ""),
        )

    def per_key_numbers(
        self, d: Mapping[str, Any], key: str, path: str, names: tuple[str, ...]
    ) -> Mapping[str, float]:
        t = self.table(d, key, path)
        full = f"{path}.{key}"
        self.keys(t, names, full)
        return MappingProxyType({n: float(self.get(t, n, full, "positive number")) for n in names})


def _parse_visits(r: _Reader, doc: Mapping[str, Any]) -> tuple[Visit, ...]:
    visits = []
    for i, t in enumerate(r.tables(doc, "visits", "")):
        path = f"visits[{i}]"
        r.keys(
            t,
            {"name", "label", "avisitn", "planned_day", "window", "target", "baseline", "note"},
            path,
        )
        name = r.get(t, "name", path, "string")
        planned = r.get(t, "planned_day", path, "integer")
        window = Window(*r.get(t, "window", path, "day range [lower, upper]"))
        target = Window(*r.get(t, "target", path, "day range [lower, upper]"))
        if not (window.lower <= target.lower and target.upper <= window.upper):
            raise r.fail(f"{path}.target", f"target {target} is not inside the window {window}")
        if not target.contains(planned):
            raise r.fail(f"{path}.planned_day", f"day {planned} is not in the target {target}")
        visits.append(
            Visit(
                name=name,
                label=r.get(t, "label", path, "string", name),
                avisitn=r.get(t, "avisitn", path, "integer"),
                planned_day=planned,
                window=window,
                target=target,
                baseline=r.get(t, "baseline", path, "boolean", False),
                note=r.get(t, "note", path, "string", ""),
            )
        )
    for attr in ("name", "avisitn"):
        seen: dict[Any, int] = {}
        for i, v in enumerate(visits):
            val = getattr(v, attr)
            if val in seen:
                raise r.fail(f"visits[{i}].{attr}", f"{val!r} repeats visits[{seen[val]}]")
            seen[val] = i
    n_base = sum(v.baseline for v in visits)
    if n_base != 1:
        raise r.fail("visits.baseline", f"exactly one visit must be the baseline, not {n_base}")
    order = sorted(range(len(visits)), key=lambda i: visits[i].window.lower)
    for a, b in zip(order, order[1:], strict=False):
        if visits[b].window.lower <= visits[a].window.upper:
            raise r.fail(
                f"visits[{b}].window",
                f"window {visits[b].window} of {visits[b].name!r} overlaps {visits[a].window} "
                f"of {visits[a].name!r}",
            )
    return tuple(visits[i] for i in order)


def _parse_dose(r: _Reader, doc: Mapping[str, Any]) -> Dosing:
    dose = r.table(doc, "dose", "")
    r.keys(dose, {"concentration_million_per_ml", "million_cells", "glands"}, "dose")
    conc = r.get(dose, "concentration_million_per_ml", "dose", "positive number")
    cells_t = r.table(dose, "million_cells", "dose")
    r.keys(cells_t, GLAND_TYPES, "dose.million_cells")
    cells = {k: float(r.get(cells_t, k, "dose.million_cells", "positive number")) for k in cells_t}
    glands_t = r.table(dose, "glands", "dose")
    if not glands_t:
        raise r.fail("dose.glands", "no gland is treated")
    r.keys(glands_t, GLANDS, "dose.glands")
    glands = {}
    for g in glands_t:
        typ = r.get(glands_t, g, "dose.glands", "string")
        if typ != GLANDS[g]:
            raise r.fail(f"dose.glands.{g}", f"{g} is a {GLANDS[g]} gland, not {typ!r}")
        if typ not in cells:
            raise r.fail(f"dose.million_cells.{typ}", f"missing (gland {g} is a {typ} gland)")
        glands[g] = typ
    return Dosing(float(conc), MappingProxyType(cells), MappingProxyType(glands))


def _parse_cohorts(r: _Reader, doc: Mapping[str, Any]) -> tuple[Cohort, ...]:
    cohorts = []
    for i, t in enumerate(r.tables(doc, "cohorts", "")):
        path = f"cohorts[{i}]"
        r.keys(t, {"name", "excipient", "dmso_pct", "first_patient", "last_patient"}, path)
        first = r.get(t, "first_patient", path, "integer")
        last = r.get(t, "last_patient", path, "integer", None)
        if first < 1 or (last is not None and last < first):
            raise r.fail(f"{path}.first_patient", f"bad enrolment range {first}..{last}")
        dmso = r.get(t, "dmso_pct", path, "number")
        if not 0 <= dmso <= 100:
            raise r.fail(f"{path}.dmso_pct", f"must be between 0 and 100, not {dmso!r}")
        cohorts.append(
            Cohort(
                name=r.get(t, "name", path, "string"),
                excipient=r.get(t, "excipient", path, "string"),
                dmso_pct=float(dmso),
                first_patient=first,
                last_patient=last,
            )
        )
    cohorts.sort(key=lambda c: c.first_patient)
    expected = 1
    for i, c in enumerate(cohorts):
        if c.first_patient != expected:
            raise r.fail(
                "cohorts",
                f"cohort {c.name!r} starts at patient {c.first_patient}, expected {expected}: "
                "cohorts must cover patients 1, 2, ... without gaps or overlaps",
            )
        if c.last_patient is None:
            if i != len(cohorts) - 1:
                raise r.fail("cohorts", f"only the last cohort may be open-ended, not {c.name!r}")
            break
        expected = c.last_patient + 1
    return tuple(cohorts)


def _parse_schedule(
    r: _Reader, doc: Mapping[str, Any], visits: tuple[Visit, ...]
) -> Mapping[str, tuple[str, ...]]:
    """``[schedule]``: form name -> the visits at which it is due."""
    t = r.table(doc, "schedule", "")
    if not t:
        raise r.fail("schedule", "no form is scheduled")
    out = {}
    for form, due in t.items():
        key = f"schedule.{form}"
        if not _FORM_NAME.fullmatch(form):
            raise r.fail(key, "a form name is lower case letters, digits and '_'")
        out[form] = r.visit_names(due, key, visits)
    return MappingProxyType(out)


def _parse_analysis(
    r: _Reader,
    doc: Mapping[str, Any],
    visits: tuple[Visit, ...],
    schedule: Mapping[str, tuple[str, ...]],
) -> AnalysisPlan:
    """``[analysis]``: the model's visits, the primary and early follow-up visits, the
    long-term follow-up visit and what to do with unscheduled data."""
    path = "analysis"
    t = r.table(doc, path, "")
    r.keys(t, {"efficacy_visits", "primary", "early", "long_term", "unscheduled"}, path)
    if "efficacy_visits" not in t:
        raise r.fail(f"{path}.efficacy_visits", "missing (a list of visit names is required)")
    eff = r.visit_names(t["efficacy_visits"], f"{path}.efficacy_visits", visits, minimum=2)
    baseline = next(v.name for v in visits if v.baseline)
    if eff[0] != baseline:
        raise r.fail(
            f"{path}.efficacy_visits",
            f"must start with the baseline visit {baseline!r} (the model's reference)",
        )
    plan = {}
    for key, default in (("primary", ...), ("early", None)):
        name = r.visit_name(t, key, path, visits, default)
        if name is not None and (name not in eff or name == baseline):
            raise r.fail(
                f"{path}.{key}",
                f"visit {name!r} must be a follow-up visit of analysis.efficacy_visits "
                f"{list(eff[1:])}",
            )
        plan[key] = name
    long_term = r.visit_name(t, "long_term", path, visits, None)
    if long_term is not None and long_term in eff:
        raise r.fail(
            f"{path}.long_term",
            f"visit {long_term!r} is an efficacy visit; the long-term follow-up is a "
            "safety visit after them",
        )
    unscheduled = r.get(t, "unscheduled", path, "string", "exclude")
    if unscheduled not in UNSCHEDULED_CHOICES:
        raise r.fail(
            f"{path}.unscheduled",
            f"must be one of {list(UNSCHEDULED_CHOICES)}, not {unscheduled!r}",
        )
    if not any(set(due) & set(eff[1:]) for due in schedule.values()):
        raise r.fail(
            "schedule",
            "no form is scheduled at a follow-up visit of "
            f"analysis.efficacy_visits {list(eff[1:])}",
        )
    return AnalysisPlan(eff, plan["primary"], plan["early"], long_term, unscheduled)


def parse_protocol(doc: Mapping[str, Any], source: str = "<protocol>") -> Protocol:
    """Build and check a :class:`Protocol` from a parsed TOML document (a nested dict).

    >>> import tomllib
    >>> parse_protocol(tomllib.loads("[trial]"), "my.toml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xerotrial.stats.errors.DataValidationError: my.toml: key 'trial.id': missing (a string...
    """
    r = _Reader(source)
    r.keys(
        doc,
        {
            "study",
            "trial",
            "visits",
            "dose",
            "cohorts",
            "eligibility",
            "release",
            "thresholds",
            "sialometry",
            "saliva",
            "schedule",
            "analysis",
        },
        "",
    )
    trial_t = r.table(doc, "trial", "")
    r.keys(
        trial_t, {"id", "title", "reference", "eudract", "sample_size", "study_day_origin"}, "trial"
    )
    if "study" in doc:
        doc, trial_t = _from_study(r, doc, trial_t)
    sample_size = r.get(trial_t, "sample_size", "trial", "integer", None)
    if sample_size is not None and sample_size < 1:
        raise r.fail("trial.sample_size", f"must be >= 1, not {sample_size}")
    trial = TrialInfo(
        id=r.get(trial_t, "id", "trial", "string"),
        title=r.get(trial_t, "title", "trial", "string"),
        reference=r.get(trial_t, "reference", "trial", "string", ""),
        eudract=r.get(trial_t, "eudract", "trial", "string", ""),
        sample_size=sample_size,
        study_day_origin=r.get(trial_t, "study_day_origin", "trial", "string", "injection"),
    )
    visits = _parse_visits(r, doc)
    dosing = _parse_dose(r, doc)
    cohorts = _parse_cohorts(r, doc)

    elig = r.table(doc, "eligibility", "")
    r.keys(elig, {"inclusion", "exclusion"}, "eligibility")
    inclusion = tuple(
        r.rule(t, f"eligibility.inclusion[{i}]")
        for i, t in enumerate(r.tables(elig, "inclusion", "eligibility"))
    )
    exclusion = tuple(
        r.rule(t, f"eligibility.exclusion[{i}]")
        for i, t in enumerate(r.tables(elig, "exclusion", "eligibility"))
    )
    release = tuple(r.rule(t, f"release[{i}]") for i, t in enumerate(r.tables(doc, "release", "")))
    for what, rules in (("eligibility", inclusion + exclusion), ("release", release)):
        names = [x.name for x in rules]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise r.fail(what, f"rule name {dup[0]!r} is used more than once")

    thr = r.table(doc, "thresholds", "")
    r.keys(thr, {"hyposalivation", "responder", "hla_positive"}, "thresholds")
    hypo_t = r.table(thr, "hyposalivation", "thresholds")
    r.keys(hypo_t, SALIVA_KINDS, "thresholds.hyposalivation")
    hypo = {}
    for k in SALIVA_KINDS:
        t = r.table(hypo_t, k, "thresholds.hyposalivation")
        hypo[k] = r.rule(
            t, f"thresholds.hyposalivation.{k}", f"hyposalivation_{k}", COMPARISON_OPERATORS
        )
    responder = r.rule(
        r.table(thr, "responder", "thresholds"),
        "thresholds.responder",
        "responder",
        COMPARISON_OPERATORS,
    )
    hla = r.rule(
        r.table(thr, "hla_positive", "thresholds"),
        "thresholds.hla_positive",
        "hla_positive",
        COMPARISON_OPERATORS,
    )

    sial = r.table(doc, "sialometry", "")
    r.keys(sial, {"collection_minutes", "max_flow_ml_min"}, "sialometry")
    saliva = r.table(doc, "saliva", "")
    r.keys(saliva, {"max_mmol_l"}, "saliva")
    schedule = _parse_schedule(r, doc, visits)
    analysis = _parse_analysis(r, doc, visits, schedule)
    return Protocol(
        trial=trial,
        visits=visits,
        dosing=dosing,
        cohorts=cohorts,
        inclusion=inclusion,
        exclusion=exclusion,
        release=release,
        hyposalivation=MappingProxyType(hypo),
        responder=responder,
        hla_positive=hla,
        collection_minutes=r.per_key_numbers(
            sial, "collection_minutes", "sialometry", SALIVA_KINDS
        ),
        max_flow_ml_min=r.per_key_numbers(sial, "max_flow_ml_min", "sialometry", SALIVA_KINDS),
        saliva_max_mmol_l=r.per_key_numbers(saliva, "max_mmol_l", "saliva", SALIVA_IONS),
        schedule=schedule,
        analysis=analysis,
        source=source,
    )


#: What a protocol takes from its study definition (``study = NAME``) rather than holding it:
#: the efficacy visits are those of the plan's endpoints, the primary visit its primary
#: endpoint's.
_FROM_STUDY: tuple[str, ...] = (
    "visits",
    "schedule",
    "trial.id",
    "trial.title",
    "trial.eudract",
    "analysis.efficacy_visits",
    "analysis.primary",
)


def _given(doc: Mapping[str, Any], key: str) -> bool:
    table, _, name = key.rpartition(".")
    t = doc.get(table, {}) if table else doc
    return isinstance(t, Mapping) and name in t


@lru_cache(maxsize=4)
def _bundled_study(name: str) -> Any:
    """The bundled definition ``data/studies/NAME/study.toml`` (FileNotFoundError if none)."""
    from xerotrial.study import load_study

    path = Path(str(resources.files("xerotrial").joinpath("data", "studies", name, "study.toml")))
    if not path.is_file():
        raise FileNotFoundError(path)
    return load_study(path)


def _from_study(
    r: _Reader, doc: Mapping[str, Any], trial_t: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``study = NAME``: the visits, their windows, the schedule and the trial's identifiers
    are those of the bundled study definition ``xerotrial/data/studies/NAME/study.toml``,
    which holds them once (a protocol that gives them too is refused)."""
    name = r.get(doc, "study", "", "string")
    here = [k for k in _FROM_STUDY if _given({**doc, "trial": trial_t}, k)]
    if "." in name or "/" in name or "\\" in name:
        raise r.fail("study", f"names a bundled study definition (e.g. 'seed'), not {name!r}")
    if here:
        raise r.fail(
            here[0],
            f"given here and by the study definition {name!r}: the protocol takes "
            f"{', '.join(_FROM_STUDY)} from the definition; give them there only",
        )
    try:
        study = _bundled_study(name)
    except FileNotFoundError:
        raise r.fail("study", f"no bundled study definition {name!r}") from None
    visits = []
    for v in study.visits:
        if v.day is None or v.window is None:
            raise r.fail("study", f"visit {v.name!r} of the definition has no day and window")
        t: dict[str, Any] = {
            "name": v.name,
            "label": v.label or v.name,
            "avisitn": v.day,
            "planned_day": v.day,
            "window": list(v.window),
            "target": list(v.on_time or v.window),
            "baseline": v.baseline,
        }
        if v.note:
            t["note"] = v.note
        visits.append(t)
    trial = dict(trial_t)
    trial.update(id=study.study.id, title=study.study.title)
    if study.study.eudract:
        trial["eudract"] = study.study.eudract
    due = {form: list(vs) for form, vs in study.schedule.due.items()}
    analysis = dict(doc.get("analysis", {}))
    plan = study.analysis
    primary = [e for e in plan.endpoints if e.primary] if plan is not None else []
    if primary and primary[0].primary_visit is not None:
        used = {v for e in plan.endpoints for v in e.visits}
        analysis["efficacy_visits"] = [v.name for v in study.visits if v.name in used]
        analysis["primary"] = primary[0].primary_visit
    return {**doc, "visits": visits, "schedule": due, "analysis": analysis}, trial


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a TOML basic string
    return str(v)


def standalone_text(text: str, source: str = "<protocol>") -> str:
    """The protocol TOML ``text`` with what it takes from its study definition (``study =
    NAME``: visits, schedule, identifiers) written into it: the file to start from for a
    protocol whose visits differ from the definition's (``xerotrial init --protocol``).

    >>> seed = resources.files("xerotrial").joinpath("data", "protocol.toml").read_text()
    >>> alone = standalone_text(seed)
    >>> "study = " in alone, 'xq = ["day0", "day30", "day120"]' in alone
    (False, True)
    >>> parse_protocol(tomllib.loads(alone)).visits == load_protocol().visits
    True
    """
    doc = tomllib.loads(text)
    if "study" not in doc:
        return text
    r = _Reader(source)
    full, trial = _from_study(r, doc, r.table(doc, "trial", ""))
    lines = text.splitlines()
    study_line = next(i for i, x in enumerate(lines) if x.replace(" ", "").startswith("study="))
    del lines[study_line]
    for table, values, keys in (
        ("trial", trial, ("id", "eudract", "title")),
        ("analysis", full["analysis"], ("efficacy_visits", "primary")),
    ):
        kv = [f"{k} = {_toml_value(values[k])}" for k in keys if k in values]
        at = next((i for i, x in enumerate(lines) if x.strip() == f"[{table}]"), None)
        if at is None:
            lines += ["", f"[{table}]", *kv]
        else:
            lines[at + 1 : at + 1] = kv
    for v in full["visits"]:
        lines += ["", "[[visits]]", *(f"{k} = {_toml_value(x)}" for k, x in v.items())]
    lines += ["", "[schedule]"]
    lines += [f"{form} = {_toml_value(due)}" for form, due in full["schedule"].items()]
    return "\n".join(lines) + "\n"


@lru_cache(maxsize=1)
def _bundled() -> Protocol:
    text = resources.files("xerotrial").joinpath("data", _BUNDLED).read_text(encoding="utf-8")
    return parse_protocol(tomllib.loads(text), f"xerotrial/data/{_BUNDLED}")


def load_protocol(path: str | Path | None = None) -> Protocol:
    """Read and check a protocol TOML file; ``None`` gives the bundled seed-trial protocol.

    >>> p = load_protocol()
    >>> p.trial.id, p.dosing.total_cells_million, p.dosing.total_volume_ml
    ('NCT03874572', 150.0, 3.0)
    >>> str(p.hyposalivation["UWS"]), str(p.responder)
    ('flow_ml_min <= 0.1 mL/min', 'pct_change > 30.0 %')
    """
    if path is None:
        return _bundled()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataValidationError(f"{p}: cannot read the protocol file: {exc}") from exc
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataValidationError(f"{p}: not valid TOML: {exc}") from exc
    return parse_protocol(doc, str(p))
