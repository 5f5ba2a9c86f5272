"""What changed between two versions of a study definition, one line per change.

``+`` added, ``-`` removed, ``~`` changed (with the old and new value). Visits, the schedule,
forms, their checks, fields and every field attribute are compared; the order of fields too.

>>> from dataclasses import replace
>>> from xerotrial.study import SEED_STUDY, load_study
>>> old = load_study(SEED_STUDY)
>>> day7 = replace(old.visit("day5"), name="day7", day=7, window=(7, 8), on_time=None)
>>> new = replace(old, version="1.1", visits=(*old.visits, day7))
>>> for line in diff_studies(old, new):
...     print(line)
~ version: '1.0' -> '1.1'
+ visit day7
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from .model import Field, Form, StudyDefinition

__all__ = ["diff_studies"]


def _show(x: Any) -> str:
    if isinstance(x, Mapping):
        return repr(dict(x))
    return repr(list(x)) if isinstance(x, tuple) else repr(x)


def _attrs(kind: str, name: str, old: Any, new: Any, skip: tuple[str, ...] = ()) -> Iterator[str]:
    for f in dataclasses.fields(old):
        if f.name in skip:
            continue
        a, b = getattr(old, f.name), getattr(new, f.name)
        if (dict(a) if isinstance(a, Mapping) else a) != (dict(b) if isinstance(b, Mapping) else b):
            yield f"~ {kind} {name}: {f.name} {_show(a)} -> {_show(b)}"


def _named(
    kind: str, old: Mapping[str, Any], new: Mapping[str, Any], of: str = ""
) -> Iterator[str]:
    for n in new:
        if n not in old:
            yield f"+ {kind} {of}{n}"
    for n in old:
        if n not in new:
            yield f"- {kind} {of}{n}"


def _form(old: Form, new: Form) -> Iterator[str]:
    yield from _attrs("form", old.name, old, new, skip=("fields", "checks"))
    of: dict[str, Field] = {f.name: f for f in old.fields}
    nf: dict[str, Field] = {f.name: f for f in new.fields}
    yield from _named("field", of, nf, of=f"{old.name}.")
    for n in of:
        if n in nf:
            yield from _attrs("field", f"{old.name}.{n}", of[n], nf[n])
    common_old = [n for n in of if n in nf]
    common_new = [n for n in nf if n in of]
    if common_old != common_new:
        yield f"~ form {old.name}: field order {common_old} -> {common_new}"
    oc = {c.expr: c for c in old.checks}
    nc = {c.expr: c for c in new.checks}
    yield from (f"+ check {old.name}: {e}" for e in nc if e not in oc)
    yield from (f"- check {old.name}: {e}" for e in oc if e not in nc)
    for e in oc:
        if e in nc:
            yield from _attrs("check", f"{old.name} {e!r}", oc[e], nc[e])


def diff_studies(old: StudyDefinition, new: StudyDefinition) -> list[str]:
    """The changes from ``old`` to ``new``, one line each (``[]`` when they are the same)."""
    out: list[str] = []
    if old.version != new.version:
        out.append(f"~ version: {old.version!r} -> {new.version!r}")
    out += _attrs("study", old.study.id, old.study, new.study)
    out += _attrs("allocation", "", old.allocation, new.allocation)
    ov = {v.name: v for v in old.visits}
    nv = {v.name: v for v in new.visits}
    out += _named("visit", ov, nv)
    for n in ov:
        if n in nv:
            out += _attrs("visit", n, ov[n], nv[n])
    od, nd = old.schedule.due, new.schedule.due
    for form in [*od, *(f for f in nd if f not in od)]:
        a, b = od.get(form, ()), nd.get(form, ())
        if a != b:
            out.append(f"~ schedule {form}: {list(a)} -> {list(b)}")
    for attr in ("unscheduled", "repeating"):
        a, b = getattr(old.schedule, attr), getattr(new.schedule, attr)
        if a != b:
            out.append(f"~ schedule {attr}: {_show(a)} -> {_show(b)}")
    of = {f.name: f for f in old.forms}
    nf = {f.name: f for f in new.forms}
    out += _named("form", of, nf)
    for n in of:
        if n in nf:
            out += _form(of[n], nf[n])
    od_ = {d.param: d for d in old.derivations}
    nd_ = {d.param: d for d in new.derivations}
    out += _named("derivation", od_, nd_)
    for n in od_:
        if n in nd_:
            out += _attrs("derivation", n, od_[n], nd_[n])
    out += _plan(old.analysis, new.analysis)
    if old.submission != new.submission:
        out.append("~ submission metadata ([submission])")
    return out


def _plan(old: Any, new: Any) -> list[str]:
    """The changes of the analysis plan (arms; endpoints by parameter)."""
    if old is None or new is None:
        return [] if old is new else [f"{'+' if old is None else '-'} analysis plan"]
    out = []
    if old.arms != new.arms:
        out.append(f"~ analysis arms: {_show(old.arms)} -> {_show(new.arms)}")
    oe = {e.key: e for e in old.endpoints}
    ne = {e.key: e for e in new.endpoints}
    out += _named("endpoint", oe, ne)
    for n in oe:
        if n in ne:
            out += _attrs("endpoint", n, oe[n], ne[n])
    return out
