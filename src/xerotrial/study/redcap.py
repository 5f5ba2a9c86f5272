"""A study definition as a REDCap data dictionary (the 18 standard columns), and back.

Field types: integer and decimal are ``text`` with validation ``integer`` or ``number``
(``number_1dp`` ... ``number_4dp`` with a precision of 1 to 4), dates ``date_ymd``, date-times
``datetime_ymd``; choice is ``radio``, checkbox ``checkbox``, yesno ``yesno``, calculated
``calc``. Choices are written ``1, label | 2, label``. REDCap's min/max warn unless the action
tag ``@FORCE-MINMAX`` makes them reject, so hard limits are min/max with ``@FORCE-MINMAX``;
soft limits are min/max without it (or ``soft_lo=``/``soft_hi=`` in the annotation when there
are hard limits too). The SDTM annotation is ``sdtm=DOMAIN.VAR`` in the Field Annotation
(the SAS transport name ``xpt=NAME``), the unit the Field Note. Branching and calculations
are written in REDCap's syntax (``[field]``, ``=``, ``<>``, ``datediff``). What a dictionary
cannot hold (cross-field checks, keys, visits, the schedule, allocation, repeating forms) is
listed by :func:`untranslated`; the visits and schedule are REDCap's instrument-event mapping
(:func:`to_event_mapping`).

A field may keep REDCap facts in ``Field.redcap`` (read by :mod:`.from_redcap`): the field
type when it is not the default of the type (``dropdown``, ``notes``, ``truefalse``,
``slider``, ``file``, ``sql``), a display-only validation (``date_dmy``, a comma decimal),
section header, identifier, alignment, question number, matrix group and ranking, other action
tags (``annotation``), and the exact text of a cell whose translation reads back otherwise
(``choices``, ``branching``, ``calculation``, ``min``, ``max``). Each is written as kept
only while it still agrees with the field (a kept branching only while it translates to the
field's ``show_if``), so an edited definition never exports a stale cell. The CSV is quoted
as REDCap writes it (PHP's ``fputcsv``: a cell with a space, comma, quote or line break).

>>> from xerotrial.study.expressions import parse_expression
>>> to_redcap_logic(parse_expression("grade >= 3 and not (serious or blank(criteria))"))
"[grade] >= 3 and ([serious] = '0' and [criteria] <> '')"
>>> from_redcap_logic('datediff([onset], [stop], "d", true) > 0 and [x] <> \\'\\'')
'days(onset, stop) > 0 and not blank(x)'
>>> from_redcap_logic("[sx(2)] = '1' or [sx(3)] = '0'")
"ticked(sx, '2') or not ticked(sx, '3')"
"""

from __future__ import annotations

import ast
import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ..errors import Problem
from .expressions import Expression, parse_expression
from .model import Field, Form, StudyDefinition
from .validation import VALIDATIONS

__all__ = [
    "COLUMNS",
    "checkbox_column",
    "EVENT_COLUMNS",
    "forms_from_redcap",
    "from_redcap_logic",
    "read_dictionary",
    "record_columns",
    "to_redcap",
    "to_event_mapping",
    "to_redcap_logic",
    "untranslated",
    "write_dictionary",
    "write_event_mapping",
]

#: The 18 columns of a REDCap data dictionary, in REDCap's order.
COLUMNS: tuple[str, ...] = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
#: The columns of REDCap's instrument-event mapping CSV.
EVENT_COLUMNS: tuple[str, ...] = ("arm_num", "unique_event_name", "form")
#: The REDCap field type of each field type (``Field.redcap["field_type"]`` may say another).
FIELD_TYPE_OF: dict[str, str] = {
    "choice": "radio",
    "checkbox": "checkbox",
    "yesno": "yesno",
    "calculated": "calc",
    "descriptive": "descriptive",
}
_FORCE = "@FORCE-MINMAX"
_FLIP = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_REDCAP_OP = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_AST_OP = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _const(v: Any) -> str:
    if isinstance(v, bool):
        return "'1'" if v else "'0'"
    if isinstance(v, str):
        return "'" + v.replace("'", "\\'") + "'"
    return _num(v) if isinstance(v, float) else str(v)


def _logic(node: ast.expr, negate: bool = False, top: bool = True) -> str:
    """REDCap logic of a checked expression node (``negate``: of its negation)."""
    if isinstance(node, ast.BoolOp):
        is_and = isinstance(node.op, ast.And) != negate
        parts = [_logic(v, negate, top=False) for v in node.values]
        text = f" {'and' if is_and else 'or'} ".join(parts)
        return text if top else f"({text})"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _logic(node.operand, not negate, top)
    if isinstance(node, ast.Compare):
        pieces = []
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                inside = isinstance(op, ast.In) != negate
                values = [e.value for e in right.elts]  # type: ignore[attr-defined]
                eq = "=" if inside else "<>"
                join = " or " if inside else " and "
                alts = join.join(f"{_value(left)} {eq} {_const(v)}" for v in values)
                wrap = len(values) > 1 and (len(node.ops) > 1 or not top)
                pieces.append(f"({alts})" if wrap else alts)
            else:
                o = _AST_OP[type(op)]
                o = _FLIP[o] if negate else o
                pieces.append(f"{_value(left)} {_REDCAP_OP[o]} {_value(right)}")
            left = right
        joined = (" or " if negate else " and ").join(pieces)
        return joined if len(pieces) == 1 or top else f"({joined})"
    if isinstance(node, ast.Call) and node.func.id == "blank":  # type: ignore[attr-defined]
        return f"{_value(node.args[0])} {'<>' if negate else '='} ''"
    if isinstance(node, ast.Call) and node.func.id == "ticked":  # type: ignore[attr-defined]
        box, code = node.args
        return f"[{box.id}({code.value})] = '{0 if negate else 1}'"  # type: ignore[attr-defined]
    if isinstance(node, ast.Name | ast.Constant) and not negate:
        return f"{_value(node)} = '1'" if isinstance(node, ast.Name) else _const(node.value)
    if isinstance(node, ast.Name):
        return f"{_value(node)} = '0'"
    text = _value(node)
    return f"not({text})" if negate else text


def _value(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return _const(node.id == "True") if node.id in ("True", "False") else f"[{node.id}]"
    if isinstance(node, ast.Constant):
        return _const(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return f"-{_value(node.operand)}"
    if isinstance(node, ast.BinOp):
        return f"({_value(node.left)} {_ARITH[type(node.op)]} {_value(node.right)})"
    if isinstance(node, ast.Call):
        name = node.func.id  # type: ignore[attr-defined]
        if name == "days":
            a, b = (_value(x) for x in node.args)
            return f'datediff({a}, {b}, "d", true)'
        return f"({_logic(node, top=False)})"
    return f"({_logic(node, top=False)})"


def to_redcap_logic(expr: Expression, calc: bool = False) -> str:
    """``expr`` in REDCap's syntax: fields in brackets, ``=``/``<>``, ``not`` pushed into the
    comparisons, a yes/no field ``[f] = '1'``; ``calc``: a calculation (a value, not a
    condition)."""
    if not calc:
        return _logic(expr.tree)
    text = _value(expr.tree)
    return text[1:-1] if isinstance(expr.tree, ast.BinOp) else text


def from_redcap_logic(text: str) -> str:
    """REDCap logic as an expression of :mod:`.expressions` (the inverse of
    :func:`to_redcap_logic` for what it writes)."""
    out = re.sub(
        r'datediff\(\s*\[(\w+)\]\s*,\s*\[(\w+)\]\s*,\s*"d"\s*(?:,\s*true\s*)?\)',
        r"days(\1, \2)",
        text,
    )
    box = r"\[(\w+)\((-?\w+)\)\]\s*"
    out = re.sub(box + r"(?:=\s*(['\"])1\3|<>\s*(['\"])0\4)", r"ticked(\1, '\2')", out)
    out = re.sub(box + r"(?:=\s*(['\"])0\3|<>\s*(['\"])1\4)", r"not ticked(\1, '\2')", out)
    out = re.sub(r"\[(\w+)\]\s*<>\s*''", r"not blank(\1)", out)
    out = re.sub(r"\[(\w+)\]\s*=\s*''", r"blank(\1)", out)
    out = out.replace("<>", "!=")
    out = re.sub(r"(?<![<>!=])=(?!=)", "==", out)
    out = re.sub(r"\[(\w+)\]", r"\1", out)
    return re.sub(r"\bnot\(", "not (", out)


def _validation(f: Field) -> str:
    if f.type == "integer":
        return "integer"
    if f.type == "decimal":
        return f"number_{f.precision}dp" if f.precision in (1, 2, 3, 4) else "number"
    if f.type == "text":
        return f.validation or ""
    return {"date": "date_ymd", "datetime": "datetime_ymd"}.get(f.type, "")


def parse_choices(text: str) -> dict[str, str] | None:
    """REDCap's ``1, label | 2, label`` as codes and labels; None if a part has no comma,
    an empty code or a code given twice.

    >>> parse_choices("1, Yes, really | 0, No")
    {'1': 'Yes, really', '0': 'No'}
    """
    out: dict[str, str] = {}
    for part in text.split("|"):
        code, comma, label = part.strip().partition(",")
        code = code.strip()
        if not comma or not code or code in out:
            return None
        out[code] = label.strip()
    return out


def annotation_parts(f: Field, validation: str) -> list[str]:
    """The notes :func:`to_redcap` writes in the Field Annotation, before any kept text."""
    notes = []
    kept = f.redcap.get("annotation", "")
    if f.redcap.get("field_type") != "slider" and (f.lo is not None or f.hi is not None):
        if _FORCE not in kept.split():
            notes.append(_FORCE)
        notes += [
            f"{k}={_num(v)}"
            for k, v in (("soft_lo", f.soft_lo), ("soft_hi", f.soft_hi))
            if v is not None
        ]
    if f.precision is not None and validation == "number":
        notes.append(f"precision={f.precision}")
    if f.sdtm:
        notes.append(f"sdtm={f.sdtm}")
    if f.xpt:
        notes.append(f"xpt={f.xpt}")
    return notes


def _kept(f: Field, key: str, ok: bool = True) -> str | None:
    v = f.redcap.get(key)
    return v if v is not None and ok else None


def _same_number(text: str, x: float | None) -> bool:
    try:
        return x is not None and float(text.replace(",", ".", text.count(",") == 1)) == x
    except ValueError:
        return False


def _row(form: Form, f: Field) -> dict[str, str]:
    from .from_redcap import translate_logic

    r = f.redcap
    ftype = r.get("field_type") or FIELD_TYPE_OF.get(f.type, "text")
    row = dict.fromkeys(COLUMNS, "")
    row["Variable / Field Name"] = f.name
    row["Form Name"] = form.name
    row["Section Header"] = r.get("section_header", "")
    row["Field Type"] = ftype
    row["Field Label"] = f.label if f.type == "descriptive" else (f.label or f.name)
    row["Field Note"] = f.unit
    validation = _validation(f)
    kept_v = VALIDATIONS.get(r.get("validation", ""))
    if ftype in ("slider", "file", "sql", "notes"):
        validation = r.get("validation", "")
    elif kept_v is not None and kept_v.type == f.type and kept_v.precision == f.precision:
        validation = kept_v.name
    row["Text Validation Type OR Show Slider Number"] = validation
    spec = ""
    if f.choices:
        spec = " | ".join(f"{c}, {label}" for c, label in f.choices.items())
        raw = _kept(f, "choices")
        spec = raw if raw is not None and parse_choices(raw) == dict(f.choices) else spec
    elif f.type == "calculated":
        spec = to_redcap_logic(parse_expression(f.calc), calc=True) if f.calc else ""
        raw = _kept(f, "calculation")
        if raw is not None and (f.calc is None or translate_logic(raw, form) == f.calc):
            spec = raw
    elif ftype == "slider":
        spec = r.get("slider_labels", "")
    else:
        spec = r.get("choices", "")
    row["Choices, Calculations, OR Slider Labels"] = spec
    if ftype == "slider":  # REDCap's slider runs from 0 to 100 unless min or max say
        lo, hi = (None if f.lo == 0 else f.lo), (None if f.hi == 100 else f.hi)
    elif f.lo is not None or f.hi is not None:
        lo, hi = f.lo, f.hi
    else:
        lo, hi = f.soft_lo, f.soft_hi
    for col, key, x in (("Text Validation Min", "min", lo), ("Text Validation Max", "max", hi)):
        raw = r.get(key)
        ref = (f.lo if key == "min" else f.hi) if ftype == "slider" else x
        if f.numeric and raw is not None and _same_number(raw, ref):
            row[col] = raw
        elif f.numeric or ftype == "slider":
            row[col] = "" if x is None else _num(x)
        else:
            row[col] = raw or ""
    row["Identifier?"] = r.get("identifier", "")
    branching = to_redcap_logic(parse_expression(f.show_if)) if f.show_if else ""
    raw = _kept(f, "branching")
    if raw is not None and (f.show_if is None or translate_logic(raw, form) == f.show_if):
        branching = raw
    row["Branching Logic (Show field only if...)"] = branching
    row["Required Field?"] = "y" if f.required else ""
    row["Custom Alignment"] = r.get("alignment", "")
    row["Question Number (surveys only)"] = r.get("question_number", "")
    row["Matrix Group Name"] = r.get("matrix_group", "")
    row["Matrix Ranking?"] = r.get("matrix_ranking", "")
    notes = annotation_parts(f, validation)
    kept = r.get("annotation", "")
    row["Field Annotation"] = " ".join([*notes, kept] if kept else notes)
    return row


def to_redcap(study: StudyDefinition) -> list[dict[str, str]]:
    """The data dictionary's rows: one per field, forms in order."""
    return [_row(form, f) for form in study.forms for f in form.fields]


def untranslated(study: StudyDefinition) -> list[str]:
    """What the definition holds that a REDCap data dictionary cannot (one line each)."""
    out = [
        f"form {form.name}: check {c.expr!r} ({c.level}): REDCap data quality rules are not "
        "part of a dictionary"
        for form in study.forms
        for c in form.checks
    ]
    out += [f"form {form.name}: key {list(form.key)}" for form in study.forms if form.key]
    seen: dict[str, list[str]] = {}
    for form in study.forms:
        for f in form.fields:
            seen.setdefault(f.name, []).append(form.name)
    out += [
        f"field {name} is in {len(forms)} forms ({', '.join(forms)}): a REDCap variable "
        "name is unique across the project"
        for name, forms in seen.items()
        if len(forms) > 1
    ]
    if study.visits:
        out.append(
            f"{len(study.visits)} visits and the schedule (REDCap events and the "
            "instrument-event mapping: study export --events MAPPING.csv)"
        )
    days = [v.name for v in study.visits if v.day is not None]
    if days:
        out.append(f"the target days and windows of visits {', '.join(days)}")
    if study.schedule.repeating:
        out.append(f"repeating forms {list(study.schedule.repeating)} (REDCap project setting)")
    if study.allocation.arms:
        out.append("the arms and allocation (REDCap arms and randomization module)")
    if study.derivations:
        out.append(f"{len(study.derivations)} derivations (analysis parameters; not REDCap's)")
    if study.analysis is not None:
        out.append(f"the analysis plan ({len(study.analysis.endpoints)} endpoints)")
    return out


_QUOTE = re.compile(r'[ ,"\n\r\t\\]')


def _cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if _QUOTE.search(text) else text


def write_dictionary(rows: Iterable[Mapping[str, str]]) -> str:
    """The rows as REDCap's CSV (header of the 18 columns), quoted as REDCap quotes them.

    >>> write_dictionary([])
    '"Variable / Field Name","Form Name",...,Identifier?,...,"Field Annotation"\\n'
    """
    lines = [list(COLUMNS), *([r[c] for c in COLUMNS] for r in rows)]
    return "".join(",".join(_cell(c) for c in line) + "\n" for line in lines)


def to_event_mapping(study: StudyDefinition) -> list[tuple[int, str, str]]:
    """REDCap's instrument-event mapping of the visits and schedule: ``(arm_num,
    unique_event_name, form)`` by arm, visit and form (the arms of the allocation are arms 1,
    2, ...; a visit is in every arm unless ``Visit.arms`` says which; no arms: arm 1).

    >>> from xerotrial.study import SEED_STUDY, load_study
    >>> to_event_mapping(load_study(SEED_STUDY))[0]
    (1, 'day0_arm_1', 'sialometry')
    """
    arms = [a.name for a in study.allocation.arms] or [""]
    out = []
    for n, arm in enumerate(arms, start=1):
        for v in study.visits:
            if v.arms and arm not in v.arms:
                continue
            for form in study.forms:
                if v.name in study.schedule.due.get(form.name, ()):
                    out.append((n, f"{v.name}_arm_{n}", form.name))
    return out


def checkbox_column(field: str, code: str) -> str:
    """REDCap's export column of one checkbox code (lower case, other characters as ``_``).

    >>> checkbox_column("symptoms", "-1")
    'symptoms____1'
    """
    return f"{field}___{re.sub(r'[^a-z0-9_]', '_', code.lower())}"


def record_columns(study: StudyDefinition, events: bool = True, dags: bool = True) -> list[str]:
    """The columns of REDCap's raw records export of the definition: the record id (the
    study's ``subject_field``), ``redcap_event_name`` (``events``: a longitudinal project),
    ``redcap_repeat_instrument`` and ``redcap_repeat_instance`` (when forms repeat),
    ``redcap_data_access_group`` (``dags``), then each form's fields in order, a checkbox as
    ``field___code`` per choice, no descriptive field, and ``<form>_complete`` after them.

    >>> from xerotrial.study.model import Field, Form, Schedule, Study, Allocation
    >>> f = Form("ae", "AE", fields=(Field("record_id", "text"), Field("intro", "descriptive"),
    ...     Field("crit", "checkbox", choices={"1": "death", "2": "hospital"})))
    >>> d = StudyDefinition("1", Study("S", "S", subject_field="record_id"), Allocation(), (),
    ...     Schedule(repeating=("ae",)), (f,))
    >>> record_columns(d, events=False, dags=False)[2:]
    ['redcap_repeat_instance', 'crit___1', 'crit___2', 'ae_complete']
    """
    first = [study.study.subject_field]
    if events:
        first.append("redcap_event_name")
    if study.schedule.repeating:
        first += ["redcap_repeat_instrument", "redcap_repeat_instance"]
    if dags:
        first.append("redcap_data_access_group")
    out = list(first)
    for form in study.forms:
        for f in form.fields:
            if f.name == study.study.subject_field or not f.holds_data:
                continue
            if f.type == "checkbox":
                out += [checkbox_column(f.name, c) for c in f.choices]
            else:
                out.append(f.name)
        out.append(f"{form.name}_complete")
    return out


def write_event_mapping(rows: Iterable[tuple[int, str, str]]) -> str:
    """The mapping as REDCap's CSV (``arm_num,unique_event_name,form``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EVENT_COLUMNS)
    w.writerows(rows)
    return buf.getvalue()


def read_dictionary(
    text: str, file: str = "dictionary.csv"
) -> tuple[list[dict[str, str]], list[Problem]]:
    """The rows of a REDCap data dictionary CSV and the problems of its header."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = tuple(reader.fieldnames or ())
    problems = [
        Problem(file, 0, c, None, "column missing (REDCap's 18 columns are expected)")
        for c in COLUMNS
        if c not in header
    ]
    return [dict(r) for r in reader], problems


_FROM_VALIDATION = {"integer": "integer", "date_ymd": "date", "datetime_ymd": "datetime"}


def forms_from_redcap(rows: Sequence[Mapping[str, str]]) -> list[Form]:
    """The forms of dictionary rows written by :func:`to_redcap` (fields only: no key, no
    checks). Any REDCap dictionary, with its events, is read by
    :func:`xerotrial.study.from_redcap.from_redcap`."""
    forms: dict[str, list[Field]] = {}
    for r in rows:
        rtype = r["Field Type"]
        validation = r["Text Validation Type OR Show Slider Number"]
        notes = r["Field Annotation"].split()
        kv = dict(n.split("=", 1) for n in notes if "=" in n)
        if rtype == "text":
            if validation.startswith("number"):
                typ = "decimal"
            else:
                typ = _FROM_VALIDATION.get(validation, "text")
        else:
            typ = {
                "radio": "choice",
                "checkbox": "checkbox",
                "yesno": "yesno",
                "calc": "calculated",
            }[rtype]
        lo = float(r["Text Validation Min"]) if r["Text Validation Min"] else None
        hi = float(r["Text Validation Max"]) if r["Text Validation Max"] else None
        hard = _FORCE in notes
        soft_lo = float(kv["soft_lo"]) if "soft_lo" in kv else (None if hard else lo)
        soft_hi = float(kv["soft_hi"]) if "soft_hi" in kv else (None if hard else hi)
        m = re.fullmatch(r"number_(\d)dp", validation)
        precision = int(m.group(1)) if m else (int(kv["precision"]) if "precision" in kv else None)
        spec = r["Choices, Calculations, OR Slider Labels"]
        choices = {}
        if typ in ("choice", "checkbox"):
            for part in spec.split("|"):
                code, _, label = part.strip().partition(",")
                choices[code.strip()] = label.strip()
        label = r["Field Label"]
        forms.setdefault(r["Form Name"], []).append(
            Field(
                name=r["Variable / Field Name"],
                type=typ,
                label="" if label == r["Variable / Field Name"] else label,
                required=r["Required Field?"].strip().lower() == "y",
                unit=r["Field Note"],
                precision=precision,
                lo=lo if hard else None,
                hi=hi if hard else None,
                soft_lo=soft_lo,
                soft_hi=soft_hi,
                choices=MappingProxyType(choices),
                show_if=from_redcap_logic(r["Branching Logic (Show field only if...)"]) or None,
                calc=from_redcap_logic(spec) if typ == "calculated" else None,
                sdtm=kv.get("sdtm"),
                xpt=kv.get("xpt"),
            )
        )
    return [Form(name, name, (), tuple(fields)) for name, fields in forms.items()]
