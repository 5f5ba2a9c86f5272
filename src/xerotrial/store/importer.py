"""Import a case report form file: validate every row, then write all of it or nothing.

Steps: read the file (CSV as text, or an Excel sheet); check the header against the form's
template; parse every cell (type, range, choices, unit); run the form's row checks (the
trial's validators); find keys repeated in the file. Then, in one write transaction (see
``engine.write_transaction``): check references against the store (known participant,
known visit, donor, batch) and compare each row with the row of the same key in the store.
If anything is wrong, every problem is reported (file, row, column, value, rule) and the
transaction is rolled back: the store is left exactly as it was. Otherwise new rows are
inserted, each with an audit entry.

A row identical to the stored row of its key is a no-op, so re-importing a file changes
nothing. A row that differs from the stored row of its key is a problem: corrections go
through ``xerotrial edit`` with a reason.

Rows are numbered from 1 (the first data row after the header, blank lines skipped); row 0
is the header. Every problem also names the file's line (a sheet's row for Excel), which the
strict reader (:mod:`xerotrial.tables`) records. Rules across rows and forms (dates against
study days, cells to patients only, the control matching) are :mod:`.consistency`'s.

Example
-------
>>> import tempfile, os, pandas as pd
>>> from xerotrial.store.migrate import init_store
>>> from xerotrial.store.engine import open_store
>>> db = os.path.join(tempfile.mkdtemp(), "trial.db"); _ = init_store(db)
>>> sites = pd.DataFrame({"site": ["S1"], "name": ["Rigshospitalet"], "country": ["DK"]})
>>> import_frame(open_store(db), "sites", sites, source="s.csv", user="ana")
ImportResult(form='sites', source='s.csv', inserted=1, unchanged=0)
>>> rows = pd.DataFrame({"subject": ["P01"], "site": ["S1"], "group": ["patient"],
...                      "sex": ["F"], "age_years": ["61"]})
>>> import_frame(open_store(db), "participants", rows, source="p.csv", user="ana")
ImportResult(form='participants', source='p.csv', inserted=1, unchanged=0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, insert, select

from xerotrial.trial.protocol import Protocol

from .audit import AuditWriter, jsonable
from .consistency import consistency_problems
from .engine import write_transaction
from .errors import ImportRejectedError, StoreError
from .forms import FORMS, FormSpec, Problem, parse_cell
from .migrate import stored_protocol
from .schema import TABLES, stored_rows

__all__ = [
    "ImportResult",
    "current_user",
    "import_file",
    "import_frame",
    "import_into",
    "read_table",
    "validate_rows",
]


@dataclass(frozen=True)
class ImportResult:
    """What an import did: rows inserted and rows already in the store unchanged."""

    form: str
    source: str
    inserted: int
    unchanged: int


def current_user() -> str:
    """The identity recorded for a command-line write made without an account: the
    operating-system account running it, marked local (``local:NAME``)."""
    from .accounts import Actor

    return Actor.local().audit_name


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV (all cells as text) or Excel file as a DataFrame, read strictly by
    :func:`xerotrial.tables.read_table` (``attrs["lines"]``: each row's file line).

    Raises :class:`StoreError` for a missing file, :class:`xerotrial.tables.TableError` for
    one that is not a clean table.
    """
    from xerotrial.tables import read_table as read_strict

    p = Path(path)
    if not p.is_file():
        raise StoreError(f"{p}: no such file", file=str(p))
    return read_strict(p)


def _header(spec: FormSpec, frame: pd.DataFrame, source: str) -> list[Problem]:
    """Unknown and missing columns. A file (``attrs["file"]``, set by the reader) has every
    column of its template, so that a column left out is not taken for empty values; a frame
    built in a program may leave optional columns out."""
    cols = [str(c).strip() for c in frame.columns]
    line = frame.attrs.get("header_line")
    problems = []
    for c in cols:
        if c not in spec.columns:
            problems.append(
                Problem(
                    source,
                    0,
                    c,
                    None,
                    f"not a column of form {spec.name!r} (its template: {', '.join(spec.columns)})",
                    line=line,
                )
            )
    from_file = frame.attrs.get("file") is not None
    for f in spec.fields:
        if f.name not in cols and (f.required or from_file):
            rule = (
                "required column missing"
                if f.required
                else "optional column missing: write it, empty where unknown (every column "
                f"of the template is needed: `xerotrial template {spec.name}`)"
            )
            problems.append(Problem(source, 0, f.name, None, rule, line=line))
    return problems


def validate_rows(
    spec: FormSpec, frame: pd.DataFrame, source: str, protocol: Protocol
) -> tuple[list[tuple[int, dict[str, Any]]], list[Problem]]:
    """Parse and check every row without the store: ``([(row, values)], problems)``.

    Fully blank rows are skipped. Row checks run on rows whose cells all parsed.
    """
    frame = frame.rename(columns=lambda c: str(c).strip())
    problems = _header(spec, frame, source)
    if problems:
        return [], problems
    rows: list[tuple[int, dict[str, Any]]] = []
    seen: dict[tuple, int] = {}
    records = frame.to_dict("records")
    lines = file_lines(frame)
    for i, rec in enumerate(records, start=1):
        line = lines.get(i)
        if all(
            v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and v != v)
            for v in rec.values()
        ):
            continue
        values: dict[str, Any] = {}
        bad = False
        for f in spec.fields:
            raw = rec.get(f.name)
            value, rule = parse_cell(f, raw)
            if rule is not None:
                problems.append(Problem(source, i, f.name, raw, rule, line=line))
                bad = True
            values[f.name] = value
        if bad:
            continue
        for check in spec.row_checks:
            for column, value, rule in check(values, protocol):
                problems.append(Problem(source, i, column, value, rule, line=line))
                bad = True
        key = tuple(values[k] for k in spec.key)
        if key in seen:
            problems.append(
                Problem(
                    source,
                    i,
                    spec.key[-1],
                    values[spec.key[-1]],
                    f"duplicate: row {seen[key]}"
                    + (f" (line {lines[seen[key]]})" if seen[key] in lines else "")
                    + f" has the same {', '.join(spec.key)}",
                    line=line,
                )
            )
            continue
        seen[key] = i
        if not bad:
            rows.append((i, values))
    return rows, problems


def file_lines(frame: pd.DataFrame) -> dict[int, int]:
    """Data row (1-based) -> file line, from ``attrs["lines"]`` (empty for an in-memory frame).

    >>> f = pd.DataFrame({"a": [1, 2]}); f.attrs["lines"] = [2, 5]
    >>> file_lines(f)
    {1: 2, 2: 5}
    """
    return {i: n for i, n in enumerate(frame.attrs.get("lines") or [], start=1)}


def _column_set(conn: Connection, form: str, *cols: str) -> set:
    t = TABLES[form]
    return {
        tuple(r) if len(cols) > 1 else r[0] for r in conn.execute(select(*(t.c[c] for c in cols)))
    }


def _store_checks(
    conn: Connection,
    spec: FormSpec,
    rows: list[tuple[int, dict[str, Any]]],
    source: str,
    lines: Mapping[int, int] | None = None,
) -> tuple[list[dict[str, Any]], int, list[Problem]]:
    """References and existing keys, read under the write lock."""
    problems: list[Problem] = []
    lines = lines or {}

    def problem(i: int, column: str, value: Any, rule: str) -> None:
        problems.append(Problem(source, i, column, value, rule, line=lines.get(i)))

    participants: set | None = None
    if spec.participant_column or spec.name == "participants":
        participants = _column_set(conn, "participants", "subject")
    visits = _column_set(conn, "visits", "subject", "visit") if spec.visit_columns else None
    refs: dict[str, set] = {}
    for col, (form, target) in spec.refs.items():
        refs[col] = _column_set(conn, form, target)
        if form == spec.name:
            refs[col] |= {v[target] for _, v in rows}
    stored = stored_rows(conn, spec.name)
    new: list[dict[str, Any]] = []
    unchanged = 0
    for i, values in rows:
        pc = spec.participant_column
        if pc and values.get(pc) is not None and values[pc] not in participants:
            problem(i, pc, values[pc], "unknown participant (import the participants form first)")
        if visits is not None:
            sv = tuple(values[c] for c in spec.visit_columns)
            if values[spec.visit_columns[0]] in participants and sv not in visits:
                problem(
                    i,
                    spec.visit_columns[1],
                    sv[1],
                    f"unknown visit of {sv[0]} (import the visits form first)",
                )
        for col, (form, _target) in spec.refs.items():
            v = values.get(col)
            if v is not None and v not in refs[col]:
                problem(i, col, v, f"unknown in the {form} form")
        key = tuple(values[k] for k in spec.key)
        old = stored.get(key)
        if old is None:
            new.append(values)
            continue
        diff = [c for c in spec.columns if jsonable(old[c]) != jsonable(values[c])]
        if not diff:
            unchanged += 1
            continue
        for c in diff:
            problem(
                i,
                c,
                values[c],
                f"the store already holds {old[c]!r} for this {', '.join(spec.key)}; correct "
                "it with `xerotrial edit` and a reason",
            )
    return new, unchanged, problems


def import_into(
    conn: Connection,
    form: str,
    frame: pd.DataFrame,
    *,
    source: str,
    audit: AuditWriter,
    protocol: Protocol,
) -> tuple[ImportResult, list[Problem]]:
    """Validate and insert inside an open write transaction (used by :func:`import_frame`
    and the REDCap import). Writes nothing when there are problems; the caller rolls back."""
    spec = FORMS[form]
    rows, problems = validate_rows(spec, frame, source, protocol)
    lines = file_lines(frame)
    new, unchanged, store_problems = _store_checks(conn, spec, rows, source, lines)
    problems += store_problems
    problems += consistency_problems(conn, form, rows, source, lines)
    if not problems and new:
        conn.execute(insert(TABLES[form]), new)
        for values in new:
            audit.log(
                "insert",
                form,
                {k: values[k] for k in spec.key},
                None,
                {c: values[c] for c in spec.columns},
            )
    problems.sort(key=lambda p: p.row)
    return ImportResult(form, source, len(new) if not problems else 0, unchanged), problems


def import_frame(
    engine: Engine,
    form: str,
    frame: pd.DataFrame,
    *,
    source: str = "data",
    user: str | None = None,
    reason: str | None = None,
) -> ImportResult:
    """Validate ``frame`` as form ``form`` and insert its new rows, all or nothing.

    Raises :class:`ImportRejectedError` listing every problem (nothing written), or
    :class:`StoreError` for an unknown form.
    """
    if form not in FORMS:
        raise StoreError(f"unknown form {form!r}; forms: {', '.join(FORMS)}")
    with write_transaction(engine) as conn:
        audit = AuditWriter(
            conn, user=user or current_user(), reason=reason or f"import of {source}", source=source
        )
        result, problems = import_into(
            conn, form, frame, source=source, audit=audit, protocol=stored_protocol(conn)
        )
        if problems:
            raise ImportRejectedError(source, problems)
    return result


def import_file(
    engine: Engine,
    form: str,
    path: str | Path,
    *,
    user: str | None = None,
    reason: str | None = None,
) -> ImportResult:
    """Import a CSV or Excel file of form ``form`` (see :func:`import_frame`)."""
    if form not in FORMS:
        raise StoreError(f"unknown form {form!r}; forms: {', '.join(FORMS)}")
    return import_frame(engine, form, read_table(path), source=str(path), user=user, reason=reason)
