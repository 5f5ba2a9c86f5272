"""The study defined as data (issue 12, first increment): model, expressions, load, check.

A study definition is one TOML or YAML file that people edit and keep in git: the study and
its registry numbers, arms and allocation, visits with windows, the schedule of forms and the
forms with typed fields, limits, choices, branching, calculations and checks.
:func:`load_study` reads it and checks every rule, raising one
:class:`~xerotrial.errors.DataValidationError` that lists every problem with its file, line and
key path.
A REDCap project (data dictionary and instrument-event mapping) becomes a definition with
:func:`xerotrial.study.from_redcap.from_redcap` and goes back with :mod:`.redcap`, exactly;
:func:`xerotrial.study.toml_write.to_toml` writes a definition as TOML.

>>> d = load_study(SEED_STUDY)
>>> d.form("sialometry").columns
('subject', 'visit', 'kind', 'cup_before_g', 'cup_after_g', 'minutes')
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from .load import load_study
from .model import StudyDefinition

__all__ = ["SEED_STUDY", "StudyDefinition", "load_study"]

#: The seed trial's definition (bundled).
SEED_STUDY: Path = Path(str(files("xerotrial") / "data" / "studies" / "seed" / "study.toml"))
