"""The ``[submission]`` section of a study definition: what SDTM and ADaM need beyond the forms.

The fields carry their SDTM annotations (``sdtm = "DOMAIN.VARIABLE"``); this section says what
no field can: the trial summary (phase, indication, treatment, blinding), the arm of a study
without allocation, the study day of the first treatment in the definition's day numbers
(SDTM has no day 0), the labels of the sponsor's custom domains (codes starting with X, Y or
Z, SDTMIG 3.4 section 2.6), the category (``--CAT``) of each findings form, the test codes of
long findings forms (``[submission.tests.LB] haemoglobin = ["HGB", "Hemoglobin"]``), and
recodings of collected values to CDISC controlled terminology
(``[submission.values."DM.SEX"] "1" = "F"``).

Example
-------
>>> from xerotrial.study import SEED_STUDY, load_study
>>> plan = load_study(SEED_STUDY).submission
>>> plan.phase, plan.first_dose_day, plan.domains["XS"]
('PHASE I TRIAL', 0, 'Sialometry')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "CUSTOM_PREFIXES",
    "STANDARD_DOMAINS",
    "SUBMISSION_KEYS",
    "SubmissionPlan",
    "build_submission",
    "wide_test_code",
]

SUBMISSION_KEYS = (
    "phase",
    "indication",
    "treatment",
    "blinding",
    "first_dose_day",
    "arm",
    "domains",
    "categories",
    "tests",
    "values",
)
#: The SDTMIG 3.4 domains xerotrial writes from annotated fields, with their labels.
STANDARD_DOMAINS: Mapping[str, str] = MappingProxyType(
    {
        "DM": "Demographics",
        "AE": "Adverse Events",
        "EX": "Exposure",
        "DS": "Disposition",
        "SV": "Subject Visits",
        "LB": "Laboratory Test Results",
        "QS": "Questionnaires",
    }
)
#: SDTMIG 3.4 section 2.6: custom domain codes start with X, Y or Z.
CUSTOM_PREFIXES = ("X", "Y", "Z")
#: SDTM Trial Phase Classification (codelist TPHASE, C66737), the values a trial may take.
PHASES = (
    "PHASE 0 TRIAL",
    "PHASE I TRIAL",
    "PHASE I/II TRIAL",
    "PHASE II TRIAL",
    "PHASE II/III TRIAL",
    "PHASE III TRIAL",
    "PHASE IV TRIAL",
    "NOT APPLICABLE",
)
#: SDTM Trial Blinding Schema (codelist TBLIND, C66735).
BLINDING = ("OPEN LABEL", "SINGLE BLIND", "DOUBLE BLIND", "TRIPLE BLIND")

_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
_DOMAIN = re.compile(r"^[A-Z]{2}$")
_ARMCD = re.compile(r"^[A-Z][A-Z0-9_]{0,19}$")


@dataclass(frozen=True)
class SubmissionPlan:
    """The checked ``[submission]`` section (see the module docstring)."""

    phase: str = "NOT APPLICABLE"
    indication: str = ""
    treatment: str = ""
    blinding: str = "OPEN LABEL"
    first_dose_day: int = 0
    #: (ARMCD, ARM) of a study without allocation: its analysis population's arm
    arm: tuple[str, str] | None = None
    domains: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    categories: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: domain -> collected value -> (TESTCD, TEST)
    tests: Mapping[str, Mapping[str, tuple[str, str]]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    #: "DOMAIN.VARIABLE" -> collected value -> submission value
    values: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))

    def domain_label(self, domain: str) -> str:
        """The label of a standard or custom domain ("" if neither)."""
        return STANDARD_DOMAINS.get(domain) or self.domains.get(domain, "")

    def recode(self, variable: str, value: Any) -> Any:
        """``value`` of ``DOMAIN.VARIABLE`` in its submission terms (unchanged if unlisted)."""
        table = self.values.get(variable)
        if table is None or value is None:
            return value
        return table.get(str(value), value)

    def as_table(self) -> dict[str, Any]:
        """The section as its TOML table (defaults left out)."""
        out: dict[str, Any] = {}
        default = SubmissionPlan()
        for key in ("phase", "indication", "treatment", "blinding", "first_dose_day"):
            if getattr(self, key) != getattr(default, key):
                out[key] = getattr(self, key)
        if self.arm is not None:
            out["arm"] = {"code": self.arm[0], "label": self.arm[1]}
        for key in ("domains", "categories"):
            if getattr(self, key):
                out[key] = dict(getattr(self, key))
        if self.tests:
            out["tests"] = {d: {k: list(v) for k, v in t.items()} for d, t in self.tests.items()}
        if self.values:
            out["values"] = {k: dict(v) for k, v in self.values.items()}
        return out


def wide_test_code(f: Any) -> str:
    """The ``--TESTCD`` of a field that is one test of a wide findings form: its XPT name,
    else its upper-cased name."""
    return f.xpt or f.name.upper()


def _annotations(forms: Mapping[str, Any]) -> dict[str, list[tuple[str, Any]]]:
    """Domain -> [(form name, field)] of every annotated field."""
    out: dict[str, list[tuple[str, Any]]] = {}
    for name, form in forms.items():
        for f in form.fields if form is not None else ():
            if f.sdtm:
                out.setdefault(f.sdtm.split(".", 1)[0], []).append((name, f))
    return out


def build_submission(c: Any, raw: Any, forms: Mapping[str, Any]) -> SubmissionPlan | None:
    """The checked section (None when the definition has none); problems go to the checker
    ``c`` (:class:`xerotrial.study.check._Checker`)."""
    annotated = _annotations(forms)
    path = ("submission",)
    if raw is None:
        custom = [d for d in annotated if d not in STANDARD_DOMAINS]
        if custom:
            c.problem(path, f"the custom domains {custom} need [submission.domains] labels")
        return None
    t = c.table(raw, path, SUBMISSION_KEYS)
    phase = c.get(t, "phase", path, "str", "NOT APPLICABLE")
    if phase not in PHASES:
        c.problem((*path, "phase"), f"phase {phase!r}: one of {', '.join(PHASES)}", phase)
    blinding = c.get(t, "blinding", path, "str", "OPEN LABEL")
    if blinding not in BLINDING:
        c.problem((*path, "blinding"), f"blinding {blinding!r}: one of {', '.join(BLINDING)}")
    arm = None
    if "arm" in t:
        a = c.table(t["arm"], (*path, "arm"), ("code", "label"))
        code = c.get(a, "code", (*path, "arm"), "str", "", required=True)
        label = c.get(a, "label", (*path, "arm"), "str", "", required=True)
        if code and not _ARMCD.match(code):
            c.problem((*path, "arm", "code"), "ARMCD: 1-20 upper-case letters, digits, _", code)
        arm = (code, label)
    domains = {}
    for code, label in c.table(t.get("domains"), (*path, "domains"), None).items():
        here = (*path, "domains", code)
        if not _DOMAIN.match(str(code)) or str(code)[0] not in CUSTOM_PREFIXES:
            c.problem(here, f"custom domain {code!r}: two capitals starting with X, Y or Z", code)
        if not isinstance(label, str) or not 0 < len(label) <= 40:
            c.problem(here, "a domain label of 1-40 characters", label)
        domains[str(code)] = str(label)
    for d, uses in annotated.items():
        if d not in STANDARD_DOMAINS and d not in domains:
            form, f = uses[0]
            c.problem(
                ("forms", form, "fields", f.name, "sdtm"),
                f"domain {d} is neither an SDTMIG domain xerotrial writes "
                f"({', '.join(STANDARD_DOMAINS)}) nor in [submission.domains]",
                f.sdtm,
            )
    categories = {}
    for form, cat in c.table(t.get("categories"), (*path, "categories"), None).items():
        if form not in forms:
            c.problem((*path, "categories", form), f"form {form!r} is not defined", form)
        if not isinstance(cat, str) or not 0 < len(cat) <= 200:
            c.problem((*path, "categories", form), "a category of 1-200 characters", cat)
        categories[str(form)] = str(cat)
    tests: dict[str, dict[str, tuple[str, str]]] = {}
    for d, table in c.table(t.get("tests"), (*path, "tests"), None).items():
        here = (*path, "tests", d)
        tests[str(d)] = {}
        for value, pair in c.table(table, here, None).items():
            ok = (
                isinstance(pair, list)
                and len(pair) == 2
                and all(isinstance(x, str) for x in pair)
                and _CODE.match(pair[0])
                and 0 < len(pair[1]) <= 40
            )
            if not ok:
                c.problem(
                    (*here, value),
                    "[TESTCD, TEST]: a code of 1-8 capitals, digits or _, a name of 1-40 "
                    "characters",
                    pair,
                )
                continue
            tests[str(d)][str(value)] = (pair[0], pair[1])
    values = {}
    variables = {f.sdtm for uses in annotated.values() for _, f in uses}
    for var, table in c.table(t.get("values"), (*path, "values"), None).items():
        here = (*path, "values", var)
        if var not in variables:
            c.problem(here, f"no field is annotated {var!r}", var)
        values[str(var)] = {str(k): str(v) for k, v in c.table(table, here, None).items()}
    _check_wide_codes(c, forms)
    first = c.get(t, "first_dose_day", path, "int", 0)
    return SubmissionPlan(
        phase=phase,
        indication=c.get(t, "indication", path, "str", ""),
        treatment=c.get(t, "treatment", path, "str", ""),
        blinding=blinding,
        first_dose_day=first,
        arm=arm,
        domains=MappingProxyType(domains),
        categories=MappingProxyType(categories),
        tests=MappingProxyType({k: MappingProxyType(v) for k, v in tests.items()}),
        values=MappingProxyType({k: MappingProxyType(v) for k, v in values.items()}),
    )


def _check_wide_codes(c: Any, forms: Mapping[str, Any]) -> None:
    """A field that is one test of a wide findings form (``--ORRES`` without a ``--TESTCD``
    field in its form) needs a test code of at most 8 characters."""
    for name, form in forms.items():
        if form is None:
            continue
        marks = {f.sdtm for f in form.fields if f.sdtm}
        for f in form.fields:
            if not f.sdtm or not f.sdtm.endswith("ORRES"):
                continue
            d = f.sdtm.split(".", 1)[0]
            if f"{d}.{d}TESTCD" in marks:
                continue
            code = wide_test_code(f)
            if not _CODE.match(code):
                c.problem(
                    ("forms", name, "fields", f.name, "xpt"),
                    f"the field is test {code!r} of {d}; a test code is 1-8 capitals, digits "
                    "or _ (give the field an xpt name)",
                    code,
                )
