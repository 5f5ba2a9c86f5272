"""Import form rows into a study store: validate every row by the definition, then write all
of it or nothing.

A source (a REDCap records export, :mod:`.redcap_records`; later the web forms) reads its file
into :class:`FormRow` objects — one per form, subject, visit and repeat instance, with the
raw text of each field and the file line it came from — and :class:`SubjectRow` objects (site
and arm). :func:`import_rows` checks them against the definition:

- the subject's site is a declared site (when the definition declares sites) and its arm a
  declared arm; a subject keeps one site and one arm;
- the form is due at the visit (``schedule.due``), the visit is one of the subject's arm, a
  repeat instance above 1 is of a repeating form, no row is given twice;
- every value parses by its field (:mod:`.study_values`); a required field is blank only in a
  form not marked complete (then it is a warning); a soft limit, a value that branching
  logic hides, or a warning-level check is a warning; an error-level check is an error;
- a calculated field agrees with its calculation (a blank one is filled in, with a warning).

Then, in one write transaction, each row is compared with the stored row of its key: the
same row changes nothing, a different one is a problem (corrections are edits, with a reason),
a new one is inserted with its audit entry. Any problem rejects the whole import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from xerotrial.errors import Problem
from xerotrial.study.expressions import Expression, ExpressionError
from xerotrial.study.expressions import parse_expression as _parse
from xerotrial.study.model import Field, Form, StudyDefinition, Visit

from .audit import AuditWriter, jsonable
from .engine import write_transaction
from .errors import ImportRejectedError
from .lock import refuse_if_locked
from .randomization_schema import blinding_state
from .study_schema import SUBJECTS, data_fields, study_tables, subject_column
from .study_values import parse_value, soft_problem

__all__ = ["FormRow", "StudyImportResult", "SubjectRow", "import_rows", "validate_rows"]


@dataclass
class SubjectRow:
    """A subject as a source gives it: its site (REDCap data access group) and arm."""

    subject: str
    site: str | None = None
    arm: str | None = None
    line: int | None = None


@dataclass
class FormRow:
    """One form of one subject at one visit and repeat instance, as raw text by field."""

    form: str
    subject: str
    visit: str = ""
    instance: int = 1
    status: int | None = None
    values: dict[str, Any] = field(default_factory=dict)
    line: int | None = None
    columns: Mapping[str, str] = field(default_factory=dict)  # field -> the file's column
    #: form entry: calculated fields are computed here, whatever ``values`` holds for them
    computed: bool = False


@dataclass(frozen=True)
class StudyImportResult:
    """What an import did: rows inserted and unchanged, subjects added, warnings."""

    source: str
    inserted: int
    unchanged: int
    subjects: int
    warnings: tuple[str, ...] = ()


@dataclass
class _Checked:
    rows: list[tuple[FormRow, dict[str, Any]]]
    problems: list[Problem]
    warnings: list[str]


@lru_cache(maxsize=4096)
def parse_expression(text: str) -> Expression:
    """A checked definition's expression, parsed once (it parsed when the definition was)."""
    return _parse(text)


def _at(source: str, row: FormRow) -> str:
    return source if row.line is None else f"{source}: line {row.line}"


def _problem(source: str, row: FormRow | SubjectRow, column: str | None, value: Any, rule: str):
    return Problem(source, None, column, value, rule, line=row.line)


def _calc(f: Field, parsed: Mapping[str, Any]) -> tuple[float | None, str | None]:
    try:
        value = parse_expression(f.calc or "").evaluate(parsed)
    except ExpressionError as exc:
        return None, str(exc)
    if value is None or isinstance(value, bool):
        return None, None
    value = float(value)
    if not math.isfinite(value):
        return None, None
    if f.precision is not None:
        value = round(value, f.precision)
    return value, None


def _expr_value(f: Field, value: Any) -> Any:
    """A parsed value as the expression language reads it (a checkbox: its list of codes)."""
    if f.type == "checkbox":
        return value.split(",") if value else None
    return value


def _check_form_row(
    study: StudyDefinition, form: Form, row: FormRow, source: str, out: _Checked
) -> None:
    where = f"{form.name} of {row.subject}" + (f" at {row.visit}" if row.visit else "")
    fields = data_fields(study, form)
    parsed: dict[str, Any] = {}
    for f in fields:
        value, rule = parse_value(f, row.values.get(f.name))
        col = row.columns.get(f.name, f.name)
        if rule is not None:
            out.problems.append(_problem(source, row, col, row.values.get(f.name), rule))
            continue
        parsed[f.name] = value
        soft = soft_problem(f, value)
        if soft is not None:
            out.warnings.append(f"{_at(source, row)}: {col}: {soft} ({where})")
    if row.status is not None and row.status not in (0, 1, 2):
        out.problems.append(
            _problem(source, row, f"{form.name}_complete", row.status, "must be 0, 1 or 2")
        )
    context = {f.name: _expr_value(f, parsed.get(f.name)) for f in fields}
    for f in fields:
        if f.name not in parsed:
            continue
        col = row.columns.get(f.name, f.name)
        if f.type == "calculated" and f.calc:
            want, err = _calc(f, context)
            if err is not None:
                out.problems.append(_problem(source, row, col, f.calc, f"calculation: {err}"))
            elif row.computed:
                parsed[f.name] = want
            elif parsed[f.name] is None and want is not None:
                parsed[f.name] = want
                out.warnings.append(
                    f"{_at(source, row)}: {col}: blank; its calculation gives "
                    f"{want:g}, stored ({where})"
                )
            elif parsed[f.name] is not None and (
                want is None or abs(parsed[f.name] - want) > 1e-9 * max(1.0, abs(want))
            ):
                got = "nothing" if want is None else f"{want:g}"
                out.problems.append(
                    _problem(
                        source,
                        row,
                        col,
                        row.values.get(f.name),
                        f"its calculation {f.calc!r} gives {got}",
                    )
                )
        shown = None
        if f.show_if:
            try:
                shown = parse_expression(f.show_if).evaluate(context)
            except ExpressionError:
                shown = None
        if shown is False and parsed[f.name] is not None:
            out.warnings.append(
                f"{_at(source, row)}: {col}: has a value though its branching "
                f"logic {f.show_if!r} hides it ({where})"
            )
        if f.required and parsed[f.name] is None and shown is not False:  # REDCap: asked only
            if row.status in (0, 1):
                out.warnings.append(
                    f"{_at(source, row)}: {col}: required but blank in a form not "
                    f"marked complete ({where})"
                )
            else:
                rule = "required, must not be empty" + (
                    " (the form is marked complete)" if row.status == 2 else ""
                )
                out.problems.append(_problem(source, row, col, "", rule))
    for check in form.checks:
        try:
            ok = parse_expression(check.expr).evaluate(context)
        except ExpressionError as exc:
            ok, note = False, f" ({exc})"
        else:
            note = ""
        if ok is False:
            text = f"{check.message or check.expr}{note}"
            if check.level == "warning":
                out.warnings.append(f"{_at(source, row)}: {text} ({where})")
            else:
                out.problems.append(_problem(source, row, None, None, f"check failed: {text}"))
    out.rows.append((row, parsed))


def _placement_problem(
    study: StudyDefinition,
    row: FormRow,
    forms: Mapping[str, Form],
    visits: Mapping[str, Visit],
    subject_arm: Mapping[str, str | None],
    earlier: tuple[int | None] | None,
) -> tuple[str | None, Any, str] | None:
    """``(column, value, rule)`` of the first schedule rule a row breaks, or None: a known form,
    given once (``earlier``: the line of an earlier row of its key, None when none), a known
    visit (none in a study without visits), due at its visit, a visit of the subject's arm, an
    instance above 1 only for a repeating form."""
    due = study.schedule.due
    if row.form not in forms:
        return None, row.form, "unknown form"
    if earlier is not None:
        where = f"{row.form} of {row.subject} at {row.visit or '-'} instance {row.instance}"
        return None, row.form, f"{where} is given twice (first at line {earlier[0]})"
    if visits and row.visit not in visits:
        return "visit", row.visit, "unknown visit"
    if not visits and row.visit:
        return "visit", row.visit, "the study has no visits"
    if row.visit and row.form in due and row.visit not in due[row.form]:
        at = ", ".join(due[row.form]) or "no visit"
        return None, row.form, f"form {row.form} is not due at visit {row.visit} (due at {at})"
    arm = subject_arm.get(row.subject)
    in_arm = not row.visit or not visits[row.visit].arms or arm in visits[row.visit].arms
    if arm is not None and not in_arm:
        return "visit", row.visit, f"visit {row.visit} is not in {arm}"
    if row.instance < 1:
        return "instance", row.instance, "must be >= 1"
    if row.instance != 1 and row.form not in study.schedule.repeating:
        return "instance", row.instance, f"form {row.form} does not repeat (schedule.repeating)"
    return None


def validate_rows(
    study: StudyDefinition,
    subjects: Sequence[SubjectRow],
    rows: Sequence[FormRow],
    source: str,
) -> _Checked:
    """Check rows against the definition alone (not the store); every problem is listed."""
    out = _Checked([], [], [])
    sites = {s.code for s in study.study.sites}
    arms = {a.name for a in study.allocation.arms}
    visits = {v.name: v for v in study.visits}
    forms = {f.name: f for f in study.forms}
    subject_arm: dict[str, str | None] = {}
    for s in subjects:
        if not s.subject.strip():
            out.problems.append(_problem(source, s, subject_column(study), "", "a subject id"))
        if s.site is not None and sites and s.site not in sites:
            out.problems.append(
                _problem(
                    source,
                    s,
                    "site",
                    s.site,
                    f"not a site of the definition ({', '.join(sorted(sites))})",
                )
            )
        if s.arm is not None and s.arm not in arms:
            known = ", ".join(sorted(arms)) or "none: the study has one arm"
            out.problems.append(_problem(source, s, "arm", s.arm, f"unknown arm ({known})"))
        subject_arm[s.subject] = s.arm
    seen: dict[tuple, tuple[int | None]] = {}
    for row in rows:
        key = (row.form, row.subject, row.visit, row.instance)
        broken = _placement_problem(study, row, forms, visits, subject_arm, seen.get(key))
        if broken is not None:
            out.problems.append(_problem(source, row, *broken))
            continue
        seen[key] = (row.line,)
        _check_form_row(study, forms[row.form], row, source, out)
    return out


def _stored_subjects(conn: Connection, study: StudyDefinition) -> dict[str, dict]:
    t = study_tables(study)[SUBJECTS]
    subject = subject_column(study)
    return {r[subject]: dict(r) for r in conn.execute(select(t)).mappings()}


def import_rows(
    engine: Engine,
    study: StudyDefinition,
    subjects: Sequence[SubjectRow],
    rows: Sequence[FormRow],
    *,
    source: str,
    user: str,
    reason: str | None = None,
) -> StudyImportResult:
    """Validate and import; raises :class:`ImportRejectedError` with every problem (and then
    nothing is written)."""
    with engine.connect() as conn:  # the stored subjects' arms, for the schedule's rules
        given = {s.subject for s in subjects}
        known = [
            SubjectRow(k, v["site"], v["arm"])
            for k, v in _stored_subjects(conn, study).items()
            if k not in given
        ]
    checked = validate_rows(study, [*subjects, *known], rows, source)
    everyone = given | {s.subject for s in known}
    for row in rows:
        if row.subject not in everyone:
            checked.problems.append(
                _problem(
                    source,
                    row,
                    subject_column(study),
                    row.subject,
                    "unknown subject (import the subjects first)",
                )
            )
    if checked.problems:
        raise ImportRejectedError(source, checked.problems)
    tables = study_tables(study)
    subject = subject_column(study)
    problems: list[Problem] = []
    inserted = unchanged = 0
    with write_transaction(engine) as conn:
        writer = AuditWriter(conn, user=user, reason=reason or f"import of {source}", source=source)
        refuse_if_locked(conn)
        stored = _stored_subjects(conn, study)
        blinded = blinding_state(conn) == "blinded"
        new_subjects = []
        for s in subjects:
            if blinded and s.arm is not None:
                problems.append(
                    _problem(source, s, "arm", s.arm, "the study is blinded: its arms come "
                             "from the concealed list (randomize allocate), not from a file")
                )  # fmt: skip
                continue
            have = stored.get(s.subject)
            new = {subject: s.subject, "site": s.site, "arm": s.arm, "def_version": study.version}
            if have is None:
                new_subjects.append(new)
                stored[s.subject] = new
                continue
            for col in ("site", "arm"):
                if have[col] != getattr(s, col):
                    problems.append(
                        _problem(
                            source,
                            s,
                            col,
                            getattr(s, col),
                            f"subject {s.subject} is stored with {col} {have[col]!r}",
                        )
                    )
        if new_subjects:
            conn.execute(insert(tables[SUBJECTS]), new_subjects)
            writer.log_many(
                [("insert", SUBJECTS, {subject: n[subject]}, None, n) for n in new_subjects]
            )
        by_form: dict[str, list[tuple[FormRow, dict[str, Any]]]] = {}
        for row, parsed in checked.rows:
            by_form.setdefault(row.form, []).append((row, parsed))
        for form, items in by_form.items():
            t = tables[form]
            have_rows = {
                (r[subject], r["visit"], r["instance"]): r
                for r in conn.execute(select(t)).mappings()
            }
            new_rows, changes = [], []
            for row, parsed in items:
                key = {subject: row.subject, "visit": row.visit, "instance": row.instance}
                values = {**key, "form_status": row.status, "def_version": study.version}
                values.update(parsed)
                have_row = have_rows.get((row.subject, row.visit, row.instance))
                if have_row is None:
                    new_rows.append(values)
                    audited = {c: jsonable(v) for c, v in values.items()}
                    changes.append(("insert", form, key, None, audited))
                    continue
                differ = [
                    c
                    for c in values
                    if c != "def_version" and jsonable(have_row[c]) != jsonable(values[c])
                ]
                if not differ:
                    unchanged += 1
                    continue
                problems.append(
                    _problem(
                        source,
                        row,
                        row.columns.get(differ[0], differ[0]),
                        values[differ[0]],
                        f"{form} of {row.subject} at {row.visit or '-'} is stored with other "
                        f"values ({', '.join(differ)}): correct it with an edit",
                    )
                )
            if new_rows and not problems:
                conn.execute(insert(t), new_rows)
                writer.log_many(changes)
            inserted += len(new_rows)
        if problems:
            raise ImportRejectedError(source, problems)  # rolls the transaction back
    return StudyImportResult(
        source, inserted, unchanged, len(new_subjects), tuple(checked.warnings)
    )
