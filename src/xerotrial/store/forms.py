"""The case report forms: one :class:`FormSpec` per form, the single source of the store.

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
from xerotrial.trial.immunology import HLA_LOCI, parse_allele, parse_specificity
from xerotrial.trial.product import evaluate_release
from xerotrial.trial.protocol import GLANDS, SALIVA_KINDS, Protocol, normalize_gland
from xerotrial.trial.questionnaires import HN35_ITEMS, XQ_ITEMS, score_qlq_hn35, score_xq
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


def _id(name: str, doc: str = "", xpt: str | None = None) -> Field:
    return Field(name, "text", required=True, doc=doc, xpt=xpt)


SUBJECT = _id("subject", "participant id")
VISIT = _id("visit", "protocol visit name (day0, day1, day5, day30, day120, year2)")
KIND = Field(
    "kind",
    "text",
    required=True,
    choices=SALIVA_KINDS,
    doc="UWS unstimulated / SWS stimulated whole saliva",
)

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


def _items(names: tuple[str, ...], lo: int, hi: int, yes_no_from: int | None = None):
    out = []
    for n in names:
        top = 2 if yes_no_from is not None and int(n[2:]) >= yes_no_from else hi
        out.append(Field(n, "int", lo=lo, hi=top))
    return tuple(out)


_FORM_LIST: tuple[FormSpec, ...] = (
    FormSpec(
        "sites",
        "trial sites (centres)",
        (
            _id("site", "site code (participants refer to it)"),
            Field("name", "text", doc="name of the site"),
            Field("country", "text", doc="country, e.g. DK or Denmark"),
        ),
        ("site",),
        participant_column=None,
    ),
    FormSpec(
        "participants",
        "patients and healthy controls, with the matching",
        (
            SUBJECT,
            _id("site", "site code (sites form)"),
            Field("group", "text", required=True, choices=("patient", "control")),
            Field("sex", "text", required=True, choices=("F", "M")),
            Field("age_years", "int", required=True, lo=18, hi=100, unit="years", xpt="AGEYEARS"),
            Field(
                "race",
                "text",
                choices=RACES,
                doc="CDISC race term; controls are matched on it (with age +-5 years, sex "
                "and education)",
            ),
            Field(
                "education",
                "text",
                choices=EDUCATION_LEVELS,
                xpt="EDUC",
                doc="highest level completed, ISCED 2011 0-2 low, 3-4 medium, 5-8 high; "
                "controls are matched on it",
            ),
            Field(
                "matched_to", "text", doc="controls: the patient they are matched to", xpt="MATCHTO"
            ),
            Field(
                "enrolment_order", "int", lo=1, doc="patients: order of enrolment", xpt="ENRORDER"
            ),
        ),
        ("subject",),
        participant_column=None,
        refs={"site": ("sites", "site"), "matched_to": ("participants", "subject")},
        row_checks=(_participant,),
    ),
    FormSpec(
        "screening",
        "screening results (screening log)",
        (
            _id("screening_id", "screening number", xpt="SCREENID"),
            Field("subject", "text", doc="participant id once enrolled"),
            Field("screening_date", "date", required=True, xpt="SCRDATE"),
            Field("eligible", "bool", required=True),
            Field(
                "failed_criteria",
                "text",
                doc="criteria not met, separated by ';'",
                xpt="FAILCRIT",
                max_length=None,
            ),
        ),
        ("screening_id",),
        row_checks=(_screening,),
    ),
    FormSpec(
        "visits",
        "visits with their actual study days (day 0 = injection)",
        (
            SUBJECT,
            VISIT,
            Field("study_day", "int", required=True, lo=-365, hi=3650, unit="days", xpt="STUDYDAY"),
            Field("visit_date", "date", xpt="VISDATE"),
        ),
        ("subject", "visit"),
        row_checks=(_visit_window,),
    ),
    FormSpec(
        "sialometry",
        "whole-saliva samples: cup weights and collection time",
        (
            SUBJECT,
            VISIT,
            KIND,
            Field("cup_before_g", "float", required=True, lo=0, unit="g", xpt="CUPBEFG"),
            Field("cup_after_g", "float", required=True, lo=0, unit="g", xpt="CUPAFTG"),
            Field("minutes", "float", required=True, lo=0.1, hi=60, unit="min"),
        ),
        ("subject", "visit", "kind"),
        visit_columns=("subject", "visit"),
        row_checks=(_trial(lambda df, p: derive_flow_rate(df, p), "cup_after_g"),),
    ),
    FormSpec(
        "saliva_ions",
        "ion concentrations in saliva",
        (
            SUBJECT,
            VISIT,
            KIND,
            Field(
                "ion",
                "text",
                required=True,
                normalize=_ion,
                choices=("Na", "K", "Cl", "PO4"),
                doc="Na, K, Cl or PO4 (aliases such as sodium accepted)",
            ),
            Field("value_mmol_l", "float", required=True, lo=0, unit="mmol/L", xpt="VALMMOLL"),
        ),
        ("subject", "visit", "kind", "ion"),
        visit_columns=("subject", "visit"),
        row_checks=(_trial(lambda df, p: derive_saliva_ions(df, p), "value_mmol_l"),),
    ),
    FormSpec(
        "qlq_hn35",
        "EORTC QLQ-H&N35 answers, item level (hn31-60: 1-4; hn61-65: 1 no, 2 yes)",
        (SUBJECT, VISIT, *_items(HN35_ITEMS, 1, 4, yes_no_from=61)),
        ("subject", "visit"),
        visit_columns=("subject", "visit"),
        row_checks=(_trial(lambda df, p: score_qlq_hn35(df, id_column="subject"), "hn31"),),
    ),
    FormSpec(
        "xq",
        "Xerostomia Questionnaire answers, item level (0-10)",
        (SUBJECT, VISIT, *_items(XQ_ITEMS, 0, 10)),
        ("subject", "visit"),
        visit_columns=("subject", "visit"),
        row_checks=(_trial(lambda df, p: score_xq(df, id_column="subject"), "xq1"),),
    ),
    FormSpec(
        "adverse_events",
        "adverse events (CTCAE v5.0 term and grade, ICH E2A seriousness)",
        (
            _id("ae_id", "adverse event number"),
            SUBJECT,
            Field("term", "text", required=True, doc="CTCAE v5.0 term"),
            Field("grade", "int", required=True, lo=1, hi=5),
            Field("serious", "bool", required=True),
            Field("sae_criteria", "text", doc="ICH E2A criteria separated by ';'", xpt="SAECRIT"),
            Field(
                "related",
                "text",
                required=True,
                doc="related / not related or definite, probable, possible, unlikely",
            ),
            Field("onset_day", "int", required=True, lo=0, unit="days", xpt="ONSETDAY"),
        ),
        ("ae_id",),
        row_checks=(_trial(_ae, "term"),),
    ),
    FormSpec(
        "donors",
        "cell donors and their HLA typing (two alleles per locus)",
        (
            _id("donor", "donor id"),
            Field("sex", "text", choices=("F", "M")),
            Field("age_years", "int", lo=16, hi=100, unit="years", xpt="AGEYEARS"),
            *(
                Field(
                    column,
                    "text",
                    xpt=f"{locus}_{i}",
                    doc=f"HLA-{locus} allele {i}, e.g. {HLA_EXAMPLES[locus]}",
                )
                for locus in HLA_LOCI
                for i, column in enumerate(hla_columns(locus), start=1)
            ),
        ),
        ("donor",),
        participant_column=None,
        row_checks=(_alleles,),
    ),
    FormSpec(
        "batches",
        "cell batches and their release results (certificate of analysis)",
        (
            _id("batch", "batch id"),
            _id("donor", "donor id (donors form)"),
            *(
                Field(c, "float", lo=0, hi=100, unit="%", xpt=x)
                for c, x in (
                    ("viability", "VIABLE"),
                    ("cd90", "CD90"),
                    ("cd105", "CD105"),
                    ("cd73", "CD73"),
                    ("cd45", "CD45"),
                    ("hla_dr", "HLADR"),
                )
            ),
            *(
                Field(c, "text", choices=("negative", "positive"), xpt=x)
                for c, x in (
                    ("sterility", "STERILTY"),
                    ("mycoplasma", "MYCOPLAS"),
                    ("endotoxin", "ENDOTOXN"),
                    ("donor_serology", "SEROLOGY"),
                )
            ),
        ),
        ("batch",),
        participant_column=None,
        refs={"donor": ("donors", "donor")},
        row_checks=(_trial(_release, "viability"),),
    ),
    FormSpec(
        "administrations",
        "injections: gland, cells, volume and batch",
        (
            SUBJECT,
            Field(
                "gland",
                "text",
                required=True,
                normalize=_gland,
                choices=tuple(GLANDS),
                doc="left/right parotid or submandibular",
            ),
            _id("batch", "batch id (batches form)"),
            Field(
                "study_day",
                "int",
                required=True,
                lo=0,
                hi=0,
                unit="days",
                xpt="STUDYDAY",
                doc="0: the day of the injections",
            ),
            Field(
                "million_cells",
                "float",
                required=True,
                lo=0,
                hi=1000,
                unit="10^6 cells",
                xpt="MCELLS",
            ),
            Field("volume_ml", "float", required=True, lo=0, hi=20, unit="mL", xpt="VOLUMEML"),
        ),
        ("subject", "gland"),
        refs={"batch": ("batches", "batch")},
    ),
    FormSpec(
        "hla_antibodies",
        "HLA antibody results (Luminex single antigen, MFI)",
        (
            SUBJECT,
            Field("study_day", "int", required=True, lo=-365, hi=3650, unit="days", xpt="STUDYDAY"),
            Field("specificity", "text", required=True, doc="e.g. A*02:01, DR4", xpt="SPECIF"),
            Field("mfi", "float", required=True, lo=0, hi=100000, unit="MFI"),
        ),
        ("subject", "study_day", "specificity"),
        row_checks=(_specificity,),
    ),
    FormSpec(
        "scintigraphy",
        "salivary gland scintigraphy per gland",
        (
            SUBJECT,
            VISIT,
            Field("gland", "text", required=True, normalize=_gland, choices=tuple(GLANDS)),
            Field("uptake_score", "int", lo=0, hi=4, xpt="UPTAKE"),
            Field("excretion_fraction_pct", "float", lo=0, hi=100, unit="%", xpt="EXCRFRAC"),
        ),
        ("subject", "visit", "gland"),
        visit_columns=("subject", "visit"),
    ),
    FormSpec(
        "safety_labs",
        "safety laboratory results",
        (
            SUBJECT,
            VISIT,
            _id("test", "e.g. " + ", ".join(list(SAFETY_LAB_UNITS)[:4])),
            Field("value", "float", required=True),
            _id("unit", "unit of the value"),
            Field("lower_limit", "float", xpt="LOWLIM"),
            Field("upper_limit", "float", xpt="UPLIM"),
        ),
        ("subject", "visit", "test"),
        visit_columns=("subject", "visit"),
        row_checks=(_limits,),
    ),
)

#: The forms by name, in the order they are imported (references point backwards).
FORMS: dict[str, FormSpec] = {f.name: f for f in _FORM_LIST}
