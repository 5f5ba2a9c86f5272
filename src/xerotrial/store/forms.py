"""The seed trial's case report forms: one :class:`FormSpec` per form, made from the seed
study's definition (``data/studies/seed/study.toml``) and the trial code it cannot hold.

A form's fields give its template (the CSV header), its table in the store (``schema.py``),
the parsing and range rules of every cell, and its natural key (one row per key). Units are
part of a column's name (``cup_before_g``, ``value_mmol_l``, ``minutes``): a file whose
header names another unit has an unknown column and is rejected.

Rules that depend on more than one cell reuse the trial's own validators (``xerotrial.trial``):
CTCAE v5.0 grades and ICH E2A seriousness (``safety.validate_adverse_events``), questionnaire
item codings (``questionnaires.score_qlq_hn35`` / ``score_xq``), cup weights and plausible
flow (``sialometry.derive_flow_rate``), ions (``saliva.derive_saliva_ions``), HLA alleles and
specificities (``immunology``), release-test values (``product.evaluate_release``) and the
protocol's visit windows (``protocol.Protocol.map_visit``).

Example
-------
>>> spec = FORMS["sialometry"]
>>> spec.columns
('subject', 'visit', 'kind', 'cup_before_g', 'cup_after_g', 'minutes')
>>> spec.key
('subject', 'visit', 'kind')
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from xerotrial.errors import DataValidationError, Problem
from xerotrial.tables import parse_number
from xerotrial.trial.immunology import parse_allele, parse_specificity
from xerotrial.trial.product import evaluate_release
from xerotrial.trial.protocol import GLANDS, Protocol, normalize_gland
from xerotrial.trial.questionnaires import score_qlq_hn35, score_xq
from xerotrial.trial.safety import validate_adverse_events
from xerotrial.trial.saliva import derive_saliva_ions, ion_code
from xerotrial.trial.sialometry import derive_flow_rate

__all__ = [
    "EDUCATION_LEVELS",
    "FORMS",
    "Field",
    "FormSpec",
    "HLA_EXAMPLES",
    "Problem",
    "RACES",
    "SAFETY_LAB_UNITS",
    "hla_columns",
    "INT_MAX",
    "INT_MIN",
    "MAX_ABS_NUMBER",
    "latest_date",
    "parse_cell",
    "format_value",
    "template_frame",
]

Kind = Literal["text", "int", "float", "bool", "date"]

#: The range of an ``int`` field: SQL ``INTEGER`` (32 bits on PostgreSQL).
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
#: The largest magnitude of a number in a form (a float beyond it is a typing error, and its
#: square would overflow in the derivations).
MAX_ABS_NUMBER = 1e15

_YES = {"yes", "y", "true", "1", "t"}
_NO = {"no", "n", "false", "0", "f"}


@dataclass(frozen=True)
class Field:
    """A column of a form: its type, unit, whether it is required, its range or choices.

    ``xpt`` is the SAS transport name (<= 8 characters; default: the upper-cased name).

    >>> Field("grade", "int", lo=1, hi=5).xpt_name
    'GRADE'
    """

    name: str
    kind: Kind
    required: bool = False
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None
    unit: str = ""
    doc: str = ""
    xpt: str | None = None
    normalize: Callable[[str], str | None] | None = None
    max_length: int | None = 200

    @property
    def xpt_name(self) -> str:
        """The column's name in a SAS transport (XPT) file."""
        return self.xpt or self.name.upper()

    def describe(self) -> str:
        """One line for ``xerotrial template --list``."""
        bits = [self.kind]
        if self.unit:
            bits.append(self.unit)
        if self.choices:
            bits.append("one of " + "/".join(self.choices))
        if self.lo is not None or self.hi is not None:
            bits.append(f"range [{_g(self.lo)}, {_g(self.hi)}]")
        bits.append("required" if self.required else "optional")
        return f"{self.name} ({', '.join(bits)})" + (f": {self.doc}" if self.doc else "")


def _g(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


RowCheck = Callable[[dict[str, Any], Protocol], list[tuple[str, Any, str]]]


@dataclass(frozen=True)
class FormSpec:
    """A case report form: fields, natural key, references and row-level checks.

    ``participant_column`` must name a known participant, ``visit_columns`` a known visit
    (subject, visit) of the ``visits`` form; ``refs`` maps a column to ``(form, column)``
    it must exist in. ``row_checks`` see the whole parsed row and the protocol and return
    ``(column, value, rule)`` problems.
    """

    name: str
    title: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    participant_column: str | None = "subject"
    visit_columns: tuple[str, str] | None = None
    refs: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    row_checks: tuple[RowCheck, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """The template's header, in order."""
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        """The field called ``name`` (KeyError if the form has none)."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def describe(self) -> str:
        """A paragraph documenting the template (for ``xerotrial template --list``)."""
        lines = [f"{self.name}: {self.title} (one row per {', '.join(self.key)})"]
        lines += [f"    {f.describe()}" for f in self.fields]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- cell parsing


def _blank(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, float) and math.isnan(raw):
        return True
    if raw is pd.NaT:
        return True
    return isinstance(raw, str) and raw.strip() == ""


def latest_date() -> dt.date:
    """The latest date a form may hold: today where it is latest on Earth (UTC+14).

    >>> latest_date() >= dt.date.today()
    True
    """
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=14)).date()


def parse_cell(f: Field, raw: Any) -> tuple[Any, str | None]:
    """Parse one cell of field ``f``: ``(value, None)`` or ``(None, rule broken)``.

    Accepts text (CSV) and the native values of a spreadsheet. A blank cell is ``None``.

    >>> parse_cell(Field("grade", "int", lo=1, hi=5), "3")
    (3, None)
    >>> parse_cell(Field("grade", "int", lo=1, hi=5), "7")
    (None, 'must be <= 5')
    >>> parse_cell(Field("serious", "bool"), "Yes")
    (True, None)
    """
    if _blank(raw):
        return None, ("required, must not be empty" if f.required else None)
    text = raw.strip() if isinstance(raw, str) else raw
    if f.kind == "text":
        value: Any = str(text).strip() if not isinstance(text, float) else f"{text:g}"
        if f.max_length is not None and len(value) > f.max_length:
            return None, f"must be at most {f.max_length} characters"
        if f.normalize is not None:
            norm = f.normalize(value)
            if norm is None:
                return None, f"not a recognised {f.name}" + (
                    f" (one of {', '.join(f.choices)})" if f.choices else ""
                )
            value = norm
        if f.choices is not None:
            match = {c.casefold(): c for c in f.choices}.get(value.casefold())
            if match is None:
                return None, f"must be one of: {', '.join(f.choices)}"
            value = match
        return value, None
    if f.kind == "bool":
        if isinstance(text, bool):
            return text, None
        key = str(text).strip().casefold()
        if key.endswith(".0"):
            key = key[:-2]
        if key in _YES:
            return True, None
        if key in _NO:
            return False, None
        return None, "must be yes or no (true/false, 1/0)"
    if f.kind == "date":
        if isinstance(text, dt.datetime | pd.Timestamp):
            day = text.date()
        elif isinstance(text, dt.date):
            day = text
        else:
            try:
                day = dt.date.fromisoformat(str(text))
            except ValueError:
                return None, "must be a date YYYY-MM-DD"
        if day > latest_date():
            return None, f"must not be in the future (today is {latest_date()} at the latest)"
        return day, None
    if isinstance(text, bool):
        return None, f"must be a {'whole ' if f.kind == 'int' else ''}number"
    if isinstance(text, int | float):
        x = float(text)
    else:
        x = parse_number(text)
        if x is None and str(text).strip().lstrip("+-").casefold() in ("nan", "inf", "infinity"):
            x = math.inf
        if x is None:
            return None, f"must be a {'whole ' if f.kind == 'int' else ''}number" + (
                f" in {f.unit}" if f.unit else ""
            )
    if not math.isfinite(x) or abs(x) > MAX_ABS_NUMBER:
        return None, f"must be a finite number of magnitude at most {MAX_ABS_NUMBER:g}"
    if f.kind == "int":
        if x != int(x):
            return None, "must be a whole number"
        if not INT_MIN <= x <= INT_MAX:
            return None, f"must be a whole number from {INT_MIN} to {INT_MAX} (SQL INTEGER)"
        value = int(text) if isinstance(text, int) else int(x)
    else:
        value = x
    if f.lo is not None and x < f.lo:
        return None, f"must be >= {f.lo:g}" + (f" {f.unit}" if f.unit else "")
    if f.hi is not None and x > f.hi:
        return None, f"must be <= {f.hi:g}" + (f" {f.unit}" if f.unit else "")
    return value, None


def format_value(value: Any) -> str:
    """A stored value as template text (exact for floats; blank for None).

    >>> [format_value(v) for v in (None, True, 0.1, 3, dt.date(2024, 5, 1))]
    ['', 'yes', '0.1', '3', '2024-05-01']
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def template_frame(form: str) -> pd.DataFrame:
    """An empty DataFrame with the form's header.

    >>> list(template_frame("xq").columns)[:3]
    ['subject', 'visit', 'xq1']
    """
    return pd.DataFrame(columns=list(FORMS[form].columns))


# ----------------------------------------------------------------------------- row checks


def _from_trial(exc: DataValidationError, default: str) -> tuple[str, Any, str]:
    """(column, value, rule) of a trial validator's error, from its fields."""
    if exc.column is not None:
        return exc.column, exc.value, exc.rule or str(exc)
    return default, "", exc.rule or str(exc)


def _trial(fn: Callable[[pd.DataFrame, Protocol], Any], default: str) -> RowCheck:
    def check(row: dict[str, Any], protocol: Protocol) -> list[tuple[str, Any, str]]:
        try:
            fn(pd.DataFrame([row]), protocol)
        except DataValidationError as exc:
            return [_from_trial(exc, default)]
        return []

    return check


def _visit_window(row: dict[str, Any], protocol: Protocol) -> list[tuple[str, Any, str]]:
    try:
        expected = protocol.visit(row["visit"])
    except DataValidationError as exc:
        # the rule without the protocol file's name (read from the message until the protocol's
        # errors carry fields)
        return [("visit", row["visit"], exc.rule or str(exc).split(": ", 1)[-1])]
    day = row["study_day"]
    if not expected.window.contains(day):
        return [
            (
                "study_day",
                day,
                f"outside the window {expected.window} of visit {expected.name!r} (protocol)",
            )
        ]
    return []


def _participant(row: dict[str, Any], protocol: Protocol) -> list[tuple[str, Any, str]]:
    if row["group"] == "control" and row.get("matched_to") is None:
        return [("matched_to", None, "a healthy control names the patient it is matched to")]
    if row["group"] == "patient" and row.get("matched_to") is not None:
        return [
            (
                "matched_to",
                row["matched_to"],
                "only a healthy control is matched to a patient; leave it empty for a patient",
            )
        ]
    return []


def _screening(row: dict[str, Any], protocol: Protocol) -> list[tuple[str, Any, str]]:
    if row["eligible"] is False and row.get("failed_criteria") is None:
        return [("failed_criteria", None, "a screen failure names the criteria not met")]
    if row["eligible"] is True and row.get("failed_criteria") is not None:
        return [
            ("failed_criteria", row["failed_criteria"], "an eligible person has no failed criteria")
        ]
    return []


def _limits(row: dict[str, Any], protocol: Protocol) -> list[tuple[str, Any, str]]:
    out = []
    lo, hi = row.get("lower_limit"), row.get("upper_limit")
    if lo is not None and hi is not None and lo > hi:
        out.append(("upper_limit", hi, f"must be >= lower_limit ({lo:g})"))
    test, unit = row["test"], row["unit"]
    units = SAFETY_LAB_UNITS.get(test)
    if units is not None and unit not in units:
        out.append(("unit", unit, f"unit of {test} is one of: {', '.join(units)}"))
    return out


def _alleles(row: dict[str, Any], protocol: Protocol) -> list[tuple[str, Any, str]]:
    out = []
    for name, value in row.items():
        if not name.startswith("hla_") or value is None:
            continue
        locus = name[4:].rsplit("_", 1)[0].upper()
        try:
            allele = parse_allele(value, locus)
        except (DataValidationError, ValueError) as exc:
            out.append((name, value, getattr(exc, "rule", None) or str(exc)))
            continue
        if allele.locus != locus:
            out.append(
                (
                    name,
                    value,
                    f"not an HLA-{locus} allele (this column is locus "
                    f"{locus}; {allele} is at {allele.locus})",
                )
            )
    return out


def _specificity(row: dict[str, Any], protocol: Protocol) -> list[tuple[str, Any, str]]:
    try:
        parse_specificity(row["specificity"])
    except (DataValidationError, ValueError) as exc:
        return [("specificity", row["specificity"], getattr(exc, "rule", None) or str(exc))]
    return []


def _release(df: pd.DataFrame, protocol: Protocol) -> Any:
    return evaluate_release(df)


def _ae(df: pd.DataFrame, protocol: Protocol) -> Any:
    df = df.copy()
    for c in ("sae_criteria",):
        df[c] = df[c].fillna("")
    return validate_adverse_events(df)


def _gland(text: str) -> str | None:
    try:
        g = normalize_gland(text)
    except (DataValidationError, ValueError, KeyError):
        return None
    return g if g in GLANDS else None


def _ion(text: str) -> str | None:
    return ion_code(text)


#: Safety-lab tests with a fixed list of units (other test names are accepted with any unit).
SAFETY_LAB_UNITS: dict[str, tuple[str, ...]] = {
    "haemoglobin": ("g/dL", "g/L", "mmol/L"),
    "leukocytes": ("10^9/L",),
    "neutrophils": ("10^9/L",),
    "lymphocytes": ("10^9/L",),
    "platelets": ("10^9/L",),
    "creatinine": ("umol/L", "mg/dL"),
    "alt": ("U/L",),
    "ast": ("U/L",),
    "crp": ("mg/L",),
    "amylase": ("U/L",),
}


#: Race categories of the participants form (CDISC SDTM RACE terms, written in mixed case).
RACES: tuple[str, ...] = (
    "White",
    "Black or African American",
    "Asian",
    "American Indian or Alaska Native",
    "Native Hawaiian or Other Pacific Islander",
    "Multiple",
    "Other",
    "Unknown",
)

#: Education levels of the participants form: highest level completed, ISCED 2011 grouped
#: as Eurostat does (low: levels 0-2, up to lower secondary; medium: 3-4, upper secondary and
#: post-secondary non-tertiary; high: 5-8, tertiary).
EDUCATION_LEVELS: tuple[str, ...] = ("low", "medium", "high")

#: An example allele of every HLA locus the donors were typed at (``immunology.HLA_LOCI``).
HLA_EXAMPLES: dict[str, str] = {
    "A": "A*02:01",
    "B": "B*07:02",
    "C": "C*07:02",
    "DRB1": "DRB1*15:01",
    "DRB3": "DRB3*02:02",
    "DRB4": "DRB4*01:03",
    "DRB5": "DRB5*01:01",
    "DQA1": "DQA1*01:02",
    "DQB1": "DQB1*06:02",
    "DPA1": "DPA1*01:03",
    "DPB1": "DPB1*04:01",
}


def hla_columns(locus: str) -> tuple[str, str]:
    """The donors form's two columns of an HLA locus.

    >>> hla_columns("DRB3")
    ('hla_drb3_1', 'hla_drb3_2')
    """
    return f"hla_{locus.lower()}_1", f"hla_{locus.lower()}_2"


#: What the seed trial's forms need beyond their study definition: the functions that
#: normalise a cell, and the row checks that need the trial's code. Everything else — types,
#: limits, units, choices, labels, keys, references, XPT names — is the seed study's definition
#: (``data/studies/seed/study.toml``), the one source of those facts.
_NORMALIZE: dict[tuple[str, str], Callable[[str], str | None]] = {
    ("saliva_ions", "ion"): _ion,
    ("administrations", "gland"): _gland,
    ("scintigraphy", "gland"): _gland,
}
#: Text fields stored without a length limit (a list of criteria).
_UNLIMITED = frozenset({("screening", "failed_criteria")})
#: The length limit of any other text field (SQL ``VARCHAR(200)``).
TEXT_LENGTH = 200
_ROW_CHECKS: dict[str, tuple[RowCheck, ...]] = {
    "participants": (_participant,),
    "screening": (_screening,),
    "visits": (_visit_window,),
    "sialometry": (_trial(lambda df, p: derive_flow_rate(df, p), "cup_after_g"),),
    "saliva_ions": (_trial(lambda df, p: derive_saliva_ions(df, p), "value_mmol_l"),),
    "qlq_hn35": (_trial(lambda df, p: score_qlq_hn35(df, id_column="subject"), "hn31"),),
    "xq": (_trial(lambda df, p: score_xq(df, id_column="subject"), "xq1"),),
    "adverse_events": (_trial(_ae, "term"),),
    "donors": (_alleles,),
    "batches": (_trial(_release, "viability"),),
    "hla_antibodies": (_specificity,),
    "safety_labs": (_limits,),
}
_KINDS: dict[str, Kind] = {
    "integer": "int",
    "decimal": "float",
    "yesno": "bool",
    "date": "date",
    "text": "text",
    "choice": "text",
}


def _seed_forms() -> dict[str, FormSpec]:
    """The seed trial's forms from its study definition (and :data:`_ROW_CHECKS`)."""
    from xerotrial.study import SEED_STUDY, load_study

    out = {}
    for form in load_study(SEED_STUDY).forms:
        fields = tuple(
            Field(
                f.name,
                _KINDS[f.type],
                required=f.required,
                lo=f.lo,
                hi=f.hi,
                choices=tuple(f.choices) or None,
                unit=f.unit,
                doc=f.label,
                xpt=f.xpt,
                normalize=_NORMALIZE.get((form.name, f.name)),
                max_length=None
                if (form.name, f.name) in _UNLIMITED
                else (f.max_length or TEXT_LENGTH),
            )
            for f in form.fields
        )
        out[form.name] = FormSpec(
            form.name,
            form.title,
            fields,
            form.key,
            participant_column=form.participant,
            visit_columns=form.visit_columns,
            refs={c: tuple(t.split(".", 1)) for c, t in form.refs.items()},  # type: ignore[misc]
            row_checks=_ROW_CHECKS.get(form.name, ()),
        )
    return out


#: The forms by name, in the order they are imported (references point backwards).
FORMS: dict[str, FormSpec] = _seed_forms()
