"""A study definition written as TOML (with ``tomli-w``) that :func:`~.load.load_study` reads
back as the same definition.

Only what differs from a default is written (an empty ``redcap``, ``required = false``, ...),
numbers that are whole as whole numbers.

>>> from xerotrial.study import SEED_STUDY, load_study
>>> from xerotrial.study.load import parse_text
>>> from xerotrial.study.check import build
>>> seed = load_study(SEED_STUDY)
>>> data, locate, problems = parse_text(to_toml(seed), "back.toml", "toml")
>>> build(data, "back.toml", locate, problems) == seed
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import tomli_w

from .model import Field, Form, StudyDefinition

__all__ = ["to_dict", "to_toml"]


def _plain(x: Any) -> Any:
    if isinstance(x, float) and x.is_integer():
        return int(x)
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, tuple | list):
        return [_plain(v) for v in x]
    return x


def _changed(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The attributes of a dataclass that differ from their defaults."""
    out = {}
    for f in dataclasses.fields(obj):
        if f.name in skip:
            continue
        v = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        if default is not dataclasses.MISSING and (
            (dict(v) if isinstance(v, Mapping) else v)
            == (dict(default) if isinstance(default, Mapping) else default)
        ):
            continue
        out[f.name] = _plain(v)
    return out


def _field(f: Field) -> dict[str, Any]:
    return _changed(f, skip=("name",))


def _form(form: Form) -> dict[str, Any]:
    out: dict[str, Any] = {"title": form.title}
    if form.key:
        out["key"] = list(form.key)
    out.update(_changed(form, skip=("name", "title", "key", "fields", "checks")))
    if form.checks:
        out["checks"] = [_changed(c) for c in form.checks]
    out["fields"] = {f.name: _field(f) for f in form.fields}
    return out


def _plan(study: StudyDefinition) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if study.derivations:
        out["derivations"] = {d.param: _changed(d, skip=("param",)) for d in study.derivations}
    if study.analysis is not None:
        a = _changed(study.analysis, skip=("endpoints", "population", "dmc", "estimand"))
        for key in ("dmc", "estimand"):  # sub-tables of [analysis]
            sub = getattr(study.analysis, key)
            if sub is not None:
                a[key] = _changed(sub)
        if study.analysis.population is not None:
            form, where = study.analysis.population
            a["population"] = {"form": form, "where": where}
        a["endpoints"] = [_changed(e) for e in study.analysis.endpoints]
        out["analysis"] = a
    if study.submission is not None:
        out["submission"] = study.submission.as_table()
    return out


def to_dict(study: StudyDefinition) -> dict[str, Any]:
    """The definition as the tables of its TOML file."""
    s = _changed(study.study, skip=("sites",))
    s.setdefault("id", study.study.id)
    s.setdefault("title", study.study.title)
    if study.study.sites:
        s["sites"] = {x.code: _changed(x, skip=("code",)) for x in study.study.sites}
    out: dict[str, Any] = {"version": study.version, "study": s}
    a = _changed(study.allocation, skip=("arms", "design"))
    if study.allocation.design is not None:
        a = study.allocation.design.as_table()
    elif study.allocation.arms:
        a["arms"] = {x.name: _changed(x, skip=("name",)) for x in study.allocation.arms}
    if a:
        out["allocation"] = a
    if study.visits:
        out["visits"] = {v.name: _changed(v, skip=("name",)) for v in study.visits}
    sch = _changed(study.schedule, skip=("due",))
    if study.schedule.due:
        sch["due"] = {k: list(v) for k, v in study.schedule.due.items()}
    if sch:
        out["schedule"] = sch
    out["forms"] = {form.name: _form(form) for form in study.forms}
    out.update(_plan(study))
    return out


def to_toml(study: StudyDefinition) -> str:
    """The definition as TOML text."""
    return tomli_w.dumps(to_dict(study), multiline_strings=True)
