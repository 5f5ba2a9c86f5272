"""An allocation design: the ``[allocation]`` section of a study definition (issue 14's form).

.. code-block:: toml

    [allocation]
    method = "permuted-blocks"          # or "minimization"
    arms = [{ code = "ASC", label = "AT-MSC" }, { code = "PBO", label = "Placebo" }]
    ratio = [1, 1]
    block_sizes = [2, 4, 6]             # each a multiple of sum(ratio)
    strata = [{ name = "site", levels = ["RH", "OUH"] }]
    # minimization: factors (default: the strata names), p_best = 0.8, imbalance = "range"
    # in a study store (randomize allocate): where each stratum's level comes from, and who
    # may be randomized
    #   strata = [{ name = "dose", field = "enrolment.dose_group", levels = ["1", "2"] }]
    #   (no field: the stratum named "site" is the subject's site)
    #   eligibility = [{ form = "enrolment", expr = "age >= 18", message = "under 18" }]

:func:`load_design` reads it from a definition or from a file holding only that section;
every problem is reported at once, as ``FILE: line L: allocation.key: rule``.

Example
-------
>>> d = parse_design({"method": "permuted-blocks", "arms": [{"code": "A"}, {"code": "B"}],
...                   "block_sizes": [2, 4], "strata": [{"name": "site", "levels": ["X", "Y"]}]})
>>> d.arm_codes, d.ratio, [s.label for s in d.strata_cells()]
(('A', 'B'), (1, 1), ['site=X', 'site=Y'])
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xerotrial.errors import Problem, XerotrialError

__all__ = [
    "METHODS",
    "AllocationDesign",
    "DesignError",
    "EligibilityRule",
    "Stratum",
    "label_levels",
    "load_design",
    "parse_design",
]

METHODS = ("permuted-blocks", "minimization")
_KEYS = {
    "method", "arms", "ratio", "block_sizes", "strata", "factors", "p_best", "imbalance",
    "eligibility",
}  # fmt: skip
_STRATUM_KEYS = {"name", "levels", "field"}
_ELIGIBILITY_KEYS = {"form", "expr", "message"}
_IMBALANCE = ("range", "variance")


class DesignError(XerotrialError):
    """An allocation design with problems (``problems``: every one)."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file, self.problems = file, problems
        lines = [f"{file}: {len(problems)} problem(s) in the allocation design:"]
        lines += [f"  {p.file}: {'' if p.line is None else f'line {p.line}: '}{p.column}: "
                  f"{p.rule}" for p in problems]  # fmt: skip
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Stratum:
    """One stratification factor and its levels, in order; ``field`` (``form.field``) is
    where a study store reads a subject's level (None: the subject's site)."""

    name: str
    levels: tuple[str, ...]
    field: str | None = None


@dataclass(frozen=True)
class EligibilityRule:
    """A rule a subject must meet to be randomized: ``expr`` on the subject's ``form`` row
    (true: eligible); ``message`` says why not."""

    form: str
    expr: str
    message: str


@dataclass(frozen=True)
class StratumCell:
    """One combination of levels: ``label`` is ``name=level;name=level`` ('' unstratified)."""

    levels: tuple[tuple[str, str], ...]

    @property
    def label(self) -> str:
        return ";".join(f"{n}={v}" for n, v in self.levels)


def label_levels(label: str) -> dict[str, str]:
    """The levels of a stratum label (:attr:`StratumCell.label`'s inverse).

    >>> label_levels("site=RH;baseline_uws=low")
    {'site': 'RH', 'baseline_uws': 'low'}
    """
    return dict(part.split("=", 1) for part in label.split(";") if part)


@dataclass(frozen=True)
class AllocationDesign:
    """The design: arms (code, label) in order, their ratio, the block sizes, the strata;
    for minimization its factors, the probability of the best arm and the imbalance measure."""

    method: str
    arms: tuple[tuple[str, str], ...]
    ratio: tuple[int, ...]
    block_sizes: tuple[int, ...] = ()
    strata: tuple[Stratum, ...] = ()
    factors: tuple[str, ...] = ()
    p_best: float = 0.8
    imbalance: str = "range"
    eligibility: tuple[EligibilityRule, ...] = ()

    @property
    def arm_codes(self) -> tuple[str, ...]:
        return tuple(code for code, _ in self.arms)

    def as_table(self) -> dict[str, Any]:
        """The ``[allocation]`` table this design is read from (what :func:`parse_design`
        takes back)."""
        out: dict[str, Any] = {
            "method": self.method,
            "arms": [{"code": c, "label": lb} if lb else {"code": c} for c, lb in self.arms],
            "ratio": list(self.ratio),
        }
        if self.block_sizes:
            out["block_sizes"] = list(self.block_sizes)
        if self.strata:
            out["strata"] = [
                {"name": s.name, "levels": list(s.levels)} | ({"field": s.field} if s.field else {})
                for s in self.strata
            ]
        if self.method == "minimization":
            out |= {"factors": list(self.factors), "p_best": self.p_best}
            out["imbalance"] = self.imbalance
        if self.eligibility:
            out["eligibility"] = [
                {"form": r.form, "expr": r.expr, "message": r.message} for r in self.eligibility
            ]
        return out

    def strata_cells(self) -> list[StratumCell]:
        """Every combination of the strata's levels, the first factor varying slowest."""
        names = [s.name for s in self.strata]
        return [
            StratumCell(tuple(zip(names, combo, strict=True)))
            for combo in itertools.product(*(s.levels for s in self.strata))
        ]


def parse_design(
    table: Any, file: str = "allocation", locate: Callable[[tuple], int | None] | None = None
) -> AllocationDesign:
    """The design of an ``[allocation]`` table; :class:`DesignError` listing every problem."""
    problems: list[Problem] = []

    def problem(key: tuple, rule: str, value: Any = None) -> None:
        path = ("allocation", *key)
        line = locate(path) if locate else None
        where = ".".join(str(k) for k in path)
        problems.append(Problem(file, None, where, value, rule, line=line))

    if not isinstance(table, Mapping):
        problem((), "must be a table: [allocation]")
        raise DesignError(file, problems)
    for key in sorted(set(table) - _KEYS):
        problem((key,), f"unknown key; the keys: {', '.join(sorted(_KEYS))}", key)
    method = table.get("method")
    if method not in METHODS:
        problem(("method",), f"must be one of {', '.join(METHODS)}", method)
    arms = _arms(table.get("arms"), problem)
    ratio = _ints(table.get("ratio", [1] * len(arms)), ("ratio",), problem)
    if len(ratio) != len(arms):
        problem(("ratio",), f"needs one part per arm ({len(arms)} arms)", list(ratio))
    block_sizes: tuple[int, ...] = ()
    if method == "permuted-blocks" or "block_sizes" in table:
        block_sizes = _ints(table.get("block_sizes"), ("block_sizes",), problem)
        if not block_sizes:
            problem(("block_sizes",), "permuted blocks need at least one block size")
        total = sum(ratio)
        for i, size in enumerate(block_sizes):
            if total and size % total:
                problem(("block_sizes", i), f"must be a multiple of sum(ratio) = {total}", size)
        if len(set(block_sizes)) != len(block_sizes):
            problem(("block_sizes",), "a block size is given twice", list(block_sizes))
    strata = _strata(table.get("strata", []), problem)
    names = [s.name for s in strata]
    raw_factors = table.get("factors", names)
    factors: tuple[str, ...] = ()
    if isinstance(raw_factors, list):
        factors = tuple(raw_factors)
    else:
        problem(("factors",), "must be a list of strata names", raw_factors)
    if len(set(factors)) != len(factors):
        problem(("factors",), "a factor is given twice", list(factors))
    for i, f in enumerate(factors):
        if f not in names:
            problem(("factors", i), f"names no stratum (the strata: {', '.join(names)})", f)
    p_best = table.get("p_best", 0.8)
    if not isinstance(p_best, int | float) or isinstance(p_best, bool) or not 0.5 < p_best <= 1:
        problem(("p_best",), "must be a number above 0.5 and at most 1", p_best)
        p_best = 0.8
    imbalance = table.get("imbalance", "range")
    if imbalance not in _IMBALANCE:
        problem(("imbalance",), f"must be one of {', '.join(_IMBALANCE)}", imbalance)
    if method == "minimization" and not factors:
        problem(("factors",), "minimization needs at least one factor (or strata)")
    eligibility = _eligibility(table.get("eligibility", []), problem)
    if problems:
        raise DesignError(file, problems)
    return AllocationDesign(
        method, arms, ratio, block_sizes, strata, factors, float(p_best), imbalance, eligibility
    )


def _eligibility(raw: Any, problem: Callable) -> tuple[EligibilityRule, ...]:
    from xerotrial.study.expressions import ExpressionError, parse_expression

    if not isinstance(raw, list):
        problem(("eligibility",), "must be a list: [{ form = ..., expr = ..., message = ... }]")
        return ()
    out = []
    for i, rule in enumerate(raw):
        if not isinstance(rule, Mapping) or not all(
            isinstance(rule.get(k), str) and rule[k] for k in ("form", "expr")
        ):
            problem(("eligibility", i), "a rule is { form = TEXT, expr = TEXT, message = TEXT }")
            continue
        for key in sorted(set(rule) - _ELIGIBILITY_KEYS):
            problem(("eligibility", i, key), "unknown key; a rule has form, expr, message", key)
        try:
            parse_expression(rule["expr"])
        except ExpressionError as exc:
            problem(("eligibility", i, "expr"), f"does not parse: {exc}", rule["expr"])
            continue
        message = rule.get("message") or f"not eligible: {rule['expr']} is not met"
        out.append(EligibilityRule(rule["form"], rule["expr"], str(message)))
    return tuple(out)


def _arms(raw: Any, problem: Callable) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        problem(("arms",), "must list at least 2 arms: [{ code = ..., label = ... }, ...]", raw)
        return ()
    out = []
    for i, arm in enumerate(raw):
        if not isinstance(arm, Mapping) or not isinstance(arm.get("code"), str) or not arm["code"]:
            problem(("arms", i), "an arm is { code = TEXT, label = TEXT }", arm)
            continue
        for key in sorted(set(arm) - {"code", "label"}):
            problem(("arms", i, key), "unknown key; an arm has code and label", key)
        out.append((arm["code"], str(arm.get("label", ""))))
    codes = [c for c, _ in out]
    for code in sorted({c for c in codes if codes.count(c) > 1}):
        problem(("arms",), f"arm code {code!r} is given twice", code)
    return tuple(out)


def _ints(raw: Any, key: tuple, problem: Callable) -> tuple[int, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problem(key, "must be a list of whole numbers", raw)
        return ()
    out = []
    for i, x in enumerate(raw):
        if not isinstance(x, int) or isinstance(x, bool) or x < 1:
            problem((*key, i), "must be a whole number of at least 1", x)
        else:
            out.append(x)
    return tuple(out)


def _strata(raw: Any, problem: Callable) -> tuple[Stratum, ...]:
    if not isinstance(raw, list):
        problem(("strata",), "must be a list: [{ name = ..., levels = [...] }, ...]", raw)
        return ()
    out = []
    for i, s in enumerate(raw):
        levels = s.get("levels") if isinstance(s, Mapping) else None
        name = s.get("name") if isinstance(s, Mapping) else None
        if not isinstance(name, str) or not name or not isinstance(levels, list) or not levels:
            problem(("strata", i), "a stratum is { name = TEXT, levels = [TEXT, ...] }", s)
            continue
        texts = [str(v) for v in levels]
        if len(set(texts)) != len(texts):
            problem(("strata", i, "levels"), "a level is given twice", texts)
        for key in sorted(set(s) - _STRATUM_KEYS):
            problem(("strata", i, key), "unknown key; a stratum has name, levels, field", key)
        field = s.get("field")
        if field is not None and (not isinstance(field, str) or "." not in field):
            problem(("strata", i, "field"), "must name a field as form.field", field)
            field = None
        out.append(Stratum(name, tuple(texts), field))
    names = [s.name for s in out]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problem(("strata",), f"stratum {name!r} is given twice", name)
    return tuple(out)


def load_design(path: str | Path) -> AllocationDesign:
    """The design in a study definition (TOML or YAML) or a file holding only its
    ``[allocation]`` section."""
    from xerotrial.study.load import parse_text

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DesignError(str(path), [Problem(str(path), None, None, None, str(exc))]) from None
    fmt = "yaml" if path.suffix.lower() in (".yaml", ".yml") else "toml"
    data, locate, problems = parse_text(text, str(path), fmt)
    if problems or not isinstance(data, Mapping):
        raise DesignError(str(path), problems or [Problem(str(path), None, None, None, "empty")])
    if "allocation" not in data:
        raise DesignError(
            str(path), [Problem(str(path), None, "allocation", None, "no [allocation] section")]
        )
    return parse_design(data["allocation"], str(path), locate)
