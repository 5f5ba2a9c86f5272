"""SDTM (SDTMIG 3.4) datasets from a store, by its definition's annotations.

Each field annotated ``DOMAIN.VARIABLE`` feeds that variable; what no field can say is in the
definition's ``[submission]`` section (:mod:`xerotrial.study.submission`).

* **DM**: one record per subject; the fields annotated ``DM.*`` (AGE with AGEU "YEARS",
  SEX, RACE, ...), the arm (:meth:`~.context.StudyContext.arm`; ARMNRS "NOT ASSIGNED"
  without one), COUNTRY as ISO 3166-1 alpha-3 from the site's country, RFSTDTC the date of the
  first treatment's visit, RFENDTC the last visit's date.
* **AE**: one record per row of the form annotated ``AE.*``; AEDECOD and AEBODSYS are the
  CTCAE v5.0 term and the MedDRA SOC that CTCAE gives it (:mod:`xerotrial.trial.ctcae`).
* **EX**: one record per row of the form annotated ``EX.*``; EXTRT the ``[submission]``
  treatment (or the arm's label), EXDOSU the dose field's unit.
* **DS**: RANDOMIZED (protocol milestone) for an allocated subject; the records of a
  disposition form annotated ``DS.*`` (DSTERM, and DSDECOD, DSCAT, DSSTDTC or DSSTDY where
  it has them); for an assigned subject without one, COMPLETED when seen at the last visit
  with forms due, else DSDECOD "OTHER" with the last visit seen in DSTERM.
* **SV**: a subject's visits, from the visit-date form where there is one, else every visit
  with a record.
* **Findings** (LB, QS, and the custom domains): a form with a ``--TESTCD`` field is long (one
  record per row; the value's code and name from ``[submission.tests.DOMAIN]``); otherwise
  each field annotated ``--ORRES`` is one test (its XPT name the code, its label the name;
  a missing answer is --STAT "NOT DONE"). --CAT is the form's ``[submission.categories]``
  entry, units the fields' units, --LOBXFL the baseline visit's result.
* **SUPP--**: every field of a mapped form that holds data, has no annotation and is not the
  subject or visit: one record per value (QNAM its XPT name, QLABEL its label).

:func:`sdtm_datasets` returns the datasets and the notes of what it did not map (forms with
no annotation), so nothing is left out without a word.

Example
-------
>>> import tempfile, os
>>> from xerotrial.store.study_store import init_study_store
>>> from xerotrial.store.engine import open_store
>>> from xerotrial.study import SEED_STUDY
>>> db = os.path.join(tempfile.mkdtemp(), "s.db"); _ = init_study_store(db, SEED_STUDY)
>>> with open_store(db).connect() as conn:
...     result = sdtm_datasets(conn)
>>> [d.name for d in result.datasets][:3]
['DM', 'TS', 'TA']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from xerotrial.errors import DataValidationError
from xerotrial.study.model import Field, Form, StudyDefinition
from xerotrial.study.submission import wide_test_code

from . import sdtm_terms
from .context import StudyContext, annotated, iso
from .datasets import Dataset, Variable
from .trial_design import trial_design

__all__ = ["SdtmResult", "sdtm_datasets"]

SDTMIG = "SDTMIG 3.4"
_QNAM = re.compile(r"^[A-Z_][A-Z0-9_]{0,7}$")
#: The general observation class of each standard domain.
CLASSES = {
    "DM": "SPECIAL PURPOSE",
    "SV": "SPECIAL PURPOSE",
    "AE": "EVENTS",
    "DS": "EVENTS",
    "EX": "INTERVENTIONS",
}


@dataclass
class SdtmResult:
    """The datasets, in the order written, and what was not mapped (one line each)."""

    datasets: list[Dataset]
    notes: list[str] = field(default_factory=list)
    #: (dataset, variable) whose required values may be empty, each said in ``notes``
    waived: set[tuple[str, str]] = field(default_factory=set)


@dataclass(frozen=True)
class Col:
    """A column to build: name, type, origin, source (``FORM.FIELD``) or method."""

    name: str
    type: str = "text"
    origin: str = "Derived"
    source: str = ""
    method: str = ""


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and pd.isna(v)) or v == ""


def _text(v: Any) -> str | None:
    if _blank(v):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def build(
    ctx: StudyContext,
    domain: str,
    records: list[dict],
    cols: Sequence[Col],
    keys: Sequence[str],
    sort: Sequence[str],
    structure: str,
    klass: str | None = None,
    label: str | None = None,
) -> Dataset:
    """A dataset of ``records`` with ``cols``: --SEQ numbered per subject in ``sort`` order;
    a permissible variable with no value anywhere is left out."""
    frame = pd.DataFrame(records, columns=[c.name for c in cols])
    if not frame.empty:
        frame = frame.sort_values(list(sort), kind="stable", na_position="first")
        seq = f"{domain}SEQ"
        if seq in frame:
            frame[seq] = frame.groupby("USUBJID", sort=False).cumcount() + 1
    frame = frame.reset_index(drop=True)
    variables = []
    keep = []
    for c in cols:
        core = sdtm_terms.core(domain, c.name)
        if core == "Perm" and frame[c.name].map(_blank).all():
            continue
        keep.append(c.name)
        variables.append(
            Variable(
                c.name,
                sdtm_terms.label(domain, c.name),
                c.type,
                c.origin,
                c.source,
                c.method,
                core=core,
            )
        )
    for c in cols:
        if c.type in ("integer", "float") and c.name in keep:
            frame[c.name] = pd.to_numeric(frame[c.name])
    return Dataset(
        domain,
        label or ctx.plan.domain_label(domain),
        klass or CLASSES.get(domain, "FINDINGS"),
        structure,
        tuple(keys),
        tuple(variables),
        frame[keep],
        SDTMIG,
    )


def _row_id(form: Form, r: dict) -> str:
    """A form row by its key (``subject=P01, visit=day0, test=alt``), as the audit names it."""
    key = form.key or ("subject", "visit", "instance")
    return ", ".join(f"{k}={r.get(k)}" for k in key if k in r)


def _src(form: Form, f: Field) -> str:
    return f"{form.name}.{f.name}"


# ------------------------------------------------------------------------------------ DM


def _dm(ctx: StudyContext, supp: list[dict] | None) -> Dataset:
    import pycountry

    forms = ctx.forms_of("DM")
    values: dict[str, dict[str, Any]] = {s: {} for s in ctx.subjects}
    extra: list[Col] = []
    fixed = {"SUBJID", "SITEID", "AGE", "SEX", "RACE"}
    for form in forms:
        marks = annotated(form, "DM")
        for var, f in marks.items():
            if var not in fixed and var not in {c.name for c in extra}:
                extra.append(Col(var, "float" if f.numeric else "text", "Collected", _src(form, f)))
        rows = ctx.form(form.name)
        for r in rows.to_dict("records"):
            s = str(r["subject"])
            for var, f in marks.items():
                values.setdefault(s, {})[var] = ctx.plan.recode(f"DM.{var}", r.get(f.name))
        _supp(ctx, "DM", form, rows, {f.name for f in marks.values()}, supp, idvar=None)
    age_src = next(
        (_src(f, annotated(f, "DM")["AGE"]) for f in forms if "AGE" in annotated(f, "DM")), ""
    )
    sex_src = next(
        (_src(f, annotated(f, "DM")["SEX"]) for f in forms if "SEX" in annotated(f, "DM")), ""
    )
    race = any("RACE" in annotated(f, "DM") for f in forms)
    last = {}
    for (s, _v), d in ctx.visit_dates.items():
        last[s] = max(last.get(s, d), d)
    records = []
    for s, info in ctx.subjects.items():
        v = values.get(s, {})
        arm = ctx.arm(s)
        code = str(info.get("site"))
        given = ctx.site_country(code)
        country = None
        if not given:
            ctx.problems.append(
                f"subject {s}: its site {code!r} has no country (the definition's "
                f"[study.sites.{code}] country, or the sites form); SDTM's DM.COUNTRY is "
                "required"
            )
        else:
            try:
                country = pycountry.countries.lookup(given).alpha_3
            except LookupError:
                ctx.problems.append(
                    f"site {code!r}: country {given!r} is not an ISO 3166 country (a code "
                    "such as DK or DNK, or a name such as Denmark)"
                )
        nrs = None
        if arm.code is None and not ctx.assigned(s):
            nrs = "NOT ASSIGNED"
        rec = {
            "STUDYID": ctx.studyid,
            "DOMAIN": "DM",
            "USUBJID": ctx.usubjid(s),
            "SUBJID": s,
            "RFSTDTC": iso(ctx.reference_start.get(s)) or None,
            "RFENDTC": iso(last.get(s)) or None,
            "SITEID": info.get("site"),
            "AGE": v.get("AGE"),
            "AGEU": "YEARS" if not _blank(v.get("AGE")) else None,
            "SEX": v.get("SEX"),
            "RACE": v.get("RACE"),
            "ARMCD": arm.code,
            "ARM": arm.label,
            "ACTARMCD": arm.code,
            "ACTARM": arm.label,
            "ARMNRS": nrs,
            "COUNTRY": country,
        }
        rec.update({c.name: v.get(c.name) for c in extra})
        records.append(rec)
    arm_method = (
        "The arm of the subject's allocation (concealed while the study is blinded)"
        if ctx.study_store
        else "The [submission] arm for the analysis population; none for other subjects"
    )
    cols = [
        Col("STUDYID", origin="Assigned"),
        Col("DOMAIN", origin="Assigned"),
        Col("USUBJID", method="STUDYID-SUBJID"),
        Col("SUBJID", origin="Collected", source="subject"),
        Col("RFSTDTC", method="Date of the visit on the day of the first treatment"),
        Col("RFENDTC", method="Date of the subject's last visit"),
        Col("SITEID", origin="Collected", source="site"),
        Col("AGE", "float", "Collected", age_src),
        Col("AGEU", origin="Assigned"),
        Col("SEX", origin="Collected", source=sex_src),
        *([Col("RACE", origin="Collected")] if race else []),
        *extra,
        Col("ARMCD", method=arm_method),
        Col("ARM", method=arm_method),
        Col("ACTARMCD", method="The planned arm (the store records no other treatment)"),
        Col("ACTARM", method="The planned arm (the store records no other treatment)"),
        Col("ARMNRS", method="NOT ASSIGNED for a subject with no arm"),
        Col("COUNTRY", method="ISO 3166-1 alpha-3 code of the site's country"),
    ]
    return build(
        ctx, "DM", records, cols, ("STUDYID", "USUBJID"), ("USUBJID",), "One record per subject"
    )


# ------------------------------------------------------------------------------------ SUPP


def _supp(
    ctx: StudyContext,
    domain: str,
    form: Form,
    rows: pd.DataFrame,
    mapped: set[str],
    out: list[dict] | None,
    idvar: str | None,
    seqs: Sequence[Any] | None = None,
) -> None:
    """Records of SUPP``domain`` for ``form``'s unannotated data fields (``out`` None: none
    wanted, as for the report's analysis sets)."""
    if out is None:
        return
    skip = {"subject", "visit", ctx.rows.subject, form.participant}
    if form.visit_columns:
        skip.update(form.visit_columns)
    fields = [  # a field annotated to another domain is mapped there
        f for f in form.fields if f.holds_data and not f.sdtm and f.name not in mapped | skip
    ]
    for f in fields:
        if not _QNAM.match(f.xpt or f.name.upper()):
            raise DataValidationError(
                f"form {form.name}, field {f.name}: its values go to SUPP{domain}, whose QNAM "
                'is 1-8 capitals, digits or _: give the field an xpt name (xpt = "NAME")'
            )
    if not fields or rows.empty:
        return
    for i, r in enumerate(rows.to_dict("records")):
        for f in fields:
            value = _text(r.get(f.name))
            if value is None:
                continue
            out.append(
                {
                    "STUDYID": ctx.studyid,
                    "RDOMAIN": domain,
                    "USUBJID": ctx.usubjid(r["subject"]),
                    "IDVAR": idvar,
                    "IDVARVAL": None if seqs is None else str(seqs[i]),
                    "QNAM": f.xpt or f.name.upper(),
                    "QLABEL": (f.label or f.name)[:40],
                    "QVAL": value,
                    "QORIG": "CRF",
                    "QEVAL": None,
                }
            )


def _supp_dataset(ctx: StudyContext, domain: str, records: list[dict]) -> Dataset:
    names = ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL",
             "QORIG", "QEVAL"]  # fmt: skip
    labels = {
        "STUDYID": ("Study Identifier", "Req"),
        "RDOMAIN": ("Related Domain Abbreviation", "Req"),
        "USUBJID": ("Unique Subject Identifier", "Req"),
        "IDVAR": ("Identifying Variable", "Exp"),
        "IDVARVAL": ("Identifying Variable Value", "Exp"),
        "QNAM": ("Qualifier Variable Name", "Req"),
        "QLABEL": ("Qualifier Variable Label", "Req"),
        "QVAL": ("Data Value", "Req"),
        "QORIG": ("Origin", "Req"),
        "QEVAL": ("Evaluator", "Exp"),
    }
    frame = pd.DataFrame(records, columns=names)
    frame = frame.sort_values(["USUBJID", "IDVARVAL", "QNAM"], kind="stable", na_position="first")
    variables = tuple(
        Variable(
            n, labels[n][0], "text", "Collected" if n == "QVAL" else "Assigned", core=labels[n][1]
        )  # fmt: skip
        for n in names
    )
    return Dataset(
        f"SUPP{domain}",
        f"Supplemental Qualifiers for {domain}",
        "RELATIONSHIP",
        "One record per supplemental qualifier per related parent domain record",
        ("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM"),
        variables,
        frame.reset_index(drop=True),
        SDTMIG,
    )


# ------------------------------------------------------------------------------------ AE, EX


def _ae(ctx: StudyContext, form: Form, supp: list[dict], uncoded: list[str]) -> Dataset:
    from xerotrial.trial.ctcae import lookup_term

    marks = annotated(form, "AE")
    rows = ctx.form(form.name)
    known = {"AESPID", "AETERM", "AESER", "AEREL", "AETOXGR", "AESTDY"}
    extra = _known_labels("AE", form, [v for v in marks if v not in known])
    records = []
    for r in rows.to_dict("records"):
        s = str(r["subject"])
        term = r.get(marks["AETERM"].name) if "AETERM" in marks else None
        try:
            ctcae = lookup_term(str(term))
        except (KeyError, ValueError):
            ctcae = None
            uncoded.append(f"row {_row_id(form, r)} {term!r}")
        day = r.get(marks["AESTDY"].name) if "AESTDY" in marks else None
        rec = {
            "STUDYID": ctx.studyid,
            "DOMAIN": "AE",
            "USUBJID": ctx.usubjid(s),
            "AESEQ": 0,
            "AESPID": _text(r.get(marks["AESPID"].name)) if "AESPID" in marks else None,
            "AETERM": term,
            "AEDECOD": ctcae.term if ctcae else None,
            "AEBODSYS": ctcae.soc if ctcae else None,
            "AESOC": ctcae.soc if ctcae else None,
            "AESER": _yn(r.get(marks["AESER"].name)) if "AESER" in marks else None,
            "AEREL": ctx.plan.recode("AE.AEREL", r.get(marks["AEREL"].name))
            if "AEREL" in marks
            else None,
            "AETOXGR": _text(r.get(marks["AETOXGR"].name)) if "AETOXGR" in marks else None,
            "EPOCH": ctx.epoch(day, None if day is not None else r.get("visit") or None),
            "AESTDTC": iso(ctx.date_of_day(s, day)) or None,
            "AESTDY": ctx.sdtm_day(day),
        }
        for var in extra:  # any other annotated AE variable, as collected (recoded)
            f = marks[var]
            v = r.get(f.name)
            rec[var] = _yn(v) if f.type == "yesno" else ctx.plan.recode(f"AE.{var}", _text(v))
        records.append(rec)
    seqs = (
        _seqs(pd.DataFrame(records), ["USUBJID", "AESTDY", "AESPID", "AETERM"]) if records else []
    )
    _supp(ctx, "AE", form, rows, {f.name for f in marks.values()}, supp, "AESEQ", seqs)
    for rec, q in zip(records, seqs, strict=True):
        rec["AESEQ"] = q
    src = {var: _src(form, f) for var, f in marks.items()}
    cols = [
        Col("STUDYID", origin="Assigned"),
        Col("DOMAIN", origin="Assigned"),
        Col("USUBJID"),
        Col("AESEQ", "integer", method="Order by subject, start day, identifier"),
        Col("AESPID", origin="Collected", source=src.get("AESPID", "")),
        Col("AETERM", origin="Collected", source=src.get("AETERM", "")),
        Col("AEDECOD", method="The CTCAE v5.0 term of AETERM"),
        Col("AEBODSYS", method="The MedDRA SOC that CTCAE v5.0 gives the term"),
        Col("AESOC", method="The MedDRA SOC that CTCAE v5.0 gives the term (primary)"),
        Col("AESER", origin="Collected", source=src.get("AESER", "")),
        Col("AEREL", origin="Collected", source=src.get("AEREL", "")),
        Col("AETOXGR", origin="Collected", source=src.get("AETOXGR", "")),
        Col("EPOCH", method="The trial epoch of the start day"),
        Col("AESTDTC", method="RFSTDTC plus the collected study day"),
        Col("AESTDY", "integer", method="The collected study day in SDTM's numbering (no day 0)"),
        *[Col(v, origin="Collected", source=src[v]) for v in extra],
    ]
    return build(ctx, "AE", records, cols, ("STUDYID", "USUBJID", "AESEQ"),
                 ("USUBJID", "AESEQ"), "One record per adverse event per subject")  # fmt: skip


def _known_labels(domain: str, form: Form, names: list[str]) -> list[str]:
    """``names`` (annotated variables of ``form``), each one SDTMIG's that xerotrial knows."""
    for var in names:
        try:
            sdtm_terms.label(domain, var)
        except KeyError:
            raise DataValidationError(
                f"form {form.name}: the annotation {domain}.{var} is not a variable of "
                f"{domain} that xerotrial writes (xerotrial/submission/sdtm_terms.py)"
            ) from None
    return names


def _ctcae_version() -> str:
    from xerotrial.trial.ctcae import CTCAE_VERSION

    return CTCAE_VERSION


def _seqs(frame: pd.DataFrame, order: list[str]) -> list[int]:
    """Each row's --SEQ: its position within its subject in ``order``."""
    present = [c for c in order if c in frame]
    ranked = frame.sort_values(present, kind="stable", na_position="first")
    seq = ranked.groupby("USUBJID", sort=False).cumcount() + 1
    return [int(x) for x in seq.reindex(frame.index)]


def _yn(v: Any) -> str | None:
    if _blank(v):
        return None
    if isinstance(v, bool) or v in (0, 1):
        return "Y" if bool(v) else "N"
    return {"yes": "Y", "no": "N", "y": "Y", "n": "N", "1": "Y", "0": "N"}.get(
        str(v).strip().lower(), str(v)
    )


def _ex(ctx: StudyContext, form: Form, supp: list[dict] | None) -> Dataset:
    marks = annotated(form, "EX")
    known = {"EXSTDY", "EXDOSE", "EXLOC", "EXLOT"}
    extra = _known_labels("EX", form, [v for v in marks if v not in known])
    rows = ctx.form(form.name)
    records = []
    for r in rows.to_dict("records"):
        s = str(r["subject"])
        arm = ctx.arm(s)
        day = r.get(marks["EXSTDY"].name) if "EXSTDY" in marks else ctx.plan.first_dose_day
        date = iso(ctx.date_of_day(s, day)) or None
        records.append(
            {
                "STUDYID": ctx.studyid,
                "DOMAIN": "EX",
                "USUBJID": ctx.usubjid(s),
                "EXSEQ": 0,
                "EXTRT": ctx.plan.treatment or arm.label,
                "EXDOSE": r.get(marks["EXDOSE"].name) if "EXDOSE" in marks else None,
                "EXDOSU": marks["EXDOSE"].unit or None if "EXDOSE" in marks else None,
                "EXLOC": ctx.plan.recode("EX.EXLOC", r.get(marks["EXLOC"].name))
                if "EXLOC" in marks
                else None,
                "EXLOT": _text(r.get(marks["EXLOT"].name)) if "EXLOT" in marks else None,
                "EPOCH": "TREATMENT",
                "EXSTDTC": date,
                "EXENDTC": date,
                "EXSTDY": ctx.sdtm_day(day),
                "EXENDY": ctx.sdtm_day(day),
                **{v: ctx.plan.recode(f"EX.{v}", _text(r.get(marks[v].name))) for v in extra},
            }
        )
    seqs = _seqs(pd.DataFrame(records), ["USUBJID", "EXSTDY", "EXLOC"]) if records else []
    for rec, q in zip(records, seqs, strict=True):
        rec["EXSEQ"] = q
    _supp(ctx, "EX", form, rows, {f.name for f in marks.values()}, supp, "EXSEQ", seqs)
    src = {var: _src(form, f) for var, f in marks.items()}
    cols = [
        Col("STUDYID", origin="Assigned"),
        Col("DOMAIN", origin="Assigned"),
        Col("USUBJID"),
        Col("EXSEQ", "integer", method="Order by subject, start day, location"),
        Col("EXTRT", origin="Protocol", method="The [submission] treatment"),
        Col("EXDOSE", "float", "Collected", src.get("EXDOSE", "")),
        Col("EXDOSU", origin="Assigned", method="The unit of the dose field"),
        Col("EXLOC", origin="Collected", source=src.get("EXLOC", "")),
        Col("EXLOT", origin="Collected", source=src.get("EXLOT", "")),
        Col("EPOCH", origin="Assigned"),
        Col("EXSTDTC", method="RFSTDTC plus the collected study day"),
        Col("EXENDTC", method="As EXSTDTC (a single administration)"),
        Col("EXSTDY", "integer", method="The collected study day in SDTM's numbering"),
        Col("EXENDY", "integer", method="As EXSTDY (a single administration)"),
        *[Col(v, origin="Collected", source=src[v]) for v in extra],
    ]
    keys = ("STUDYID", "USUBJID", "EXTRT", "EXSTDTC", *(["EXLOC"] if "EXLOC" in marks else []))
    return build(ctx, "EX", records, cols, keys,
                 ("USUBJID", "EXSEQ"), "One record per administration per subject")  # fmt: skip


# ------------------------------------------------------------------------------------ SV, DS


def _seen(ctx: StudyContext) -> dict[tuple[str, str], bool]:
    """(subject, visit) of every visit with a record (the visit-date form's, else any)."""
    seen: dict[tuple[str, str], bool] = {k: True for k in ctx.visit_dates}
    seen.update({k: True for k in ctx.visit_days})
    if seen:
        return seen
    due = ctx.study.schedule.due
    for form in ctx.study.forms:
        if form.name not in due or form.name in ctx.study.schedule.repeating:
            continue  # a log (AEs, events) is filed at a visit the subject may not attend
        rows = ctx.form(form.name)
        if rows.empty or "visit" not in rows:
            continue
        for s, v in zip(rows["subject"].astype(str), rows["visit"].astype(str), strict=True):
            if v in due[form.name]:
                seen[(s, v)] = True
    return seen


def _sv(ctx: StudyContext, seen: dict) -> Dataset:
    planned = {v.name: v.day for v in ctx.study.visits}
    records = []
    for s, v in seen:
        if v not in ctx.visit_number:
            continue
        date = iso(ctx.visit_dates.get((s, v))) or None
        day = ctx.visit_day(s, v)
        records.append(
            {
                "STUDYID": ctx.studyid,
                "DOMAIN": "SV",
                "USUBJID": ctx.usubjid(s),
                "VISITNUM": ctx.visit_number[v],
                "VISIT": ctx.visit_label(v),
                "VISITDY": ctx.sdtm_day(planned.get(v)),
                "EPOCH": ctx.epoch(day, v),
                "SVSTDTC": date,
                "SVENDTC": date,
                "SVSTDY": ctx.sdtm_day(day),
            }
        )
    cols = [
        Col("STUDYID", origin="Assigned"),
        Col("DOMAIN", origin="Assigned"),
        Col("USUBJID"),
        Col("VISITNUM", "integer", method="The visit's position in the schedule"),
        Col("VISIT", method="The visit's label in the definition"),
        Col("VISITDY", "integer", "Protocol", method="The visit's target day (SDTM numbering)"),
        Col("EPOCH", method="The trial epoch of the visit"),
        Col("SVSTDTC", origin="Collected", method="The visit date"),
        Col("SVENDTC", origin="Collected", method="The visit date"),
        Col("SVSTDY", "integer", method="The recorded study day in SDTM's numbering"),
    ]
    return build(ctx, "SV", records, cols, ("STUDYID", "USUBJID", "VISITNUM"),
                 ("USUBJID", "VISITNUM"), "One record per subject per actual visit")  # fmt: skip


def _last_scheduled(ctx: StudyContext) -> str | None:
    due = {v for vs in ctx.study.schedule.due.values() for v in vs}
    names = [v.name for v in ctx.study.visits if v.name in due]
    return names[-1] if names else None


def _ds_collected(ctx: StudyContext, supp: list[dict]) -> list[dict]:
    """The disposition records of forms annotated ``DS.*`` (a DSTERM field, and DSDECOD,
    DSCAT, DSSTDTC or DSSTDY where the form has them)."""
    out = []
    for form in ctx.forms_of("DS"):
        marks = annotated(form, "DS")
        if "DSTERM" not in marks:
            raise DataValidationError(
                f"form {form.name}: its fields are annotated DS.* but none DS.DSTERM"
            )
        rows = ctx.form(form.name)
        for r in rows.to_dict("records"):
            s = str(r["subject"])
            term = ctx.plan.recode("DS.DSTERM", r.get(marks["DSTERM"].name))
            if _blank(term):
                continue
            decod = r.get(marks["DSDECOD"].name) if "DSDECOD" in marks else None
            day = r.get(marks["DSSTDY"].name) if "DSSTDY" in marks else None
            date = r.get(marks["DSSTDTC"].name) if "DSSTDTC" in marks else None
            out.append(
                {
                    "STUDYID": ctx.studyid,
                    "DOMAIN": "DS",
                    "USUBJID": ctx.usubjid(s),
                    "DSSEQ": 0,
                    "DSTERM": str(term),
                    "DSDECOD": ctx.plan.recode("DS.DSDECOD", decod if not _blank(decod) else
                                               str(term).upper()),
                    "DSCAT": _text(r.get(marks["DSCAT"].name)) if "DSCAT" in marks
                    else "DISPOSITION EVENT",
                    "EPOCH": ctx.epoch(day, None) if day is not None else None,
                    "DSSTDTC": _text(date)[:10] if not _blank(date)
                    else (iso(ctx.date_of_day(s, day)) or None),
                    "DSSTDY": ctx.sdtm_day(day) if day is not None
                    else ctx.sdtm_day_of_date(s, date),
                }
            )  # fmt: skip
        _supp(ctx, "DS", form, rows, {f.name for f in marks.values()}, supp, None)
    return out


def _ds(ctx: StudyContext, seen: dict, supp: list[dict]) -> Dataset:
    last = _last_scheduled(ctx)
    records = _ds_collected(ctx, supp)
    collected = {r["USUBJID"] for r in records if r["DSCAT"] == "DISPOSITION EVENT"}
    for s in ctx.subjects:
        if s in ctx.allocated:
            records.append(
                {
                    "STUDYID": ctx.studyid,
                    "DOMAIN": "DS",
                    "USUBJID": ctx.usubjid(s),
                    "DSSEQ": 0,
                    "DSTERM": "RANDOMIZED",
                    "DSDECOD": "RANDOMIZED",
                    "DSCAT": "PROTOCOL MILESTONE",
                    "EPOCH": "SCREENING",
                    "DSSTDTC": ctx.allocated[s],
                    "DSSTDY": ctx.sdtm_day_of_date(s, ctx.allocated[s]),
                }
            )
        if not ctx.assigned(s) or last is None or ctx.usubjid(s) in collected:
            continue
        visits = [v for (x, v) in seen if x == s and v in ctx.visit_number]
        latest = max(visits, key=ctx.visit_number.get) if visits else None
        done = (s, last) in seen
        term = "COMPLETED" if done else (
            f"LAST SEEN AT {ctx.visit_label(latest).upper()}" if latest else "NEVER SEEN"
        )  # fmt: skip
        records.append(
            {
                "STUDYID": ctx.studyid,
                "DOMAIN": "DS",
                "USUBJID": ctx.usubjid(s),
                "DSSEQ": 0,
                "DSTERM": term,
                "DSDECOD": "COMPLETED" if done else "OTHER",
                "DSCAT": "DISPOSITION EVENT",
                "EPOCH": "FOLLOW-UP",
                "DSSTDTC": iso(ctx.visit_dates.get((s, latest))) if latest else None,
                "DSSTDY": ctx.sdtm_day_of_date(s, ctx.visit_dates.get((s, latest)))
                if latest
                else None,
            }
        )
    cols = [
        Col("STUDYID", origin="Assigned"),
        Col("DOMAIN", origin="Assigned"),
        Col("USUBJID"),
        Col("DSSEQ", "integer", method="Order by subject, category"),
        Col(
            "DSTERM",
            method="A disposition form's DSTERM; else RANDOMIZED, and COMPLETED when seen at "
            "the last visit with forms due, else the last visit seen",
        ),  # fmt: skip
        Col(
            "DSDECOD",
            method="A disposition form's DSDECOD (its DSTERM in capitals); else "
            "RANDOMIZED, COMPLETED or OTHER",
        ),  # fmt: skip
        Col("DSCAT", origin="Assigned"),
        Col("EPOCH", origin="Assigned"),
        Col("DSSTDTC", method="The allocation date; the date of the last visit seen"),
        Col("DSSTDY", "integer", method="DSSTDTC's study day against RFSTDTC (no day 0)"),
    ]
    ds = build(ctx, "DS", records, cols, ("STUDYID", "USUBJID", "DSDECOD", "DSSTDTC"),
               ("USUBJID",), "One record per disposition status or protocol milestone per "
               "subject")  # fmt: skip
    return ds


# ------------------------------------------------------------------------------------ findings


def _findings(ctx: StudyContext, domain: str, forms: list[Form], supp: list[dict]) -> Dataset:
    records: list[dict] = []
    used: dict[str, Col] = {}
    pending: list[tuple] = []  # (form, its rows with records, mapped fields, first records)
    baseline = {v.name for v in ctx.study.visits if v.baseline}
    p = domain
    for form in forms:
        marks = annotated(form, domain)
        rows = ctx.form(form.name)
        long = "TESTCD" in {k[len(p) :] for k in marks}
        tests = (
            [marks[f"{p}ORRES"]]
            if long
            else [f for k, f in marks.items() if k == f"{p}ORRES"]
            + [f for f in form.fields if f.sdtm == f"{p}.{p}ORRES" and f not in marks.values()]
        )
        tests = list({f.name: f for f in tests}.values())
        qualifiers = {k: f for k, f in marks.items() if k not in (f"{p}TESTCD", f"{p}ORRES")}
        category = ctx.plan.categories.get(form.name)
        rows_seq: list[list[dict]] = []
        for r in rows.to_dict("records"):
            s = str(r["subject"])
            visit = str(r.get("visit") or "")
            date = ctx.visit_dates.get((s, visit))
            day = ctx.visit_day(s, visit)
            mine = []
            for f in tests:
                if long:
                    raw = r.get(marks[f"{p}TESTCD"].name)
                    known = ctx.plan.tests.get(domain, {})
                    if str(raw) not in known:
                        raise DataValidationError(
                            f"{form.name} row {_row_id(form, r)}, column "
                            f"{marks[f'{p}TESTCD'].name}: "
                            f"test {raw!r} has no [submission.tests.{domain}] entry (its "
                            f"{p}TESTCD and {p}TEST)"
                        )
                    code, name = known[str(raw)]
                    unit = f.unit
                else:
                    code, name = wide_test_code(f), (f.label or f"{category or form.name} "
                                                     f"item {f.name}")[:40]  # fmt: skip
                    unit = f.unit
                value = r.get(f.name)
                rec = {
                    "STUDYID": ctx.studyid,
                    "DOMAIN": domain,
                    "USUBJID": ctx.usubjid(s),
                    f"{p}SEQ": 0,
                    f"{p}TESTCD": code,
                    f"{p}TEST": name,
                    f"{p}CAT": category,
                    f"{p}ORRES": _text(value),
                    f"{p}ORRESU": unit or None if not _blank(value) else None,
                    f"{p}STRESC": _text(value),
                    f"{p}STRESN": pd.to_numeric(value, errors="coerce")
                    if not _blank(value)
                    else None,
                    f"{p}STRESU": unit or None if not _blank(value) else None,
                    f"{p}STAT": "NOT DONE" if _blank(value) else None,
                    f"{p}LOBXFL": "Y" if visit in baseline and not _blank(value) else None,
                    "VISITNUM": ctx.visit_number.get(visit),
                    "VISIT": ctx.visit_label(visit) if visit else None,
                    "EPOCH": ctx.epoch(day, visit or None),
                    f"{p}DTC": iso(date) or None,
                    f"{p}DY": ctx.sdtm_day(day),
                }
                for k, q in qualifiers.items():
                    v = ctx.plan.recode(f"{domain}.{k}", r.get(q.name))
                    rec[k] = pd.to_numeric(v) if q.numeric and not _blank(v) else _text(v)
                if f"{p}ORRESU" in qualifiers:
                    if _blank(value):  # a test not done has no unit
                        rec[f"{p}ORRESU"] = None
                    rec[f"{p}STRESU"] = rec[f"{p}ORRESU"]
                if f"{p}ORNRLO" in rec or f"{p}ORNRHI" in rec:
                    lo, hi = rec.get(f"{p}ORNRLO"), rec.get(f"{p}ORNRHI")
                    rec[f"{p}STNRLO"], rec[f"{p}STNRHI"] = lo, hi
                    x = rec[f"{p}STRESN"]
                    rec[f"{p}NRIND"] = (
                        None if x is None or pd.isna(x)
                        else "LOW" if lo is not None and x < lo
                        else "HIGH" if hi is not None and x > hi
                        else "NORMAL"
                    )  # fmt: skip
                mine.append(rec)
                for k in rec:
                    if k not in used:
                        used[k] = _finding_col(domain, k, form, f, qualifiers)
            records.extend(mine)
            rows_seq.append(mine)
        supp_rows = [r for r, m in zip(rows.to_dict("records"), rows_seq, strict=True) if m]
        if supp_rows:  # a row's qualifiers go with its first record, once it has its --SEQ
            mapped = {f.name for f in (*marks.values(), *tests)}
            pending.append((form, pd.DataFrame(supp_rows), mapped, [m[0] for m in rows_seq if m]))
    if not used:  # no rows yet: the dataset's identifiers and its test (not written)
        for k in ("STUDYID", "DOMAIN", "USUBJID", f"{p}SEQ", f"{p}TESTCD", f"{p}TEST"):
            used[k] = Col(k, "integer" if k.endswith("SEQ") else "text")
    order = ["STUDYID", "DOMAIN", "USUBJID", f"{p}SEQ"]
    order += [f"{p}{s}" for s in sdtm_terms.FINDINGS_ORDER if f"{p}{s}" in used]
    order += [k for k in used if k not in order and k not in _TAIL(p)]
    order += [k for k in _TAIL(p) if k in used]
    cols = [used[k] for k in order]
    sort = ["USUBJID", f"{p}CAT", f"{p}TESTCD", f"{p}SPEC", f"{p}LOC", "VISITNUM"]
    frame = pd.DataFrame(records, columns=order)
    seqs = _seqs(frame, [c for c in sort if c in frame])
    for rec, q in zip(records, seqs, strict=True):
        rec[f"{p}SEQ"] = q
    for form, frame_rows, mapped, first in pending:
        seq_of_row = [rec[f"{p}SEQ"] for rec in first]
        _supp(ctx, domain, form, frame_rows, mapped, supp, f"{p}SEQ", seq_of_row)
    keys = ("STUDYID", "USUBJID", *[k for k in (f"{p}CAT", f"{p}TESTCD", f"{p}SPEC", f"{p}LOC")
                                    if k in used or k == f"{p}TESTCD"], "VISITNUM")  # fmt: skip
    return build(ctx, domain, records, cols, keys, ("USUBJID", f"{p}SEQ"),
                 "One record per test per visit per subject")  # fmt: skip


def _TAIL(p: str) -> tuple[str, ...]:  # noqa: N802 - the timing variables, last
    return ("VISITNUM", "VISIT", "EPOCH", f"{p}DTC", f"{p}DY")


def _finding_col(domain: str, k: str, form: Form, f: Field, qualifiers: dict) -> Col:
    p = domain
    numeric = {f"{p}STRESN", f"{p}ORNRLO", f"{p}ORNRHI", f"{p}STNRLO", f"{p}STNRHI",
               f"{p}SEQ", "VISITNUM", f"{p}DY"}  # fmt: skip
    typ = "integer" if k in (f"{p}SEQ", "VISITNUM", f"{p}DY") else (
        "float" if k in numeric else "text")  # fmt: skip
    if k in qualifiers:
        return Col(k, typ, "Collected", _src(form, qualifiers[k]))
    if k in (f"{p}ORRES",):
        return Col(k, typ, "Collected", method="The collected value of each test's field")
    if k in ("STUDYID", "DOMAIN", f"{p}CAT"):
        return Col(k, typ, "Assigned")
    methods = {
        f"{p}TESTCD": "The test's code: the field's XPT name, or [submission.tests]",
        f"{p}TEST": "The test's name: the field's label, or [submission.tests]",
        f"{p}STRESC": f"{p}ORRES (no unit conversion)",
        f"{p}STRESN": f"{p}STRESC as a number",
        f"{p}LOBXFL": "Y for the result at the baseline visit",
        f"{p}NRIND": "LOW, HIGH or NORMAL against the reference range",
        f"{p}STAT": "NOT DONE when the field is empty",
        f"{p}DY": "The recorded study day of the visit in SDTM's numbering",
        f"{p}DTC": "The visit date",
    }
    return Col(k, typ, "Derived", method=methods.get(k, ""))


# ------------------------------------------------------------------------------------ all


def sdtm_datasets(
    conn: Connection, study: StudyDefinition | None = None, strict: bool = True
) -> SdtmResult:
    """Every SDTM dataset of the store (see the module docstring). ``strict``: refuse a store
    whose data cannot give a required value (a site without its country); ADaM, which needs
    none of them, is built with ``strict=False``."""
    ctx = StudyContext(conn, study)
    supp: dict[str, list[dict]] = {}
    out = [_dm(ctx, supp.setdefault("DM", []))]
    out += trial_design(ctx)
    notes: list[str] = []
    seen = _seen(ctx)
    out.append(_ds(ctx, seen, supp.setdefault("DS", [])))
    out.append(_sv(ctx, seen))
    waived: set[tuple[str, str]] = set()
    for form in ctx.forms_of("AE"):
        uncoded: list[str] = []
        out.append(_ae(ctx, form, supp.setdefault("AE", []), uncoded))
        if uncoded:
            waived.add(("AE", "AEDECOD"))
            notes.append(
                f"AE: {len(uncoded)} term(s) of form {form.name} are not CTCAE "
                f"v{_ctcae_version()} terms ({', '.join(uncoded[:5])}): their AEDECOD and "
                "AEBODSYS are empty; SDTMIG requires AEDECOD, so code them before submission"
            )
    for form in ctx.forms_of("EX"):
        out.append(_ex(ctx, form, supp.setdefault("EX", [])))
    domains = []
    for form in ctx.study.forms:
        for f in form.fields:
            d = f.sdtm_domain
            if d and d not in ("DM", "AE", "EX", "SV", "DS") and d not in domains:
                domains.append(d)
    for d in domains:
        out.append(_findings(ctx, d, ctx.forms_of(d), supp.setdefault(d, [])))
    for d, records in supp.items():
        if records:
            out.append(_supp_dataset(ctx, d, records))
    mapped = {form.name for form in ctx.study.forms if any(f.sdtm for f in form.fields)}
    for form in ctx.study.forms:
        if form.name not in mapped and not ctx.form(form.name).empty:
            notes.append(
                f"form {form.name}: no field is annotated with an SDTM variable; its "
                f"{len(ctx.form(form.name))} row(s) are not in the SDTM datasets"
            )
    if ctx.problems and strict:
        raise DataValidationError(
            "export sdtm: " + "; ".join(dict.fromkeys(ctx.problems)) + "; nothing written"
        )
    if ctx.blinded:
        notes.append("the study is blinded: DM's ARMCD, ARM, ACTARMCD and ACTARM are empty")
    return SdtmResult([d for d in out if d is not None], notes, waived)
