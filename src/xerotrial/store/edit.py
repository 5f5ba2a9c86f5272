"""Corrections: change or delete one stored row, with a reason, under the audit trail.

A row is named by its form's key (``{"subject": "P01", "visit": "day0", "kind": "UWS"}``).
The new row is validated like an imported one (cell rules, the form's row checks, known
participant / visit / donor / batch); key columns cannot be changed (delete the row and
import the right one). An edit that changes nothing writes nothing.

Example
-------
>>> import tempfile, os, pandas as pd
>>> from xerotrial.store.migrate import init_store
>>> from xerotrial.store.engine import open_store
>>> from xerotrial.store.importer import import_frame
>>> db = os.path.join(tempfile.mkdtemp(), "trial.db"); _ = init_store(db)
>>> eng = open_store(db)
>>> _ = import_frame(eng, "sites", pd.DataFrame({"site": ["S1"]}), user="ana")
>>> rows = pd.DataFrame({"subject": ["P01"], "site": ["S1"], "group": ["patient"],
...                      "sex": ["F"], "age_years": ["61"]})
>>> _ = import_frame(eng, "participants", rows, user="ana")
>>> edit_row(eng, "participants", {"subject": "P01"}, {"age_years": "62"},
...          reason="typo in the CRF", user="ana")
EditResult(form='participants', key={'subject': 'P01'}, changed={'age_years': (61, 62)})
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select
from sqlalchemy.exc import IntegrityError

from .audit import AuditWriter, jsonable, row_problem
from .consistency import consistency_problems
from .engine import write_transaction
from .errors import ImportRejectedError, StoreError
from .forms import FORMS, FormSpec, Problem, parse_cell
from .importer import _store_checks, current_user
from .migrate import stored_protocol
from .schema import TABLES

__all__ = ["EditResult", "delete_row", "edit_row", "parse_key"]


@dataclass(frozen=True)
class EditResult:
    """The row's key and the columns changed, ``column -> (old, new)``."""

    form: str
    key: dict[str, Any]
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def _spec(form: str) -> FormSpec:
    spec = FORMS.get(form)
    if spec is None:
        raise StoreError(f"unknown form {form!r}; forms: {', '.join(FORMS)}")
    return spec


def parse_key(form: str, key: Mapping[str, Any]) -> dict[str, Any]:
    """The form's key, every key column given and parsed.

    >>> parse_key("visits", {"subject": "P01", "visit": "day0"})
    {'subject': 'P01', 'visit': 'day0'}
    """
    spec = _spec(form)
    extra = set(key) - set(spec.key)
    missing = [k for k in spec.key if k not in key]
    if extra or missing:
        raise StoreError(
            f"form {form!r} rows are named by {', '.join(spec.key)} "
            f"(missing: {missing or 'none'}, not key columns: "
            f"{sorted(extra) or 'none'})"
        )
    out = {}
    for k in spec.key:
        value, rule = parse_cell(spec.field(k), key[k])
        if rule is not None:
            raise StoreError(f"key {k}={key[k]!r}: {rule}")
        out[k] = value
    return out


def _fetch(conn: Connection, form: str, key: Mapping[str, Any]) -> dict[str, Any]:
    """The stored row, which must be the audit trail's last state of it."""
    t = TABLES[form]
    row = (
        conn.execute(select(t).where(and_(*(t.c[k] == v for k, v in key.items()))))
        .mappings()
        .first()
    )
    if row is None:
        raise StoreError(f"no {form} row with {dict(key)}")
    values = {c: row[c] for c in FORMS[form].columns}
    problem = row_problem(conn, form, key, values)
    if problem is not None:
        raise StoreError(f"{problem}; refused, nothing was written (run `xerotrial audit verify`)")
    return values


def _named(key: Mapping[str, Any]) -> str:
    """A row's key as people write it.

    >>> _named({"subject": "P01", "visit": "day0"})
    'subject=P01 visit=day0'
    """
    return " ".join(f"{k}={jsonable(v)}" for k, v in key.items())


def _reason(reason: str | None) -> str:
    if reason is None or not reason.strip():
        raise StoreError("a correction needs a reason (--reason TEXT)")
    return reason.strip()


def edit_row(
    engine: Engine,
    form: str,
    key: Mapping[str, Any],
    changes: Mapping[str, Any],
    *,
    reason: str,
    user: str | None = None,
) -> EditResult:
    """Change columns of one row (values as text or native), validated and audited.

    Raises :class:`StoreError` (unknown form, row or column; a key column; no reason) or
    :class:`ImportRejectedError` (the new row breaks a rule).
    """
    spec = _spec(form)
    reason = _reason(reason)
    k = parse_key(form, key)
    for c in changes:
        if c not in spec.columns:
            raise StoreError(f"{form} has no column {c!r} (columns: {', '.join(spec.columns)})")
        if c in spec.key:
            raise StoreError(
                f"{c!r} is part of the key of {form}: delete the row and import "
                "the right one instead"
            )
    source = f"edit of {form} {_named(k)}"
    with write_transaction(engine) as conn:
        audit = AuditWriter(conn, user=user or current_user(), reason=reason, source=source)
        old = _fetch(conn, form, k)
        new = dict(old)
        problems: list[Problem] = []
        for c, raw in changes.items():
            value, rule = parse_cell(spec.field(c), raw)
            if rule is not None:
                problems.append(Problem(source, None, c, raw, rule))
            new[c] = value
        if not problems:
            protocol = stored_protocol(conn)
            for check in spec.row_checks:
                problems += [Problem(source, None, c, v, r) for c, v, r in check(new, protocol)]
        if not problems:
            # references only: the row's own key is in the store with its old values
            ref_spec = FormSpec(
                spec.name,
                spec.title,
                spec.fields,
                spec.key,
                spec.participant_column,
                spec.visit_columns,
                spec.refs,
            )
            _, _, ref_problems = _store_checks(conn, ref_spec, [(1, new)], source)
            problems += [p for p in ref_problems if "already holds" not in p.rule]
            problems += consistency_problems(conn, form, [(1, new)], source)
        if problems:
            problems = [dataclasses.replace(p, row=None) for p in problems]
            raise ImportRejectedError(source, problems, done="changed")
        changed = {
            c: (old[c], new[c]) for c in spec.columns if jsonable(old[c]) != jsonable(new[c])
        }
        if changed:
            t = TABLES[form]
            conn.execute(
                t.update()
                .where(and_(*(t.c[c] == v for c, v in k.items())))
                .values({c: new[c] for c in changed})
            )
            audit.log("update", form, k, old, new)
    return EditResult(form, k, changed)


def _refused_if_referred_to(conn: Connection, form: str, old: Mapping[str, Any]) -> None:
    for other in FORMS.values():
        for col, (target_form, target) in other.refs.items():
            if target_form != form or old.get(target) is None:
                continue
            t = TABLES[other.name]
            n = conn.execute(
                select(func.count()).select_from(t).where(t.c[col] == old[target])
            ).scalar()
            if n:
                raise StoreError(
                    f"cannot delete {form} row {old[target]!r}: {n} {other.name} "
                    f"row(s) refer to it in {col} (delete or edit those first)"
                )


def delete_row(
    engine: Engine, form: str, key: Mapping[str, Any], *, reason: str, user: str | None = None
) -> EditResult:
    """Delete one row, with a reason; refused while other rows refer to it.

    Returns the deleted values as ``changed`` (``column -> (old, None)``).
    """
    _spec(form)
    reason = _reason(reason)
    k = parse_key(form, key)
    try:
        with write_transaction(engine) as conn:
            audit = AuditWriter(conn, user=user or current_user(), reason=reason, source="edit")
            old = _fetch(conn, form, k)
            _refused_if_referred_to(conn, form, old)
            t = TABLES[form]
            conn.execute(t.delete().where(and_(*(t.c[c] == v for c, v in k.items()))))
            audit.log("delete", form, k, old, None)
    except IntegrityError:
        raise StoreError(
            f"cannot delete {form} row {k}: other rows refer to it (delete those first)"
        ) from None
    return EditResult(form, k, {c: (v, None) for c, v in old.items()})
