"""Check a study definition read from TOML or YAML and build it (:func:`build`).

Every rule is checked and every problem collected; :class:`StudyDefinitionError` (a
:class:`~xerotrial.errors.DataValidationError`) lists them all, each with the file, the line
and the key path (``forms.sialometry.fields.cup_after_g.type``). The rules: the value types of
every key, unknown keys (typos, with the nearest known key), unknown field types and allocation
methods, forms due at visits that do not exist (and unknown forms), duplicate names (visits,
forms, fields of a form and arms, case-insensitively; entries of a list), limits on a
non-numeric field, ``lo > hi``, soft limits outside the hard ones, a choice field without
choices, a check, branching (``show_if``) or calculation (``calc``) that does not parse or
names an unknown field or compares a field with a literal it can never equal (a choice with
a code it does not have), a key that names an unknown field, overlapping visit windows
(among the visits that have one: a visit made from a REDCap event has neither day nor
window), a target day outside its window, a visit of an unknown arm, a text rule
(``validation``) that is not one of REDCap's (:data:`~.validation.TEXT_RULES`) or on a field
that is not text, and kept REDCap facts (``redcap = {...}``) with an unknown key, or a field
type or validation of another type.

>>> from xerotrial.study.load import parse_text
>>> text = '''version = "1"
... [study]
... id = "S1"
... title = "A study"
... [forms.vitals]
... title = "Vital signs"
... key = ["subject"]
... [forms.vitals.fields]
... subject = {type = "text", required = true}
... pulse = {type = "integr", lo = 300, hi = 30}
... '''
>>> data, locate, problems = parse_text(text, "s.toml", "toml")
>>> build(data, "s.toml", locate, problems)
Traceback (most recent call last):
...
xerotrial.study.check.StudyDefinitionError: s.toml: 2 problems in the study definition:
  s.toml: line 10: forms.vitals.fields.pulse.type: unknown type 'integr' (did you mean ...
  s.toml: line 10: forms.vitals.fields.pulse.lo: lo 300 is above hi 30
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ..errors import DataValidationError, Problem
from .expressions import Expression, ExpressionError, parse_expression
from .load import Locator
from .model import (
    ALLOCATION_METHODS,
    CHECK_LEVELS,
    FIELD_TYPES,
    NUMERIC_TYPES,
    REDCAP_KEYS,
    Allocation,
    Arm,
    Check,
    Field,
    Form,
    Schedule,
    Site,
    Study,
    StudyDefinition,
    Visit,
)
from .plan import build_plan
from .submission import build_submission
from .validation import TEXT_RULES, VALIDATIONS

__all__ = ["StudyDefinitionError", "build", "describe"]

Key = tuple[Hashable, ...]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_XPT = re.compile(r"^[A-Z_][A-Z0-9_]{0,7}$")
_SDTM = re.compile(r"^[A-Z]{2}\.[A-Z][A-Z0-9]{0,7}$")

TOP_KEYS = (
    "version",
    "study",
    "allocation",
    "visits",
    "schedule",
    "forms",
    "derivations",
    "analysis",
    "submission",
)
STUDY_KEYS = (
    "id",
    "title",
    "nct",
    "eudract",
    "sponsor",
    "protocol_version",
    "sap_version",
    "sites",
    "subject_field",
)
SITE_KEYS = ("name", "country")
ALLOCATION_KEYS = ("method", "arms", "stratify")
ARM_KEYS = ("label", "ratio")
VISIT_KEYS = ("label", "day", "window", "on_time", "baseline", "arms", "note")
SCHEDULE_KEYS = ("due", "unscheduled", "repeating")
FORM_KEYS = ("title", "key", "fields", "checks", "participant", "visit_columns", "refs")
FIELD_KEYS = (
    "type",
    "label",
    "required",
    "unit",
    "precision",
    "lo",
    "hi",
    "soft_lo",
    "soft_hi",
    "choices",
    "show_if",
    "calc",
    "sdtm",
    "max_length",
    "validation",
    "redcap",
    "xpt",
)
#: The REDCap field types a field of each type may keep in ``redcap.field_type`` (besides
#: the one :mod:`.redcap` writes for the type).
REDCAP_FIELD_TYPES: dict[str, tuple[str, ...]] = {
    "text": ("notes", "file", "sql"),
    "choice": ("dropdown",),
    "yesno": ("truefalse",),
    "integer": ("slider",),
}
CHECK_KEYS = ("expr", "message", "level")


def describe(p: Problem) -> str:
    """One line for a problem: ``file: line L: key.path: rule``.

    >>> describe(Problem("s.toml", None, "visits.day1.window", [3, 1], "3 > 1", line=7))
    's.toml: line 7: visits.day1.window: 3 > 1'
    """
    where = [p.file or "<definition>"]
    if p.line is not None:
        where.append(f"line {p.line}")
    if p.column:
        where.append(p.column)
    return ": ".join([*where, p.rule])


class StudyDefinitionError(DataValidationError):
    """A study definition with problems: ``problems`` lists every one (``column`` holds the
    key path, ``line`` the line); ``summary`` is the first line of the message."""

    def __init__(self, file: str, problems: Sequence[Problem]) -> None:
        problems = list(problems)
        n = len(problems)
        summary = f"{file}: {n} problem{'s' * (n != 1)} in the study definition:"
        super().__init__(
            "\n".join([summary, *(f"  {describe(p)}" for p in problems)]),
            file=file,
            problems=problems,
        )
        self.summary = summary


def _dotted(path: Key) -> str:
    return ".".join(str(p) for p in path)


def _fmt(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _compared(e: Expression) -> Iterator[tuple[str, list[Any]]]:
    """(field name, literals it is compared with) of every comparison of ``e``."""
    for node in ast.walk(e.tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            a, b = operands[i], operands[i + 1]
            if isinstance(op, ast.In | ast.NotIn) and isinstance(a, ast.Name):
                yield a.id, [x.value for x in b.elts]  # type: ignore[attr-defined]
            elif isinstance(a, ast.Name) and isinstance(b, ast.Constant):
                yield a.id, [b.value]
            elif isinstance(b, ast.Name) and isinstance(a, ast.Constant):
                yield b.id, [a.value]


def _literal_problems(e: Expression, typed: Mapping[str, Field]) -> list[str]:
    """A field compared with a literal it can never equal: a choice with a code it does not
    have (or with a number: codes are text), a number or yes/no with a text, a text or a date
    with a number (dates compare through ``days()``)."""
    out = []
    for name, literals in _compared(e):
        f = typed.get(name)
        if f is None:
            continue
        for v in literals:
            if f.type in ("choice", "checkbox"):
                if not isinstance(v, str):
                    out.append(f"the codes of {name} are text: write {str(v)!r}, not {v!r}")
                elif v not in f.choices:
                    out.append(f"{v!r} is not a code of {name} (one of {', '.join(f.choices)})")
            elif f.type in NUMERIC_TYPES or f.type == "yesno":
                if isinstance(v, str):
                    what = "a number" if f.type != "yesno" else "yes/no (True or False)"
                    out.append(f"{name} is {what}: it is never {v!r}")
            elif f.type in ("date", "datetime"):
                out.append(f"{name} is a date: compare dates through days(a, b), not with {v!r}")
            elif not isinstance(v, str):
                out.append(f"{name} is text: compare it with a text, {str(v)!r}, not {v!r}")
    for node in ast.walk(e.tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ticked"):
            continue
        box, code = node.args
        f = typed.get(box.id) if isinstance(box, ast.Name) else None
        if f is None or f.type != "checkbox":
            out.append("ticked() takes a checkbox field first")
        elif not isinstance(code, ast.Constant) or str(code.value) not in f.choices:
            value = getattr(code, "value", "?")
            out.append(f"{value!r} is not a code of {box.id} (one of {', '.join(f.choices)})")
    return out


class _Checker:
    def __init__(self, file: str, locate: Locator, problems: Iterable[Problem]) -> None:
        self.file, self.locate = file, locate
        self.problems: list[Problem] = list(problems)
        self.refs_to_check: list[tuple[Key, dict[str, str]]] = []

    def problem(self, path: Key, rule: str, value: Any = None) -> None:
        self.problems.append(
            Problem(self.file, None, _dotted(path) or None, value, rule, line=self.locate(path))
        )

    # -- typed access --------------------------------------------------------------------

    def table(self, value: Any, path: Key, keys: Sequence[str] | None) -> dict[str, Any]:
        """``value`` as a table (``{}`` and a problem if it is not); unknown keys reported
        (``keys`` None: any key)."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem(path, f"must be a table, not {type(value).__name__}")
            return {}
        if keys is not None:
            for k in value:
                if k not in keys:
                    near = difflib.get_close_matches(str(k), keys, n=1)
                    hint = f" (did you mean {near[0]!r}?)" if near else ""
                    self.problem(
                        (*path, k), f"unknown key {k!r}{hint}; known: {', '.join(keys)}", k
                    )
        return dict(value)

    def get(
        self,
        t: Mapping[str, Any],
        key: str,
        path: Key,
        kind: str,
        default: Any = None,
        required: bool = False,
    ) -> Any:
        here = (*path, key)
        if key not in t:
            if required:
                self.problem(here, f"{key!r} is required")
            return default
        v = t[key]
        ok = {
            "str": isinstance(v, str),
            "bool": isinstance(v, bool),
            "int": isinstance(v, int) and not isinstance(v, bool),
            "number": isinstance(v, int | float) and not isinstance(v, bool),
            "strs": isinstance(v, list) and all(isinstance(x, str) for x in v),
            "pair": isinstance(v, list)
            and len(v) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in v),
        }[kind]
        if not ok:
            what = {
                "str": "a string",
                "bool": "true or false",
                "int": "a whole number",
                "number": "a number",
                "strs": "a list of strings",
                "pair": "a pair of whole numbers [lower, upper]",
            }[kind]
            self.problem(here, f"must be {what}, not {v!r}", v)
            return default
        if kind == "str" and required and not v.strip():
            self.problem(here, "must not be empty", v)
        return tuple(v) if kind in ("strs", "pair") else v

    def name(self, name: Any, path: Key, what: str) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            self.problem(
                path,
                f"{what} name {name!r} must be lower case letters, digits and _ "
                "(starting with a letter)",
                name,
            )

    def unique(self, names: Sequence[str], path: Key, what: str, named: bool = False) -> None:
        """Duplicate names in a list (case-insensitively: names become column names); the
        problem's path ends with the entry's index, or with its name if ``named`` (a table)."""
        seen: dict[str, str] = {}
        for i, n in enumerate(names):
            k = n.casefold()
            if k in seen:
                self.problem(
                    (*path, n if named else i),
                    f"duplicate {what} {n!r} (already given as {seen[k]!r})",
                    n,
                )
            seen.setdefault(k, n)

    # -- sections --------------------------------------------------------------------------

    def study(self, t: Any) -> Study:
        path: Key = ("study",)
        if t is None:
            self.problem(("study",), "the [study] table is required")
        s = self.table(t, path, STUDY_KEYS)
        sites_t = self.table(s.get("sites"), (*path, "sites"), None)
        sites = []
        for code, raw in sites_t.items():
            st = self.table(raw, (*path, "sites", code), SITE_KEYS)
            sites.append(
                Site(
                    str(code),
                    self.get(st, "name", (*path, "sites", code), "str", ""),
                    self.get(st, "country", (*path, "sites", code), "str", ""),
                )
            )
        self.unique([x.code for x in sites], (*path, "sites"), "site", named=True)
        subject_field = self.get(s, "subject_field", path, "str", "subject")
        self.name(subject_field, (*path, "subject_field"), "subject field")
        return Study(
            id=self.get(s, "id", path, "str", "", required=t is not None),
            title=self.get(s, "title", path, "str", "", required=t is not None),
            nct=self.get(s, "nct", path, "str", ""),
            eudract=self.get(s, "eudract", path, "str", ""),
            sponsor=self.get(s, "sponsor", path, "str", ""),
            protocol_version=self.get(s, "protocol_version", path, "str", ""),
            sap_version=self.get(s, "sap_version", path, "str", ""),
            sites=tuple(sites),
            subject_field=subject_field,
        )

    def allocation(
        self, t: Any, forms: Mapping[str, Form | None], sites: Sequence[str] = ()
    ) -> Allocation:
        path: Key = ("allocation",)
        if isinstance(t, Mapping) and isinstance(t.get("arms"), list):
            return self.design_allocation(t, forms, sites)
        a = self.table(t, path, ALLOCATION_KEYS)
        method = self.get(a, "method", path, "str", "none")
        if method not in ALLOCATION_METHODS:
            self.problem(
                (*path, "method"),
                f"unknown allocation method {method!r}; one of {', '.join(ALLOCATION_METHODS)}",
                method,
            )
        arms_t = self.table(a.get("arms"), (*path, "arms"), None)
        arms = []
        for name, raw in arms_t.items():
            here = (*path, "arms", name)
            self.name(name, here, "arm")
            at = self.table(raw, here, ARM_KEYS)
            ratio = self.get(at, "ratio", here, "int", 1)
            if ratio < 1:
                self.problem((*here, "ratio"), f"ratio must be at least 1, not {ratio}", ratio)
            arms.append(Arm(str(name), self.get(at, "label", here, "str", ""), ratio))
        self.unique([x.name for x in arms], (*path, "arms"), "arm", named=True)
        if method not in ("none",) and method in ALLOCATION_METHODS and len(arms) < 2:
            self.problem((*path, "arms"), f"allocation method {method!r} needs at least 2 arms")
        if method == "none" and len(arms) > 1:
            self.problem((*path, "method"), "several arms need an allocation method", method)
        stratify = self.get(a, "stratify", path, "strs", ())
        self.unique(list(stratify), (*path, "stratify"), "stratification factor")
        for i, factor in enumerate(stratify):
            form, _, fld = factor.partition(".")
            if form in forms and forms[form] is None:
                continue
            if form not in forms or fld not in forms[form].columns:
                self.problem(
                    (*path, "stratify", i),
                    f"stratification factor {factor!r} names no field (write form.field)",
                    factor,
                )
        return Allocation(method, tuple(arms), stratify)

    def design_allocation(
        self, t: Mapping, forms: Mapping[str, Form | None], sites: Sequence[str]
    ) -> Allocation:
        """``[allocation]`` in the list form: :func:`xerotrial.randomize.design.parse_design`
        (the one parser of a randomization design), then its strata's fields, eligibility
        rules and sites against the forms."""
        from xerotrial.randomize.design import DesignError, parse_design

        path: Key = ("allocation",)
        try:
            design = parse_design(t, self.file, self.locate)
        except DesignError as exc:
            self.problems.extend(exc.problems)
            return Allocation("none")
        for i, s in enumerate(design.strata):
            here = (*path, "strata", i)
            if s.field is None:
                if s.name == "site" and sites and not set(s.levels) <= set(sites):
                    bad = sorted(set(s.levels) - set(sites))
                    self.problem(
                        (*here, "levels"),
                        f"levels {bad} are not sites of the study ({', '.join(sites)})",
                        list(s.levels),
                    )
                if s.name != "site":
                    self.problem(
                        (*here, "field"),
                        f"stratum {s.name!r} needs field = 'form.field' (only 'site' is read "
                        "from the subject's site)",
                    )
                continue
            form, _, fld = s.field.partition(".")
            if form in forms and forms[form] is None:
                continue
            f = forms.get(form)
            named = None if f is None else next((x for x in f.fields if x.name == fld), None)
            if named is None:
                self.problem((*here, "field"), f"{s.field!r} names no field", s.field)
            elif named.choices and not set(s.levels) <= set(named.choices):
                bad = sorted(set(s.levels) - set(named.choices))
                self.problem(
                    (*here, "levels"),
                    f"levels {bad} are not codes of {s.field} ({', '.join(named.choices)})",
                    list(s.levels),
                )
        for i, rule in enumerate(design.eligibility):
            f = forms.get(rule.form)
            here = (*path, "eligibility", i)
            if rule.form not in forms:
                self.problem((*here, "form"), f"names no form: {rule.form!r}", rule.form)
            elif f is not None:
                known = [x.name for x in f.fields]
                typed = {x.name: x for x in f.fields}
                self.expression(rule.expr, (*here, "expr"), known, "eligibility rule", typed)
        arms = tuple(
            Arm(code, label, r) for (code, label), r in zip(design.arms, design.ratio, strict=True)
        )
        stratify = tuple(s.field for s in design.strata if s.field is not None)
        return Allocation(design.method, arms, stratify, design)

    def visits(self, t: Any, arms: Sequence[str] = ()) -> tuple[Visit, ...]:
        path: Key = ("visits",)
        vt = self.table(t, path, None)
        out = []
        for name, raw in vt.items():
            here = (*path, name)
            self.name(name, here, "visit")
            v = self.table(raw, here, VISIT_KEYS)
            day = self.get(v, "day", here, "int", None)
            window = self.get(v, "window", here, "pair", None)
            on_time = self.get(v, "on_time", here, "pair", None)
            if on_time is not None and window is None:
                self.problem((*here, "on_time"), "an on-time window needs a window", list(on_time))
            if day is not None and window is None:
                self.problem((*here, "day"), "a target day needs a window", day)
            if window is not None and day is None:
                self.problem((*here, "window"), "a window needs a target day", list(window))
            visit_arms = self.get(v, "arms", here, "strs", ())
            self.unique(list(visit_arms), (*here, "arms"), "arm")
            for i, arm in enumerate(visit_arms):
                if arm not in arms:
                    known = ", ".join(arms) or "none are defined"
                    self.problem(
                        (*here, "arms", i), f"unknown arm {arm!r} (the arms: {known})", arm
                    )
            for k, w in (("window", window), ("on_time", on_time)):
                if w is not None and w[0] > w[1]:
                    self.problem((*here, k), f"lower {w[0]} is above upper {w[1]}", list(w))
            if window is not None and window[0] <= window[1]:
                if day is not None and not window[0] <= day <= window[1]:
                    self.problem(
                        (*here, "day"),
                        f"target day {day} is outside the window {list(window)}",
                        day,
                    )
                if on_time is not None and not window[0] <= on_time[0] <= on_time[1] <= window[1]:
                    self.problem(
                        (*here, "on_time"),
                        f"on-time window {list(on_time)} is not inside the window {list(window)}",
                        list(on_time),
                    )
            if (window is None) != (day is None) or (on_time is not None and window is None):
                continue
            out.append(
                Visit(
                    str(name),
                    self.get(v, "label", here, "str", ""),
                    day,
                    window,
                    on_time,
                    self.get(v, "baseline", here, "bool", False),
                    visit_arms,
                    self.get(v, "note", here, "str", ""),
                )
            )
        self.unique([x.name for x in out], path, "visit", named=True)
        windowed = [x for x in out if x.window is not None and x.window[0] <= x.window[1]]
        ordered = sorted(windowed, key=lambda x: x.window)  # type: ignore[arg-type, return-value]
        for a, b in zip(ordered, ordered[1:], strict=False):
            if b.window[0] <= a.window[1]:  # type: ignore[index]
                self.problem(
                    (*path, b.name, "window"),
                    f"window {list(b.window)} of visit {b.name!r} overlaps the window "
                    f"{list(a.window)} of visit {a.name!r}",
                    list(b.window),
                )
        if sum(x.baseline for x in out) > 1:
            self.problem(path, "more than one visit is the baseline")
        return tuple(out)

    def schedule(
        self, t: Any, visits: Sequence[Visit], forms: Mapping[str, Form | None]
    ) -> Schedule:
        path: Key = ("schedule",)
        s = self.table(t, path, SCHEDULE_KEYS)
        due_t = self.table(s.get("due"), (*path, "due"), None)
        names = {v.name for v in visits}
        due: dict[str, tuple[str, ...]] = {}
        for form in due_t:
            here = (*path, "due", form)
            if form not in forms:
                self.problem(here, f"form {form!r} is not defined", form)
            vs = self.get(due_t, form, (*path, "due"), "strs", ())
            self.unique(list(vs), here, "visit")
            for i, v in enumerate(vs):
                if v not in names:
                    near = difflib.get_close_matches(v, sorted(names), n=1)
                    hint = f" (did you mean {near[0]!r}?)" if near else ""
                    self.problem(
                        (*here, i),
                        f"form {form!r} is due at visit {v!r}, which does not exist" + hint,
                        v,
                    )
            due[str(form)] = vs
        repeating = self.get(s, "repeating", path, "strs", ())
        self.unique(list(repeating), (*path, "repeating"), "form")
        for i, form in enumerate(repeating):
            if form not in forms:
                self.problem((*path, "repeating", i), f"form {form!r} is not defined", form)
        return Schedule(
            MappingProxyType(due), self.get(s, "unscheduled", path, "bool", False), repeating
        )

    def expression(
        self, text: Any, path: Key, known: Sequence[str], what: str, typed: Mapping[str, Field]
    ) -> None:
        if not isinstance(text, str):
            return
        try:
            e = parse_expression(text)
        except ExpressionError as exc:
            self.problem(path, f"{what} {text!r} does not parse: {exc}", text)
            return
        for n in sorted(e.names - set(known)):
            near = difflib.get_close_matches(n, known, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            self.problem(path, f"{what} {text!r} names an unknown field {n!r}{hint}", text)
        for rule in _literal_problems(e, typed):
            self.problem(path, f"{what} {text!r}: {rule}", text)

    def field(self, name: Any, raw: Any, path: Key) -> Field | None:
        self.name(name, path, "field")
        f = self.table(raw, path, FIELD_KEYS)
        typ = self.get(f, "type", path, "str", None, required=True)
        if typ is not None and typ not in FIELD_TYPES:
            near = difflib.get_close_matches(typ, FIELD_TYPES, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            self.problem(
                (*path, "type"), f"unknown type {typ!r}{hint}; one of {', '.join(FIELD_TYPES)}", typ
            )
            typ = None
        limits = {k: self.get(f, k, path, "number") for k in ("lo", "hi", "soft_lo", "soft_hi")}
        limits = {k: None if v is None else float(v) for k, v in limits.items()}
        if typ is not None and typ not in NUMERIC_TYPES:
            for k, v in limits.items():
                if v is not None:
                    self.problem((*path, k), f"a {typ} field takes no limit ({k}); only numbers", v)
        lo, hi, slo, shi = (limits[k] for k in ("lo", "hi", "soft_lo", "soft_hi"))
        if lo is not None and hi is not None and lo > hi:
            self.problem((*path, "lo"), f"lo {_fmt(lo)} is above hi {_fmt(hi)}", lo)
        if slo is not None and shi is not None and slo > shi:
            self.problem(
                (*path, "soft_lo"), f"soft_lo {_fmt(slo)} is above soft_hi {_fmt(shi)}", slo
            )
        for k, v in (("soft_lo", slo), ("soft_hi", shi)):
            if v is None:
                continue
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                self.problem(
                    (*path, k),
                    f"{k} {_fmt(v)} is outside the hard limits [{_fmt(lo)}, {_fmt(hi)}]".replace(
                        "None", ""
                    ),
                    v,
                )
        precision = self.get(f, "precision", path, "int")
        if precision is not None and typ not in (None, "decimal", "calculated"):
            self.problem((*path, "precision"), f"a {typ} field takes no precision", precision)
        if precision is not None and precision < 0:
            self.problem((*path, "precision"), "precision must be 0 or more", precision)
        choices = self.choices(f.get("choices"), (*path, "choices"))
        if typ in ("choice", "checkbox") and not choices:
            self.problem(path, f"a {typ} field needs choices (code = label)")
        if choices and typ not in (None, "choice", "checkbox"):
            self.problem((*path, "choices"), f"a {typ} field takes no choices (type choice?)")
        calc = self.get(f, "calc", path, "str")
        redcap = self.redcap(f.get("redcap"), (*path, "redcap"), typ)
        if typ == "calculated" and calc is None and "calculation" not in redcap:
            self.problem(
                path, "a calculated field needs calc (its expression) or redcap.calculation"
            )
        if calc is not None and typ not in (None, "calculated"):
            self.problem((*path, "calc"), f"a {typ} field takes no calc (type calculated?)", calc)
        sdtm = self.get(f, "sdtm", path, "str")
        if sdtm is not None and not _SDTM.match(sdtm):
            self.problem(
                (*path, "sdtm"), f"sdtm {sdtm!r} must be DOMAIN.VARIABLE, e.g. DM.AGE", sdtm
            )
        xpt = self.get(f, "xpt", path, "str")
        if xpt is not None and not _XPT.match(xpt):
            self.problem(
                (*path, "xpt"), f"xpt {xpt!r} must be 1-8 upper-case letters, digits or _", xpt
            )
        max_length = self.get(f, "max_length", path, "int")
        if max_length is not None and typ not in (None, "text"):
            self.problem((*path, "max_length"), f"a {typ} field takes no max_length", max_length)
        validation = self.get(f, "validation", path, "str")
        if validation is not None and typ not in (None, "text"):
            self.problem(
                (*path, "validation"),
                f"a {typ} field takes no validation (a text rule)",
                validation,
            )
        elif validation is not None and validation not in TEXT_RULES:
            near = difflib.get_close_matches(validation, TEXT_RULES, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            self.problem(
                (*path, "validation"),
                f"unknown validation {validation!r}{hint}; one of {', '.join(TEXT_RULES)}",
                validation,
            )
        if typ == "descriptive" and self.get(f, "required", path, "bool", False):
            self.problem((*path, "required"), "a descriptive field holds no data: never required")
        if typ is None:
            return None
        return Field(
            name=str(name),
            type=typ,
            label=self.get(f, "label", path, "str", ""),
            required=self.get(f, "required", path, "bool", False),
            unit=self.get(f, "unit", path, "str", ""),
            precision=precision,
            lo=lo,
            hi=hi,
            soft_lo=slo,
            soft_hi=shi,
            choices=MappingProxyType(choices),
            show_if=self.get(f, "show_if", path, "str"),
            calc=calc,
            sdtm=sdtm,
            max_length=max_length,
            validation=validation,
            redcap=MappingProxyType(redcap),
            xpt=xpt,
        )

    def redcap(self, raw: Any, path: Key, typ: str | None) -> dict[str, str]:
        """The REDCap dictionary facts of a field (:data:`~.model.REDCAP_KEYS`, text values)."""
        t = self.table(raw, path, REDCAP_KEYS)
        out = {}
        for k, v in t.items():
            if k not in REDCAP_KEYS:
                continue
            if not isinstance(v, str):
                self.problem((*path, k), f"must be a string, not {v!r}", v)
                continue
            out[str(k)] = v
        ft = out.get("field_type")
        if ft is not None and typ is not None and ft not in REDCAP_FIELD_TYPES.get(typ, ()):
            allowed = ", ".join(REDCAP_FIELD_TYPES.get(typ, ())) or "none"
            self.problem(
                (*path, "field_type"),
                f"a {typ} field cannot be the REDCap field type {ft!r} (it can be: {allowed})",
                ft,
            )
        val = out.get("validation")
        if val is not None and typ is not None:
            v = VALIDATIONS.get(val)
            fits = v is not None and (
                v.type == typ
                or (v.type == "file" and ft == "file")
                or (ft == "slider" and val in ("number", "integer"))
            )
            if not fits:
                self.problem(
                    (*path, "validation"),
                    f"{val!r} is not a REDCap validation type of a {typ} field",
                    val,
                )
        return out

    def choices(self, raw: Any, path: Key) -> dict[str, str]:
        """A table code -> label, or a list of codes (each its own label)."""
        if raw is None:
            return {}
        if isinstance(raw, list):
            if not all(isinstance(c, str | int) and not isinstance(c, bool) for c in raw):
                self.problem(path, "choices must be codes (strings or numbers)", raw)
                return {}
            codes = [str(c) for c in raw]
            self.unique(codes, path, "choice")
            return {c: c for c in codes}
        if isinstance(raw, Mapping):
            out = {}
            for code, label in raw.items():
                if not isinstance(label, str):
                    self.problem(
                        (*path, code), f"the label of choice {code!r} must be a string", label
                    )
                out[str(code)] = str(label)
            return out
        self.problem(path, f"choices must be a table code = label or a list, not {raw!r}", raw)
        return {}

    def form(self, name: Any, raw: Any, path: Key) -> Form | None:
        self.name(name, path, "form")
        t = self.table(raw, path, FORM_KEYS)
        title = self.get(t, "title", path, "str", "", required=True)
        ft = self.table(t.get("fields"), (*path, "fields"), None)
        if not ft:
            self.problem(path, "a form needs fields")
        fields = [self.field(n, r, (*path, "fields", n)) for n, r in ft.items()]
        self.unique([str(n) for n in ft], (*path, "fields"), "field", named=True)
        names = [str(n) for n in ft]
        key = self.get(t, "key", path, "strs", ())
        self.unique(list(key), (*path, "key"), "key field")
        for i, k in enumerate(key):
            if ft and k not in names:
                self.problem((*path, "key", i), f"key field {k!r} is not a field of the form", k)
        typed = {n: f for n, f in zip(names, fields, strict=True) if f is not None}
        for fname, f in typed.items():
            fpath = (*path, "fields", fname)
            self.expression(f.show_if, (*fpath, "show_if"), names, "show_if", typed)
            self.expression(f.calc, (*fpath, "calc"), names, "calc", typed)
            if f.show_if is not None and fname in key:
                self.problem((*fpath, "show_if"), "a key field is always asked (no show_if)")
        checks = []
        raw_checks = t.get("checks", [])
        if not isinstance(raw_checks, list):
            self.problem((*path, "checks"), "must be a list of checks {expr, message, level}")
            raw_checks = []
        for i, rc in enumerate(raw_checks):
            here = (*path, "checks", i)
            c = self.table(rc, here, CHECK_KEYS)
            expr = self.get(c, "expr", here, "str", None, required=True)
            self.expression(expr, (*here, "expr"), names, "check", typed)
            level = self.get(c, "level", here, "str", "error")
            if level not in CHECK_LEVELS:
                self.problem(
                    (*here, "level"), f"level must be one of {', '.join(CHECK_LEVELS)}", level
                )
            if expr is not None:
                checks.append(
                    Check(expr, self.get(c, "message", here, "str", "", required=True), level)
                )
        participant = self.get(t, "participant", path, "str")
        if participant is not None and ft and participant not in names:
            self.problem(
                (*path, "participant"), f"{participant!r} is not a field of the form", participant
            )
        visit_columns = self.get(t, "visit_columns", path, "strs")
        if visit_columns is not None:
            if len(visit_columns) != 2:
                self.problem((*path, "visit_columns"), "two fields: the subject and the visit")
                visit_columns = None
            else:
                for i, v in enumerate(visit_columns):
                    if ft and v not in names:
                        self.problem(
                            (*path, "visit_columns", i), f"{v!r} is not a field of the form", v
                        )
        refs_t = self.table(t.get("refs"), (*path, "refs"), None)
        refs: dict[str, str] = {}
        for col, target in refs_t.items():
            here = (*path, "refs", col)
            if ft and col not in names:
                self.problem(here, f"{col!r} is not a field of the form", col)
            if not isinstance(target, str) or target.count(".") != 1:
                self.problem(here, f"a reference is 'form.field', not {target!r}", target)
                continue
            refs[str(col)] = target
        self.refs_to_check.append((path, refs))
        if any(f is None for f in fields):
            return None
        return Form(
            str(name),
            title,
            key,
            tuple(fields),  # type: ignore[arg-type]
            tuple(checks),
            participant,
            visit_columns,  # type: ignore[arg-type]
            MappingProxyType(refs),
        )

    def forms(self, t: Any) -> dict[str, Form]:
        ft = self.table(t, ("forms",), None)
        if t is None:
            self.problem(("forms",), "the [forms] table is required")
        self.unique([str(n) for n in ft], ("forms",), "form", named=True)
        out = {}
        for name, raw in ft.items():
            form = self.form(name, raw, ("forms", name))
            if form is not None:
                out[str(name)] = form
        fields = {str(n): set(r.get("fields") or ()) for n, r in ft.items() if isinstance(r, dict)}
        for path, refs in self.refs_to_check:
            for col, target in refs.items():
                form, _, fld = target.partition(".")
                if fld not in fields.get(form, ()):
                    self.problem(
                        (*path, "refs", col), f"{target!r} names no field of a form", target
                    )
        return out


def build(
    data: Any, file: str, locate: Locator, problems: Iterable[Problem] = ()
) -> StudyDefinition:
    """Check ``data`` (a definition as parsed, with its locator and the problems of parsing)
    and build the :class:`~xerotrial.study.model.StudyDefinition`; every problem found is in
    one :class:`StudyDefinitionError`."""
    c = _Checker(file, locate, problems)
    if data is None and c.problems:
        raise StudyDefinitionError(file, c.problems)
    top = c.table(data, (), TOP_KEYS)
    version = c.get(top, "version", (), "str", "", required=True)
    study = c.study(top.get("study"))
    forms = c.forms(top.get("forms"))
    # a form that could not be built (a problem is reported) still counts as defined
    raw_forms = top.get("forms")
    known: dict[str, Form | None] = {
        str(n): None for n in (raw_forms if isinstance(raw_forms, Mapping) else ())
    }
    known.update(forms)
    allocation = c.allocation(top.get("allocation"), known, [x.code for x in study.sites])
    visits = c.visits(top.get("visits"), [a.name for a in allocation.arms])
    schedule = c.schedule(top.get("schedule"), visits, known)
    derivations, analysis = build_plan(
        c, top.get("derivations"), top.get("analysis"), forms, allocation, visits
    )
    submission = build_submission(c, top.get("submission"), known)
    if c.problems:
        raise StudyDefinitionError(file, c.problems)
    return StudyDefinition(
        version,
        study,
        allocation,
        visits,
        schedule,
        tuple(forms.values()),
        derivations,
        analysis,
        submission,
    )
