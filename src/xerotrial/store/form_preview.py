"""A form as it would be saved with the values typed so far: which fields its branching asks,
its calculated values, and each field's problem, by the rules a save applies
(:mod:`.study_import`). The form page asks for this as a field is left, so its live checks,
branching and calculations are the server's, never a second copy in JavaScript.

Example
-------
>>> import pathlib, tempfile
>>> from xerotrial.study import load_study
>>> path = pathlib.Path(tempfile.mkdtemp()) / "s.toml"
>>> _ = path.write_text('''version = "1"
... [study]
... id = "S"
... title = "S"
... [forms.f]
... title = "F"
... [forms.f.fields]
... age = {type = "integer", lo = 18}
... pain = {type = "yesno"}
... detail = {type = "text", show_if = "pain == 1"}
... ''')
>>> p = preview_form(load_study(path), "f", {"age": "12", "pain": "1"}, status=0)
>>> p.errors, p.shown
({'age': 'must be >= 18'}, {'detail': True})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xerotrial.study.expressions import ExpressionError
from xerotrial.study.model import StudyDefinition

from .study_import import FormRow, _check_form_row, _Checked, _expr_value, parse_expression
from .study_schema import data_fields
from .study_values import format_value, soft_problem

__all__ = ["FormPreview", "preview_form"]


@dataclass(frozen=True)
class FormPreview:
    """``shown``: field -> asked (fields with branching; None when it cannot be told yet);
    ``calculated``: field -> value as text; ``errors``: field -> the rule a save would refuse;
    ``notes``: field -> a soft limit passed (asks for a confirmation); ``checks``: the form's
    failed checks that refuse a save (its warning-level checks ask at the save)."""

    shown: dict[str, bool | None] = field(default_factory=dict)
    calculated: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The preview as the page's script reads it."""
        return {
            "shown": self.shown,
            "calculated": self.calculated,
            "errors": self.errors,
            "notes": self.notes,
            "checks": self.checks,
        }


def preview_form(
    study: StudyDefinition, form: str, values: Mapping[str, Any], *, status: int | None = None
) -> FormPreview:
    """The preview of ``form`` with ``values`` (field -> text) at form ``status``."""
    spec = next((f for f in study.forms if f.name == form), None)
    if spec is None:
        raise KeyError(form)
    fields = data_fields(study, spec)
    out = _Checked([], [], [])
    row = FormRow(form, "", "", 1, status, dict(values), computed=True)
    _check_form_row(study, spec, row, f"form {form}", out)
    parsed = out.rows[-1][1] if out.rows else {}
    context = {f.name: _expr_value(f, parsed.get(f.name)) for f in fields}
    preview = FormPreview()
    for f in fields:
        if f.show_if:
            try:
                shown = parse_expression(f.show_if).evaluate(context)
            except ExpressionError:
                shown = None
            preview.shown[f.name] = None if shown is None else bool(shown)
        if f.type == "calculated" and f.calc:
            preview.calculated[f.name] = format_value(f, parsed.get(f.name))
            continue
        soft = soft_problem(f, parsed.get(f.name))  # a field that did not parse: None
        if soft is not None:
            preview.notes[f.name] = soft
    for problem in out.problems:  # the save's own problems, each field's first
        if problem.column and problem.column not in preview.errors:
            preview.errors[problem.column] = problem.rule
        elif not problem.column:
            preview.checks.append(f"error: {problem.rule}")
    return preview
