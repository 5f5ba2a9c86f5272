"""A REDCap project (data dictionary, instrument-event mapping) as a study definition.

:func:`from_redcap` reads the 18-column dictionary and, for a longitudinal project, the
instrument-event mapping (``arm_num,unique_event_name,form``), checks every row and builds a
:class:`~xerotrial.study.model.StudyDefinition` that :func:`xerotrial.study.redcap.to_redcap`
writes back as the same dictionary, cell for cell (:func:`~.redcap.to_event_mapping`: the same
mapping). Field types: ``text`` by its validation (:data:`~.validation.VALIDATIONS`: integer,
decimal, date, datetime, or text with a rule), ``notes``, ``file`` and ``sql`` are text,
``radio`` and ``dropdown`` choice, ``checkbox``, ``yesno`` and ``truefalse`` yes/no, ``calc``
calculated, ``slider`` an integer 0-100 (or its min/max), ``descriptive`` holds no data.
Min/max are hard limits with ``@FORCE-MINMAX``, else soft. Branching logic and calculations
are translated into :mod:`.expressions` when they can be (fields of the same form,
comparisons, arithmetic, ``datediff(..., "d", true)``); otherwise their text is kept in
``Field.redcap`` and listed. Events become visits (the unique event name less ``_arm_N``), arms
``arm_1``, ``arm_2``, ... What a dictionary does not say (allocation, repeating instruments,
visit days, the study's registry numbers) or what the definition cannot hold is listed, one
line each, in :attr:`Translation.notes`; a bad input raises :class:`RedcapInputError`, every
problem as ``FILE: row R: column C: rule`` (row 1 is the header).

>>> dd = '''Variable / Field Name,Form Name,Section Header,Field Type,Field Label,\\
... "Choices, Calculations, OR Slider Labels",Field Note,\\
... Text Validation Type OR Show Slider Number,Text Validation Min,Text Validation Max,\\
... Identifier?,Branching Logic (Show field only if...),Required Field?,Custom Alignment,\\
... Question Number (surveys only),Matrix Group Name,Matrix Ranking?,Field Annotation
... record_id,enrolment,,text,Record ID,,,,,,,,,,,,,
... age,enrolment,,text,Age,,years,integer,18,90,,,y,,,,,@FORCE-MINMAX
... '''
>>> t = from_redcap(dd, "dd.csv")
>>> age = t.study.form("enrolment").field("age")
>>> (t.study.study.subject_field, age.type, age.lo, age.hi, age.required)
('record_id', 'integer', 18.0, 90.0, True)
"""

from __future__ import annotations

import ast
import contextlib
import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from ..errors import DataValidationError, Problem
from .expressions import ExpressionError, parse_expression
from .model import (
    Allocation,
    Arm,
    Field,
    Form,
    Schedule,
    Study,
    StudyDefinition,
    Visit,
)
from .validation import VALIDATIONS

__all__ = [
    "API_COLUMNS",
    "REDCAP_FIELD_TYPES",
    "RedcapInputError",
    "Translation",
    "from_redcap",
    "translate_logic",
]

#: The field types of a REDCap data dictionary.
REDCAP_FIELD_TYPES: tuple[str, ...] = (
    "text",
    "notes",
    "dropdown",
    "radio",
    "checkbox",
    "yesno",
    "truefalse",
    "calc",
    "slider",
    "descriptive",
    "file",
    "sql",
)
#: The dictionary's columns as REDCap's API names them (in the same order).
API_COLUMNS: tuple[str, ...] = (
    "field_name",
    "form_name",
    "section_header",
    "field_type",
    "field_label",
    "select_choices_or_calculations",
    "field_note",
    "text_validation_type_or_show_slider_number",
    "text_validation_min",
    "text_validation_max",
    "identifier",
    "branching_logic",
    "required_field",
    "custom_alignment",
    "question_number",
    "matrix_group_name",
    "matrix_ranking",
    "field_annotation",
)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SDTM = re.compile(r"^[A-Z]{2}\.[A-Z][A-Z0-9]{0,7}$")
_EVENT = re.compile(r"^([a-z0-9][a-z0-9_]*)_arm_(\d+)$")
_YN = ("", "y")
_ALIGN = ("", "RV", "RH", "LV", "LH")
_TYPE_OF = {
    "notes": "text",
    "file": "text",
    "sql": "text",
    "dropdown": "choice",
    "radio": "choice",
    "checkbox": "checkbox",
    "yesno": "yesno",
    "truefalse": "yesno",
    "calc": "calculated",
    "slider": "integer",
    "descriptive": "descriptive",
}


def _row_text(p: Problem) -> str:
    where = [p.file or "<input>"]
    if p.row is not None:
        where.append(f"row {p.row}")
    if p.column:
        where.append(f"column {p.column}")
    return ": ".join([*where, p.rule])


class RedcapInputError(DataValidationError):
    """A REDCap dictionary or mapping with problems: ``problems`` lists every one, each
    ``FILE: row R: column C: rule`` in the message (row 1 is the header)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        problems = list(problems)
        n = len(problems)
        files = ", ".join(dict.fromkeys(p.file or "<input>" for p in problems))
        summary = f"{files}: {n} problem{'s' * (n != 1)} in the REDCap project, nothing written:"
        super().__init__(
            "\n".join([summary, *(f"  {_row_text(p)}" for p in problems)]),
            file=problems[0].file if problems else None,
            problems=problems,
        )
        self.summary = summary


@dataclass(frozen=True)
class Translation:
    """The definition made of a REDCap project and the ``notes``: what the dictionary does
    not say (assumed) or the definition cannot hold, one line each."""

    study: StudyDefinition
    notes: tuple[str, ...]


def translate_logic(text: str, form: Form) -> str | None:
    """REDCap logic or a calculation as an expression of :mod:`.expressions` on the fields of
    ``form``, or None when it cannot be one (another form's field, a checkbox option
    ``[f(1)]``, a function or smart variable of REDCap's, ...). A yes/no field ``[f] = '1'``
    is ``f`` (``'0'``: ``not f``); a choice code written as a number is text, a number
    written as text (``[n] = '5'``) a number, as REDCap compares them.

    >>> f = Form("ae", "AE", fields=(Field("serious", "yesno"), Field("grade", "integer")))
    >>> translate_logic("[serious] = '1' and [grade] >= 3", f)
    'serious and grade >= 3'
    >>> translate_logic("[serious] = '1' and [other_form_field] = 1", f) is None
    True
    """
    from .check import _literal_problems
    from .redcap import from_redcap_logic

    typed = {f.name: f for f in form.fields if f.holds_data}
    try:
        tree = ast.parse(from_redcap_logic(_lower_words(text)).strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError):
        return None

    class _Typed(ast.NodeTransformer):
        def visit_Compare(self, node: ast.Compare) -> ast.AST:  # noqa: N802 - ast's name
            self.generic_visit(node)
            if len(node.ops) != 1:
                return node
            a, b = node.left, node.comparators[0]
            if isinstance(b, ast.Name) and isinstance(a, ast.Constant):
                a, b = b, a
            if not (isinstance(a, ast.Name) and isinstance(b, ast.Constant)):
                return node
            f = typed.get(a.id)
            if f is None:
                return node
            if f.type == "yesno" and isinstance(node.ops[0], ast.Eq) and str(b.value) in "01":
                return a if str(b.value) == "1" else ast.UnaryOp(ast.Not(), a)
            if f.type in ("choice", "checkbox") and isinstance(b.value, int | float):
                b.value = _num_text(b.value)
            if f.type in ("integer", "decimal", "calculated") and isinstance(b.value, str):
                with contextlib.suppress(ValueError):
                    b.value = int(b.value) if b.value.lstrip("-").isdigit() else float(b.value)
            return node

    source = ast.unparse(_Typed().visit(tree))
    try:
        e = parse_expression(source)
    except ExpressionError:
        return None
    if not e.names <= set(typed) or _literal_problems(e, typed):
        return None
    return source


_QUOTED = re.compile(r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")


def _lower_words(text: str) -> str:
    """REDCap's ``AND``, ``OR`` and ``NOT`` (any case) in lower case, outside quoted text."""
    parts = _QUOTED.split(text)
    return "".join(
        p if i % 2 else re.sub(r"\b(and|or|not)\b", lambda m: m[0].lower(), p, flags=re.I)
        for i, p in enumerate(parts)
    )


def _num_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _csv(
    text: str, file: str, columns: Sequence[str], notes: list[str] | None = None
) -> tuple[list[dict[str, str]], list[Problem]]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    rows = list(reader)
    header = rows[0] if rows else []
    if header == list(API_COLUMNS) and len(columns) == len(API_COLUMNS):
        header = list(columns)
        if notes is not None:
            notes.append(
                f"{file}: the header is that of REDCap's API (field_name, ...); the export "
                "writes the data dictionary's"
            )
    problems = [
        Problem(file, 1, c, None, f"column missing (expected: {', '.join(columns)})")
        for c in columns
        if c not in header
    ]
    problems += [
        Problem(file, 1, c, c, "unknown column (not one of REDCap's)")
        for c in header
        if c not in columns
    ]
    if problems:
        return [], problems
    out = []
    for n, r in enumerate(rows[1:], start=2):
        if not r and notes is not None:
            notes.append(f"{file}: row {n}: an empty line, left out (written back without it)")
            continue
        if len(r) != len(header):
            problems.append(
                Problem(file, n, None, None, f"{len(r)} cells where the header has {len(header)}")
            )
            continue
        out.append(dict(zip(header, r, strict=True)))
    return out, problems


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.notes: list[str] = []

    def problem(self, row: int, column: str, value: Any, rule: str) -> None:
        self.problems.append(Problem(self.file, row, column, value, rule))

    def number(self, n: int, column: str, text: str) -> float | None:
        if not text:
            return None
        try:
            x = float(text.replace(",", ".") if re.fullmatch(r"-?\d+,\d+", text) else text)
        except ValueError:
            self.problem(n, column, text, f"{text!r} is not a number")
            return None
        return x

    def field(self, n: int, r: Mapping[str, str]) -> tuple[Field, str] | None:
        """The field of dictionary row ``n`` (before its kept cells) and its REDCap type."""
        name, rtype = r["Variable / Field Name"], r["Field Type"]
        ok = True
        if not _NAME.match(name):
            self.problem(
                n,
                "Variable / Field Name",
                name,
                f"field name {name!r} must be lower case letters, digits and _ "
                "(starting with a letter)",
            )
            ok = False
        if not _NAME.match(r["Form Name"]):
            self.problem(
                n,
                "Form Name",
                r["Form Name"],
                f"form name {r['Form Name']!r} must be lower case letters, digits and _",
            )
            ok = False
        if rtype not in REDCAP_FIELD_TYPES:
            self.problem(
                n,
                "Field Type",
                rtype,
                f"unknown field type {rtype!r}; one of {', '.join(REDCAP_FIELD_TYPES)}",
            )
            return None
        if not r["Field Label"] and rtype != "descriptive":
            self.problem(n, "Field Label", "", "a field needs a label")
        for col, allowed in (
            ("Required Field?", _YN),
            ("Identifier?", _YN),
            ("Matrix Ranking?", _YN),
            ("Custom Alignment", _ALIGN),
        ):
            if r[col] not in allowed:
                self.problem(
                    n, col, r[col], f"must be one of {', '.join(repr(a) for a in allowed)}"
                )
        val_col = "Text Validation Type OR Show Slider Number"
        validation = r[val_col]
        v = VALIDATIONS.get(validation) if validation else None
        typ = _TYPE_OF.get(rtype, "text")
        text_rule = None
        if rtype == "text":
            if validation and (v is None or v.type == "file"):
                self.problem(n, val_col, validation, f"unknown validation type {validation!r}")
                return None
            if v is not None:
                typ = v.type
                text_rule = validation if v.type == "text" else None
        elif rtype == "slider":
            if validation not in ("", "number", "integer"):
                self.problem(n, val_col, validation, "a slider shows its number or not: 'number'")
        elif rtype == "file":
            if validation not in ("", "signature"):
                self.problem(n, val_col, validation, "a file field takes only 'signature'")
        elif validation:
            self.problem(n, val_col, validation, f"a {rtype} field takes no validation type")
        spec = r["Choices, Calculations, OR Slider Labels"]
        choices: dict[str, str] = {}
        if rtype in ("dropdown", "radio", "checkbox"):
            parsed = parse_choices_checked(spec)
            if isinstance(parsed, str):
                self.problem(n, "Choices, Calculations, OR Slider Labels", spec, parsed)
                ok = False
            else:
                choices = parsed
        elif rtype == "calc" and not spec.strip():
            self.problem(n, "Choices, Calculations, OR Slider Labels", spec, "a calc needs one")
        numeric = typ in ("integer", "decimal") or rtype == "calc"
        lo = hi = None
        if numeric:
            lo = self.number(n, "Text Validation Min", r["Text Validation Min"])
            hi = self.number(n, "Text Validation Max", r["Text Validation Max"])
        elif r["Text Validation Min"] or r["Text Validation Max"]:
            ranged = (
                v is not None and v.type in ("date", "datetime") or validation.startswith("time")
            )
            if not ranged:
                self.problem(
                    n,
                    "Text Validation Min" if r["Text Validation Min"] else "Text Validation Max",
                    r["Text Validation Min"] or r["Text Validation Max"],
                    f"a {rtype} field with validation {validation!r} takes no min or max",
                )
            else:
                self.notes.append(
                    f"field {name}: the {validation} limits min {r['Text Validation Min']!r} "
                    f"max {r['Text Validation Max']!r} are kept for REDCap, not checked here"
                )
        if lo is not None and hi is not None and lo > hi:
            self.problem(n, "Text Validation Min", r["Text Validation Min"], "min is above max")
        if not ok:
            return None
        annotation = r["Field Annotation"]
        hard = "@FORCE-MINMAX" in annotation.split() and (lo is not None or hi is not None)
        if rtype == "slider":
            lo = 0.0 if lo is None else lo
            hi = 100.0 if hi is None else hi
            hard = True
        precision = v.precision if v is not None and typ == "decimal" else None
        soft_lo = soft_hi = None
        rest = annotation
        sdtm = None
        if hard and rtype != "slider":
            rest, _ = _consume(rest, lambda t: t == "@FORCE-MINMAX")
            for key in ("soft_lo", "soft_hi"):
                rest, tok = _consume(rest, lambda t, k=key: _is_note(t, k))
                if tok:
                    x = float(tok.split("=", 1)[1])
                    soft_lo, soft_hi = (x, soft_hi) if key == "soft_lo" else (soft_lo, x)
        if validation == "number":
            rest, tok = _consume(rest, lambda t: re.fullmatch(r"precision=\d", t) is not None)
            precision = int(tok.split("=")[1]) if tok else precision
        rest, tok = _consume(rest, lambda t: t.startswith("sdtm=") and _SDTM.match(t[5:]))
        sdtm = tok[5:] if tok else None
        if not hard:
            soft_lo, soft_hi, lo, hi = lo, hi, None, None
        label = r["Field Label"]
        f = Field(
            name=name,
            type=typ,
            label="" if label == name and rtype != "descriptive" else label,
            required=r["Required Field?"] == "y",
            unit=r["Field Note"],
            precision=precision,
            lo=lo if typ != "descriptive" else None,
            hi=hi if typ != "descriptive" else None,
            soft_lo=soft_lo,
            soft_hi=soft_hi,
            choices=MappingProxyType(choices),
            sdtm=sdtm,
            validation=text_rule,
            redcap=MappingProxyType({"annotation": rest} if rest else {}),
        )
        return f, rtype


def _is_note(token: str, key: str) -> bool:
    k, eq, x = token.partition("=")
    if k != key or not eq:
        return False
    try:
        return _num_text(float(x)) == x or repr(float(x)) == x
    except ValueError:
        return False


def _consume(text: str, test: Any) -> tuple[str, str | None]:
    """The leading token of ``text`` if ``test`` accepts it (and the one space after it), and
    what is left; the text unchanged and None if not."""
    token, sep, rest = text.partition(" ")
    if not token or "\n" in token or "\t" in token or not test(token):
        return text, None
    if sep and not rest:
        return text, None  # a trailing space would not be written back
    return rest, token


def parse_choices_checked(text: str) -> dict[str, str] | str:
    """``1, label | 2, label`` as codes and labels, or the rule the text breaks.

    >>> parse_choices_checked("1, Yes | No")
    "choice 'No' is not 'code, label'"
    """
    out: dict[str, str] = {}
    if not text.strip():
        return "a choice field needs choices '1, label | 2, label'"
    for part in text.split("|"):
        code, comma, label = part.strip().partition(",")
        code = code.strip()
        if not comma:
            return f"choice {part.strip()!r} is not 'code, label'"
        if not re.fullmatch(r"-?[A-Za-z0-9_.]+", code):
            return f"choice code {code!r} must be letters, digits, _ or . (or a number)"
        if code in out:
            return f"choice code {code!r} is given twice"
        out[code] = label.strip()
    return out


def _kept_cells(form: Form, f: Field, rtype: str, r: Mapping[str, str]) -> Field:
    """``f`` with the dictionary cells that :func:`~.redcap.to_redcap` would not write back
    by itself kept in ``f.redcap``."""
    from .redcap import _row

    keep = dict(f.redcap)
    keep["field_type"] = rtype
    simple = {
        "Section Header": "section_header",
        "Identifier?": "identifier",
        "Custom Alignment": "alignment",
        "Question Number (surveys only)": "question_number",
        "Matrix Group Name": "matrix_group",
        "Matrix Ranking?": "matrix_ranking",
    }
    for col, key in simple.items():
        if r[col]:
            keep[key] = r[col]
    val = r["Text Validation Type OR Show Slider Number"]
    if val and val != f.validation:
        keep["validation"] = val
    spec = r["Choices, Calculations, OR Slider Labels"]
    key = {"calc": "calculation", "slider": "slider_labels"}.get(rtype, "choices")
    if spec:
        keep[key] = spec
    for col, key in (("Text Validation Min", "min"), ("Text Validation Max", "max")):
        if r[col]:
            keep[key] = r[col]
    if r["Branching Logic (Show field only if...)"]:
        keep["branching"] = r["Branching Logic (Show field only if...)"]
    g = replace(f, redcap=MappingProxyType(keep))
    # drop what is written back the same without being kept
    out = _row(form, g)
    for k in list(keep):
        if k == "annotation":
            continue
        trial = dict(keep)
        del trial[k]
        if _row(form, replace(g, redcap=MappingProxyType(trial))) == out:
            keep = trial
    return replace(g, redcap=MappingProxyType(keep))


def from_redcap(
    dictionary: str,
    file: str = "dictionary.csv",
    events: str | None = None,
    events_file: str = "instrument_event_mapping.csv",
    repeating: Sequence[str] = (),
    study_id: str = "",
    title: str = "",
) -> Translation:
    """The definition of a REDCap project: ``dictionary`` (the CSV text), ``events`` (the
    instrument-event mapping's CSV text; None: a classic project without events) and the
    ``repeating`` instruments; :class:`RedcapInputError` lists every problem of the input."""
    from .check import StudyDefinitionError
    from .redcap import COLUMNS, _row

    rd = _Reader(file)
    if dictionary.startswith("\ufeff"):
        rd.notes.append(f"{file}: starts with a byte-order mark; the export writes none")
    rows, problems = _csv(dictionary, file, COLUMNS, rd.notes)
    rd.problems += problems
    if not rows and not problems:
        rd.problem(2, "Variable / Field Name", "", "the dictionary has no fields")
    seen: dict[str, int] = {}
    done_forms: list[str] = []
    fields: dict[str, list[tuple[int, Field, str]]] = {}
    for n, r in enumerate(rows, start=2):
        name, form = r["Variable / Field Name"], r["Form Name"]
        if name.casefold() in seen:
            rd.problem(
                n,
                "Variable / Field Name",
                name,
                f"duplicate field name {name!r} (already on row {seen[name.casefold()]})",
            )
            continue
        seen[name.casefold()] = n
        if form in done_forms and done_forms[-1] != form:
            rd.problem(
                n, "Form Name", form, f"the fields of form {form!r} are not together (REDCap's)"
            )
        if form not in done_forms:
            done_forms.append(form)
        got = rd.field(n, r)
        if got is not None:
            fields.setdefault(form, []).append((n, *got))
    if rows and rows[0]["Field Type"] != "text":
        rd.problem(
            2, "Field Type", rows[0]["Field Type"], "the first field (the record id) is text"
        )
    forms: list[Form] = []
    row_of: dict[str, tuple[int, str]] = {}
    for form_name, items in fields.items():
        bare = Form(form_name, form_name, (), tuple(f for _, f, _ in items))
        translated = []
        for n, f, rtype in items:
            r = rows[n - 2]
            row_of[f.name] = (n, form_name)
            show_if = calc = None
            if r["Branching Logic (Show field only if...)"]:
                show_if = translate_logic(r["Branching Logic (Show field only if...)"], bare)
                if show_if is None:
                    rd.notes.append(
                        f"field {f.name}: branching logic kept as REDCap text, not translated: "
                        f"{r['Branching Logic (Show field only if...)']!r}"
                    )
            if rtype == "calc":
                calc = translate_logic(r["Choices, Calculations, OR Slider Labels"], bare)
                if calc is None:
                    rd.notes.append(
                        f"field {f.name}: calculation kept as REDCap text, not computed here: "
                        f"{r['Choices, Calculations, OR Slider Labels']!r}"
                    )
            if rtype in ("file", "sql"):
                rd.notes.append(
                    f"field {f.name}: a REDCap {rtype} field, kept as text"
                    + (" (the file itself is not held)" if rtype == "file" else "")
                    + (" (its choices come from an SQL query)" if rtype == "sql" else "")
                )
            translated.append(replace(f, show_if=show_if, calc=calc))
        form = Form(form_name, form_name, (), tuple(translated))
        form = replace(
            form,
            fields=tuple(
                _kept_cells(form, f, rtype, rows[n - 2])
                for (n, _, rtype), f in zip(items, translated, strict=True)
            ),
        )
        forms.append(form)
    names = list(done_forms)  # a form with a bad row is still a form of the dictionary
    for form in repeating:
        if form not in names:
            rd.problems.append(
                Problem(
                    "--repeating",
                    None,
                    None,
                    form,
                    f"form {form!r} is not in {file} (its forms: {', '.join(names)})",
                )
            )
    visits, arms, due = _events(events, events_file, names, rd)
    if rd.problems:
        raise RedcapInputError(rd.problems)
    if not repeating:
        rd.notes.append(
            "repeating instruments are a REDCap project setting, not in the dictionary: the "
            "definition declares none (name them with --repeating FORM)"
        )
    if len(arms) > 1:
        rd.notes.append(
            f"allocation: REDCap arms say nothing of how people are allocated; assumed simple "
            f"randomization 1:1 to {', '.join(arms)} (edit [allocation])"
        )
    if visits:
        rd.notes.append(
            "visit days and windows: REDCap events of the mapping have none (the events' day "
            "offsets are not in the mapping); each visit has no target day"
        )
    sid = study_id or "redcap_project"
    rd.notes.append(
        f"study: the dictionary names no study; id {sid!r}, no registry numbers, version '1'"
    )
    rd.notes.append(
        "form titles: a dictionary names its forms only (the instrument labels are not in "
        "it); each title is the form's name"
    )
    rd.notes.append("sites: REDCap data access groups are not in the dictionary; none defined")
    subject = rows[0]["Variable / Field Name"]
    study = StudyDefinition(
        version="1",
        study=Study(sid, title or f"REDCap project {sid}", subject_field=subject),
        allocation=Allocation(
            "simple" if len(arms) > 1 else "none", tuple(Arm(a) for a in arms), ()
        ),
        visits=tuple(visits),
        schedule=Schedule(MappingProxyType(due), False, tuple(repeating)),
        forms=tuple(forms),
    )
    # the definition must pass the checker as it will be read back
    from .toml_write import to_toml

    try:
        from .check import build
        from .load import parse_text

        data, locate, parse_problems = parse_text(to_toml(study), file, "toml")
        study = build(data, file, locate, parse_problems)
    except StudyDefinitionError as exc:
        out = []
        for p in exc.problems:
            parts = (p.column or "").split(".")
            n = None
            if len(parts) >= 4 and parts[0] == "forms" and parts[3] in row_of:
                n = row_of[parts[3]][0]
            out.append(Problem(file, n, "Variable / Field Name", p.value, f"{p.column}: {p.rule}"))
        raise RedcapInputError(out) from None
    back = {(r["Form Name"], r["Variable / Field Name"]): r for r in map(dict, rows)}
    for form in study.forms:
        for f in form.fields:
            got, want = _row(form, f), back[(form.name, f.name)]
            for c in COLUMNS:
                if got[c] != want[c]:
                    rd.notes.append(
                        f"row {row_of[f.name][0]}: column {c}: written back as {got[c]!r}, "
                        f"not {want[c]!r}"
                    )
    return Translation(study, tuple(rd.notes))


def _events(
    text: str | None, file: str, forms: Sequence[str], rd: _Reader
) -> tuple[list[Visit], list[str], dict[str, tuple[str, ...]]]:
    """The visits, arms and schedule of an instrument-event mapping (none without one)."""
    if text is None:
        return [], [], {}
    from .redcap import EVENT_COLUMNS, to_event_mapping

    er = _Reader(file)
    rows, problems = _csv(text, file, EVENT_COLUMNS, rd.notes)
    er.problems += problems
    order: list[str] = []
    in_arm: dict[str, set[int]] = {}
    mapped: set[tuple[int, str, str]] = set()
    for n, r in enumerate(rows, start=2):
        arm_text, event, form = r["arm_num"], r["unique_event_name"], r["form"]
        if not re.fullmatch(r"[1-9]\d*", arm_text):
            er.problem(n, "arm_num", arm_text, "must be an arm number 1, 2, ...")
            continue
        m = _EVENT.match(event)
        if m is None or int(m.group(2)) != int(arm_text):
            er.problem(
                n,
                "unique_event_name",
                event,
                f"must be a unique event name ending _arm_{arm_text}, e.g. visit_1_arm_{arm_text}",
            )
            continue
        if form not in forms:
            er.problem(n, "form", form, f"form {form!r} is not in the dictionary")
            continue
        key = (int(arm_text), m.group(1), form)
        if key in mapped:
            er.problem(n, "form", form, f"form {form!r} is mapped to {event} twice")
            continue
        mapped.add(key)
        if m.group(1) not in in_arm:
            order.append(m.group(1))
        in_arm.setdefault(m.group(1), set()).add(int(arm_text))
    arm_nums = sorted({a for a, _, _ in mapped})
    if arm_nums and arm_nums != list(range(1, len(arm_nums) + 1)):
        er.problem(2, "arm_num", arm_nums, f"the arms must be numbered 1 to N, not {arm_nums}")
    rd.problems += er.problems
    if er.problems:
        return [], [], {}
    arms = [f"arm_{a}" for a in arm_nums]
    visits = [
        Visit(
            v,
            arms=() if in_arm[v] == set(arm_nums) else tuple(f"arm_{a}" for a in sorted(in_arm[v])),
        )
        for v in order
    ]
    due: dict[str, tuple[str, ...]] = {}
    for form in forms:
        at = tuple(v for v in order if any((a, v, form) in mapped for a in in_arm[v]))
        if at:
            due[form] = at
        for v in at:
            missing = [a for a in sorted(in_arm[v]) if (a, v, form) not in mapped]
            if missing:
                rd.notes.append(
                    f"form {form} is mapped to {v} in arm "
                    f"{', '.join(map(str, sorted(in_arm[v] - set(missing))))} but not in arm "
                    f"{', '.join(map(str, missing))}: the definition has it due at {v} in every "
                    "arm that has the visit"
                )
    study = StudyDefinition(
        "1",
        Study("x", "x"),
        Allocation("simple", tuple(Arm(a) for a in arms)),
        tuple(visits),
        Schedule(MappingProxyType(due)),
        tuple(Form(f, f) for f in forms),
    )
    written = [(str(a), e, f) for a, e, f in to_event_mapping(study)]
    given = [(r["arm_num"], r["unique_event_name"], r["form"]) for r in rows]
    if written != given:
        rd.notes.append(
            f"{file}: written back in REDCap's order (by arm, event, form) or without the "
            "rows above, not as given"
        )
    return visits, arms, due
