"""A study definition as frozen data: the study, its arms, visits, schedule and forms.

The objects are built by :func:`xerotrial.study.check.build` from a checked TOML or YAML file
(:func:`xerotrial.study.load.load_study`); code reads them and never changes them.

>>> f = Field("cup_after_g", "decimal", unit="g", lo=0, precision=2, sdtm="RE.RESTRESN")
>>> f.numeric, f.sdtm_domain
(True, 'RE')
>>> Visit("day30", "1 month", 30, (15, 50)).window
(15, 50)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "ALLOCATION_METHODS",
    "CHECK_LEVELS",
    "FIELD_TYPES",
    "NUMERIC_TYPES",
    "REDCAP_KEYS",
    "Allocation",
    "Arm",
    "Check",
    "Field",
    "Form",
    "Schedule",
    "Site",
    "Study",
    "StudyDefinition",
    "Visit",
]

#: The field types of a form (REDCap's and ODM's, with calculated fields).
FIELD_TYPES: tuple[str, ...] = (
    "integer",
    "decimal",
    "text",
    "date",
    "datetime",
    "choice",
    "checkbox",
    "yesno",
    "calculated",
    "descriptive",
)
#: The types that take numeric limits (``lo``/``hi``, ``soft_lo``/``soft_hi``).
NUMERIC_TYPES: frozenset[str] = frozenset({"integer", "decimal", "calculated"})
#: The REDCap data dictionary facts a field may keep (:attr:`Field.redcap`) only so that a
#: dictionary read by ``xerotrial study from-redcap`` is written back exactly.
REDCAP_KEYS: tuple[str, ...] = (
    "section_header",
    "field_type",
    "validation",
    "choices",
    "slider_labels",
    "min",
    "max",
    "identifier",
    "branching",
    "calculation",
    "alignment",
    "question_number",
    "matrix_group",
    "matrix_ranking",
    "annotation",
)
#: How participants are allocated to arms; a design in the list form (issue 14) has the
#: methods of :data:`xerotrial.randomize.design.METHODS`, which ``randomize`` runs.
ALLOCATION_METHODS: tuple[str, ...] = ("none", "simple", "block", "minimisation")
#: An error rejects a row; a warning is listed and the row is kept.
CHECK_LEVELS: tuple[str, ...] = ("error", "warning")


@dataclass(frozen=True)
class Site:
    """A site (centre): code, name and country."""

    code: str
    name: str = ""
    country: str = ""


@dataclass(frozen=True)
class Study:
    """What the study is: identifier, title, registry numbers, sponsor, sites."""

    id: str
    title: str
    nct: str = ""
    eudract: str = ""
    sponsor: str = ""
    #: the protocol's and the statistical analysis plan's versions (the report's title page)
    protocol_version: str = ""
    sap_version: str = ""
    sites: tuple[Site, ...] = ()
    #: The column naming the subject in data files (REDCap: the record id field).
    subject_field: str = "subject"


@dataclass(frozen=True)
class Arm:
    """An arm and its allocation ratio (``ratio`` parts of the total)."""

    name: str
    label: str = ""
    ratio: int = 1


@dataclass(frozen=True)
class Allocation:
    """The arms and how participants are allocated to them (``none``: single arm)."""

    method: str = "none"
    arms: tuple[Arm, ...] = ()
    stratify: tuple[str, ...] = ()
    #: The randomization design (:class:`xerotrial.randomize.design.AllocationDesign`) when
    #: ``[allocation]`` is written in its list form (arms as a list, strata, block sizes).
    design: Any = None


@dataclass(frozen=True)
class Visit:
    """A planned visit: target ``day`` (study day) in its inclusive ``window`` of accepted
    days; ``on_time`` is the narrower window that is not a deviation (None: the window).
    A visit made from a REDCap event has neither (None). ``arms``: the arms that have the
    visit (empty: every arm); ``note``: what the protocol says of it (an amendment, a
    visit without efficacy assessments)."""

    name: str
    label: str = ""
    day: int | None = None
    window: tuple[int, int] | None = None
    on_time: tuple[int, int] | None = None
    baseline: bool = False
    arms: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Field:
    """A field of a form.

    ``lo``/``hi`` are hard limits (a value outside is rejected), ``soft_lo``/``soft_hi`` soft
    ones (a warning). ``choices`` maps codes to labels (``choice``: one, ``checkbox``: several).
    ``show_if`` is the branching expression (the field is asked only when it holds), ``calc``
    the expression of a ``calculated`` field, ``sdtm`` the CDISC annotation ``DOMAIN.VARIABLE``.
    ``validation`` is a content rule of a ``text`` field named as REDCap names it (``email``,
    ``time``, ...: :data:`xerotrial.study.validation.VALIDATIONS`). A ``descriptive`` field is
    text shown on the form and holds no data (no column in data files). ``redcap`` keeps
    REDCap dictionary facts (:data:`REDCAP_KEYS`) only so that a dictionary round-trips
    exactly; a ``calculated`` field whose REDCap calculation could not be translated has
    ``calc`` None and the text in ``redcap["calculation"]`` (it is not computed here).

    >>> Field("intro", "descriptive", label="Please answer").holds_data
    False
    """

    name: str
    type: str
    label: str = ""
    required: bool = False
    unit: str = ""
    precision: int | None = None
    lo: float | None = None
    hi: float | None = None
    soft_lo: float | None = None
    soft_hi: float | None = None
    choices: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    show_if: str | None = None
    calc: str | None = None
    sdtm: str | None = None
    max_length: int | None = None
    validation: str | None = None
    redcap: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: the SAS transport (XPT) name, at most 8 characters (None: the upper-cased name)
    xpt: str | None = None

    @property
    def holds_data(self) -> bool:
        """Whether the field has a value (a column in data files): not a descriptive one."""
        return self.type != "descriptive"

    @property
    def numeric(self) -> bool:
        """Whether the field holds a number (and so may have limits)."""
        return self.type in NUMERIC_TYPES

    @property
    def sdtm_domain(self) -> str | None:
        """The SDTM domain of the annotation (``"DM"`` of ``"DM.AGE"``), or None."""
        return self.sdtm.split(".", 1)[0] if self.sdtm else None


@dataclass(frozen=True)
class Check:
    """A cross-field check: ``expr`` must hold for a row (see :mod:`.expressions`)."""

    expr: str
    message: str
    level: str = "error"


@dataclass(frozen=True)
class Form:
    """A case report form: fields in order, the natural key (one row per key; empty: one row
    per subject, visit and repeat instance, as in REDCap), checks."""

    name: str
    title: str
    key: tuple[str, ...] = ()
    fields: tuple[Field, ...] = ()
    checks: tuple[Check, ...] = ()
    #: a field naming a known participant (``participants.subject``), or None
    participant: str | None = None
    #: two fields naming a known visit (subject, visit) of the ``visits`` form, or None
    visit_columns: tuple[str, str] | None = None
    #: field -> ``"form.field"`` it must exist in
    refs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def columns(self) -> tuple[str, ...]:
        """The field names, in order."""
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        """The field called ``name`` (KeyError if none)."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


@dataclass(frozen=True)
class Schedule:
    """Which forms are due at which visits (``due``: form -> visit names); whether data at
    unscheduled visits are accepted; the repeating forms (any number of rows per subject,
    e.g. adverse events and medications)."""

    due: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    unscheduled: bool = False
    repeating: tuple[str, ...] = ()


@dataclass(frozen=True)
class StudyDefinition:
    """A whole study definition, one ``version`` of it; ``derivations`` and ``analysis``
    are :mod:`xerotrial.study.plan`'s (the analysis None when the definition has none)."""

    version: str
    study: Study
    allocation: Allocation
    visits: tuple[Visit, ...]
    schedule: Schedule
    forms: tuple[Form, ...]
    derivations: tuple[Any, ...] = ()
    analysis: Any = None
    #: the ``[submission]`` section (:class:`xerotrial.study.submission.SubmissionPlan`)
    submission: Any = None

    def form(self, name: str) -> Form:
        """The form called ``name`` (KeyError if none)."""
        for f in self.forms:
            if f.name == name:
                return f
        raise KeyError(name)

    def visit(self, name: str) -> Visit:
        """The visit called ``name`` (KeyError if none)."""
        for v in self.visits:
            if v.name == name:
                return v
        raise KeyError(name)

    def summary(self) -> str:
        """One line: the study, its version and how many forms, fields and visits it has."""
        n_fields = sum(len(f.fields) for f in self.forms)
        return (
            f"study {self.study.id} version {self.version}: {len(self.forms)} forms, "
            f"{n_fields} fields, {len(self.visits)} visits"
        )
