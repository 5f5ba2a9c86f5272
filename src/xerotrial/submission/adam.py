"""ADaM (ADaMIG 1.3) datasets from a store: ADSL, one BDS dataset per area, ADAE.

* **ADSL**, one record per subject of DM: the arm as TRT01P/TRT01A (the store records no
  other treatment than the planned), TRTSDT/TRTEDT the first and last treatment dates, and
  the population flags:

  - ITTFL: assigned to an arm (allocated; in a study without allocation, the analysis
    population);
  - SAFFL: treated, i.e. with an exposure record (a study that collects none: ITTFL);
  - FASFL: ITTFL, of the analysis population, with the primary parameter at baseline and at
    one later visit;
  - PPROTFL: FASFL with the primary parameter at the primary visit;
  - COHORT: a seed store's excipient cohort.
* **BDS**: the definition's derivations (:func:`xerotrial.adam.bds.study_bds`), each in the
  dataset its ``dataset`` key names (ADFLOW, ADQS, ...): PARAMCD (at most 8 capitals), PARAM,
  AVISIT (the visit's label), AVISITN (its target day), ADT and ADY (the visit's date and
  study day), AVAL, BASE, CHG, PCHG, ABLFL, ANL01FL ("Y" for a record an endpoint of the plan
  analyses: its parameter, one of its visits, a subject of the population, a value), TRTP/TRTA
  and the ADSL flags. No record is imputed, so there is no DTYPE.
* **ADAE** (OCCDS), one record per AE record: TRTA, ASTDT/ASTDY, AETOXGR as ATOXGR, TRTEMFL
  ("Y" for an event starting on or after the first treatment).

Example
-------
>>> import tempfile, os
>>> from xerotrial.store.study_store import init_study_store
>>> from xerotrial.store.engine import open_store
>>> from xerotrial.study import SEED_STUDY
>>> db = os.path.join(tempfile.mkdtemp(), "s.db"); _ = init_study_store(db, SEED_STUDY)
>>> with open_store(db).connect() as conn:
...     [d.name for d in adam_datasets(conn).datasets]  # an empty store: no BDS records
['ADSL', 'ADAE']
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from xerotrial.adam.bds import study_bds
from xerotrial.study.model import StudyDefinition

from .context import StudyContext
from .datasets import Dataset, Variable
from .sdtm import SdtmResult, sdtm_datasets

__all__ = ["adam_datasets", "analysis_sets"]

ADAMIG = "ADaMIG 1.3"


def _date(text: Any) -> dt.date | None:
    if text is None or (isinstance(text, float) and pd.isna(text)) or text == "":
        return None
    return dt.date.fromisoformat(str(text)[:10])


#: The ADaMIG 1.3 labels of the variables written here (ADSL, BDS, ADAE), once.
LABELS = {
    "STUDYID": "Study Identifier",
    "USUBJID": "Unique Subject Identifier",
    "SUBJID": "Subject Identifier for the Study",
    "SITEID": "Study Site Identifier",
    "AGE": "Age",
    "AGEU": "Age Units",
    "SEX": "Sex",
    "RACE": "Race",
    "ARM": "Description of Planned Arm",
    "ARMCD": "Planned Arm Code",
    "ACTARM": "Description of Actual Arm",
    "ACTARMCD": "Actual Arm Code",
    "TRT01P": "Planned Treatment for Period 01",
    "TRT01PN": "Planned Treatment for Period 01 (N)",
    "TRT01A": "Actual Treatment for Period 01",
    "TRT01AN": "Actual Treatment for Period 01 (N)",
    "TRTSDT": "Date of First Exposure to Treatment",
    "TRTEDT": "Date of Last Exposure to Treatment",
    "ITTFL": "Intent-To-Treat Population Flag",
    "SAFFL": "Safety Population Flag",
    "FASFL": "Full Analysis Set Population Flag",
    "PPROTFL": "Per-Protocol Population Flag",
    "COHORT": "Cohort",
    "TRTP": "Planned Treatment",
    "TRTPN": "Planned Treatment (N)",
    "TRTA": "Actual Treatment",
    "TRTAN": "Actual Treatment (N)",
    "PARAMCD": "Parameter Code",
    "PARAM": "Parameter",
    "AVISIT": "Analysis Visit",
    "AVISITN": "Analysis Visit (N)",
    "ADT": "Analysis Date",
    "ADY": "Analysis Relative Day",
    "AVAL": "Analysis Value",
    "BASE": "Baseline Value",
    "CHG": "Change from Baseline",
    "PCHG": "Percent Change from Baseline",
    "ABLFL": "Baseline Record Flag",
    "ANL01FL": "Analysis Flag 01",
    "AESEQ": "Sequence Number",
    "AETERM": "Reported Term for the Adverse Event",
    "AEDECOD": "Dictionary-Derived Term",
    "AEBODSYS": "Body System or Organ Class",
    "AESER": "Serious Event",
    "AEREL": "Causality",
    "ATOXGR": "Analysis Toxicity Grade",
    "ASTDT": "Analysis Start Date",
    "ASTDY": "Analysis Start Relative Day",
    "TRTEMFL": "Treatment Emergent Analysis Flag",
}


def _v(name: str, typ: str = "text", origin: str = "Derived", core: str = "Perm",
       method: str = "", source: str = "") -> Variable:  # fmt: skip
    return Variable(name, LABELS[name], typ, origin, source, method, core=core)


def _make(name, label, klass, structure, keys, variables, rows, params=None) -> Dataset:  # noqa: ANN001
    frame = pd.DataFrame(rows, columns=[v.name for v in variables])
    for v in variables:
        if v.type in ("integer", "float"):
            frame[v.name] = pd.to_numeric(frame[v.name])
    return Dataset(name, label, klass, structure, tuple(keys), tuple(variables), frame, ADAMIG,
                   params or {})  # fmt: skip


def _yes(flag: bool) -> str:
    return "Y" if flag else "N"


def _adsl(ctx: StudyContext, sdtm: dict[str, Dataset], bds: pd.DataFrame) -> Dataset:
    dm = sdtm["DM"].frame
    ex = sdtm["EX"].frame if "EX" in sdtm else None
    treated: dict[str, list[dt.date]] = {}
    if ex is not None and not ex.empty:
        for u, d in zip(ex["USUBJID"], ex["EXSTDTC"], strict=True):
            treated.setdefault(u, [])
            if _date(d):
                treated[u].append(_date(d))
    arms = [a.name.upper() for a in ctx.study.allocation.arms] or (
        [ctx.plan.arm[0]] if ctx.plan.arm else [])  # fmt: skip
    plan = ctx.study.analysis
    primary = next((e for e in plan.endpoints if e.primary), None) if plan else None
    baseline = next((v.name for v in ctx.study.visits if v.baseline), None)
    have: dict[str, set[str]] = {}
    if primary is not None and not bds.empty:
        rows = bds[(bds["PARAMCD"] == primary.param) & bds["AVAL"].notna()]
        for u, v in zip(rows["USUBJID"], rows["AVISIT"], strict=True):
            have.setdefault(u, set()).add(v)
    cohorts = {}
    if not ctx.study_store:
        from xerotrial.analysis.summaries import subject_level

        sl = subject_level(ctx.conn.engine)
        cohorts = {ctx.usubjid(s): c for s, c in zip(sl["USUBJID"], sl["COHORT"], strict=True)}
    rows = []
    for r in dm.to_dict("records"):
        u, s = r["USUBJID"], r["SUBJID"]
        itt = ctx.assigned(s)
        saf = (u in treated) if ex is not None else itt
        seen = have.get(u, set())
        fas = bool(itt and ctx.in_population(s) and baseline in seen and len(seen - {baseline}))
        pp = bool(fas and primary is not None and primary.primary_visit in seen)
        dates = treated.get(u, [])
        code = r.get("ARMCD")
        code = None if code is None or (isinstance(code, float) and pd.isna(code)) else code
        rows.append(
            {
                "STUDYID": ctx.studyid, "USUBJID": u, "SUBJID": s, "SITEID": r["SITEID"],
                "AGE": r.get("AGE"), "AGEU": r.get("AGEU"), "SEX": r.get("SEX"),
                "RACE": r.get("RACE"), "ARM": r.get("ARM"), "ARMCD": code,
                "ACTARM": r.get("ACTARM"), "ACTARMCD": r.get("ACTARMCD"),
                "TRT01P": r.get("ARM"), "TRT01PN": arms.index(code) + 1 if code in arms else None,
                "TRT01A": r.get("ACTARM") if saf else None,
                "TRT01AN": arms.index(code) + 1 if code in arms and saf else None,
                "TRTSDT": min(dates) if dates else (_date(r.get("RFSTDTC")) if saf else None),
                "TRTEDT": max(dates) if dates else (_date(r.get("RFSTDTC")) if saf else None),
                "ITTFL": _yes(itt), "SAFFL": _yes(saf), "FASFL": _yes(fas), "PPROTFL": _yes(pp),
                "COHORT": cohorts.get(u) or None,
            }
        )  # fmt: skip
    variables = [
        _v("STUDYID", origin="Predecessor", core="Req", source="DM.STUDYID"),
        _v("USUBJID", origin="Predecessor", core="Req",
           source="DM.USUBJID"),
        _v("SUBJID", origin="Predecessor", core="Req",
           source="DM.SUBJID"),
        _v("SITEID", origin="Predecessor", core="Req",
           source="DM.SITEID"),
        _v("AGE", "float", "Predecessor", "Req", source="DM.AGE"),
        _v("AGEU", origin="Predecessor", core="Req", source="DM.AGEU"),
        _v("SEX", origin="Predecessor", core="Req", source="DM.SEX"),
        _v("RACE", origin="Predecessor", core="Req" if "RACE" in dm else "Perm",
           source="DM.RACE"),
        _v("ARM", origin="Predecessor", core="Exp",
           source="DM.ARM"),
        _v("ARMCD", origin="Predecessor", source="DM.ARMCD"),
        _v("ACTARM", origin="Predecessor", source="DM.ACTARM"),
        _v("ACTARMCD", origin="Predecessor", source="DM.ACTARMCD"),
        _v("TRT01P", core="Exp",
           method="DM.ARM (empty for a subject with no arm, or while blinded)"),
        _v("TRT01PN", "integer",
           method="The arm's position in the allocation"),
        _v("TRT01A", method="DM.ACTARM for a treated subject"),
        _v("TRT01AN", "integer",
           method="The arm's position in the allocation"),
        _v("TRTSDT", "date",
           method="The earliest EXSTDTC (RFSTDTC where no exposure is collected)"),
        _v("TRTEDT", "date",
           method="The latest EXSTDTC (RFSTDTC where no exposure is collected)"),
        _v("ITTFL", core="Req",
           method="Y when the subject is assigned to an arm"),
        _v("SAFFL", core="Req",
           method="Y when the subject has an exposure record (ITTFL where none is collected)"),
        _v("FASFL", core="Req",
           method="ITTFL, of the analysis population, with the primary parameter at baseline "
           "and a later visit"),
        _v("PPROTFL", core="Req",
           method="FASFL with the primary parameter at the primary visit"),
        _v("COHORT", method="The protocol's excipient cohort by enrolment order"),
    ]  # fmt: skip
    ds = _make("ADSL", "Subject-Level Analysis Dataset", "SUBJECT LEVEL ANALYSIS DATASET",
               "One record per subject", ("STUDYID", "USUBJID"), variables, rows)  # fmt: skip
    return _drop_empty(ds)


def _drop_empty(d: Dataset) -> Dataset:
    """The dataset without its permissible variables that hold nothing."""
    keep = [
        v for v in d.variables
        if v.core == "Req" or d.frame[v.name].map(lambda x: x is not None and not pd.isna(x)
                                                  and x != "").any()
    ]  # fmt: skip
    return Dataset(d.name, d.label, d.klass, d.structure, d.keys, tuple(keep),
                   d.frame[[v.name for v in keep]], d.standard, d.params)  # fmt: skip


def _bds(ctx: StudyContext, bds: pd.DataFrame, adsl: pd.DataFrame) -> list[Dataset]:
    if bds.empty:
        return []
    flags = adsl.set_index("USUBJID")
    plan = ctx.study.analysis
    analysed: set[tuple[str, str]] = set()
    for e in plan.endpoints if plan else ():
        analysed.update((e.param, v) for v in e.visits)
    spec = {d.param: d for d in ctx.study.derivations}
    out = []
    for name in dict.fromkeys(d.dataset for d in ctx.study.derivations):
        part = bds[bds["PARAMCD"].map(lambda p, n=name: spec[p].dataset == n)]
        if part.empty:
            continue
        rows = []
        for r in part.to_dict("records"):
            u, s, visit = r["USUBJID"], r["SUBJID"], r["AVISIT"]
            f = flags.loc[u] if u in flags.index else None
            day = ctx.visit_day(s, visit)
            date = ctx.visit_dates.get((s, visit))
            anl = r["POPFL"] == "Y" and (r["PARAMCD"], visit) in analysed and not pd.isna(r["AVAL"])
            rows.append(
                {
                    "STUDYID": ctx.studyid, "USUBJID": u, "SUBJID": s, "SITEID": r["SITEID"],
                    "TRTP": None if f is None else f.get("TRT01P"),
                    "TRTPN": None if f is None else f.get("TRT01PN"),
                    "TRTA": None if f is None else f.get("TRT01A"),
                    "TRTAN": None if f is None else f.get("TRT01AN"),
                    "PARAMCD": r["PARAMCD"], "PARAM": r["PARAM"],
                    "AVISIT": ctx.visit_label(visit), "AVISITN": r["AVISITN"],
                    "ADT": date, "ADY": ctx.sdtm_day(day),
                    "AVAL": r["AVAL"], "BASE": r["BASE"], "CHG": r["CHG"], "PCHG": r["PCHG"],
                    "ABLFL": r["ABLFL"] or None, "ANL01FL": "Y" if anl else None,
                    "ITTFL": None if f is None else f.get("ITTFL"),
                    "SAFFL": None if f is None else f.get("SAFFL"),
                    "FASFL": None if f is None else f.get("FASFL"),
                }
            )  # fmt: skip
        params = {}
        for p in dict.fromkeys(part["PARAMCD"]):
            d = spec[p]
            params[p] = (d.label or p, "", f"{d.function}({', '.join(d.inputs.values())}) of "
                         f"form {d.form}" + (f" where {d.where}" if d.where else ""))  # fmt: skip
        variables = [
            _v("STUDYID", origin="Predecessor", core="Req",
               source="ADSL.STUDYID"),
            _v("USUBJID", origin="Predecessor", core="Req",
               source="ADSL.USUBJID"),
            _v("SUBJID", origin="Predecessor",
               source="ADSL.SUBJID"),
            _v("SITEID", origin="Predecessor", source="ADSL.SITEID"),
            _v("TRTP", origin="Predecessor", core="Exp",
               source="ADSL.TRT01P"),
            _v("TRTPN", "integer", "Predecessor", source="ADSL.TRT01PN"),
            _v("TRTA", origin="Predecessor", source="ADSL.TRT01A"),
            _v("TRTAN", "integer", "Predecessor", source="ADSL.TRT01AN"),
            _v("PARAMCD", origin="Assigned", core="Req",
               method="The derivation's name in the definition"),
            _v("PARAM", origin="Assigned", core="Req",
               method="The derivation's label"),
            _v("AVISIT", method="The visit's label"),
            _v("AVISITN", "float", method="The visit's target day"),
            _v("ADT", "date", method="The visit date"),
            _v("ADY", "integer",
               method="The recorded study day, day 1 the day of the first treatment"),
            _v("AVAL", "float", core="Exp",
               method="The derivation's function of the form's fields (value-level metadata)"),
            _v("BASE", "float", method="AVAL at the baseline visit"),
            _v("CHG", "float", method="AVAL - BASE"),
            _v("PCHG", "float",
               method="100 * CHG / BASE (missing when BASE is 0)"),
            _v("ABLFL", method="Y at the baseline visit"),
            _v("ANL01FL", method="Y for a record an endpoint of the "
               "analysis plan analyses (its parameter and visits, the population)"),
            _v("ITTFL", origin="Predecessor",
               source="ADSL.ITTFL"),
            _v("SAFFL", origin="Predecessor", source="ADSL.SAFFL"),
            _v("FASFL", origin="Predecessor",
               source="ADSL.FASFL"),
        ]  # fmt: skip
        label = f"{name[2:].title()} Analysis Dataset"
        ds = _make(
            name,
            label[:40],
            "BASIC DATA STRUCTURE",
            "One record per subject per parameter per analysis visit",
            ("STUDYID", "USUBJID", "PARAMCD", "AVISITN"),
            variables,
            rows,
            params,
        )
        out.append(_drop_empty(ds))  # fmt: skip
    return out


def _adae(ctx: StudyContext, sdtm: dict[str, Dataset], adsl: pd.DataFrame) -> Dataset | None:
    if "AE" not in sdtm:
        return None
    ae = sdtm["AE"].frame
    flags = adsl.set_index("USUBJID")
    rows = []
    for r in ae.to_dict("records"):
        u = r["USUBJID"]
        f = flags.loc[u] if u in flags.index else None
        start = _date(r.get("AESTDTC"))
        day = r.get("AESTDY")
        trtsdt = None if f is None else f.get("TRTSDT")
        emergent = (day is not None and not pd.isna(day) and day >= 1) or (
            start is not None and trtsdt is not None and start >= trtsdt)  # fmt: skip
        rows.append(
            {
                "STUDYID": r["STUDYID"], "USUBJID": u, "SITEID": None if f is None else
                f.get("SITEID"), "TRTA": None if f is None else f.get("TRT01A"),
                "TRTAN": None if f is None else f.get("TRT01AN"), "AESEQ": r["AESEQ"],
                "AETERM": r["AETERM"], "AEDECOD": r["AEDECOD"], "AEBODSYS": r["AEBODSYS"],
                "AESER": r.get("AESER"), "AEREL": r.get("AEREL"),
                "ATOXGR": r.get("AETOXGR"), "ASTDT": start,
                "ASTDY": day, "TRTEMFL": "Y" if emergent else None,
                "SAFFL": None if f is None else f.get("SAFFL"),
            }
        )  # fmt: skip
    variables = [
        _v("STUDYID", origin="Predecessor", core="Req", source="AE.STUDYID"),
        _v("USUBJID", origin="Predecessor", core="Req",
           source="AE.USUBJID"),
        _v("SITEID", origin="Predecessor", source="ADSL.SITEID"),
        _v("TRTA", origin="Predecessor", core="Exp", source="ADSL.TRT01A"),
        _v("TRTAN", "integer", "Predecessor", source="ADSL.TRT01AN"),
        _v("AESEQ", "integer", "Predecessor", "Req", source="AE.AESEQ"),
        _v("AETERM", origin="Predecessor", core="Req",
           source="AE.AETERM"),
        _v("AEDECOD", origin="Predecessor", core="Req",
           source="AE.AEDECOD"),
        _v("AEBODSYS", origin="Predecessor", core="Req",
           source="AE.AEBODSYS"),
        _v("AESER", origin="Predecessor", source="AE.AESER"),
        _v("AEREL", origin="Predecessor", source="AE.AEREL"),
        _v("ATOXGR", method="AE.AETOXGR"),
        _v("ASTDT", "date", method="AE.AESTDTC as a date"),
        _v("ASTDY", "integer", method="AE.AESTDY"),
        _v("TRTEMFL", method="Y when the event starts on or after the first treatment"),
        _v("SAFFL", origin="Predecessor", source="ADSL.SAFFL"),
    ]  # fmt: skip
    ds = _make("ADAE", "Adverse Events Analysis Dataset", "OCCURRENCE DATA STRUCTURE",
               "One record per adverse event per subject", ("STUDYID", "USUBJID", "AESEQ"),
               variables, rows)  # fmt: skip
    return _drop_empty(ds)


def analysis_sets(conn: Connection) -> dict[str, int]:
    """How many subjects each ADSL population flag holds: ``subjects`` (every subject of DM),
    ``ITTFL``, ``SAFFL``, ``FASFL``, ``PPROTFL`` (the report's title page). Builds only DM, EX
    and the BDS records, not the whole SDTM."""
    from .sdtm import _dm, _ex

    ctx = StudyContext(conn)
    by_name = {"DM": _dm(ctx, None)}
    for form in ctx.forms_of("EX"):
        by_name["EX"] = _ex(ctx, form, None)
    plan = ctx.study.analysis
    primary = [e.param for e in plan.endpoints if e.primary] if plan else []
    adsl = _adsl(ctx, by_name, study_bds(conn, ctx.study, params=primary)).frame
    out = {"subjects": len(adsl)}
    out.update({flag: int((adsl[flag] == "Y").sum()) for flag in ("ITTFL", "SAFFL", "FASFL",
                                                                   "PPROTFL")})  # fmt: skip
    return out


def adam_datasets(conn: Connection, study: StudyDefinition | None = None) -> SdtmResult:
    """ADSL, the BDS datasets and ADAE (see the module docstring)."""
    sdtm = sdtm_datasets(conn, study, strict=False)
    by_name = {d.name: d for d in sdtm.datasets}
    ctx = StudyContext(conn, study)
    bds = study_bds(conn, ctx.study)
    adsl = _adsl(ctx, by_name, bds)
    out = [adsl, *_bds(ctx, bds, adsl.frame)]
    adae = _adae(ctx, by_name, adsl.frame)
    if adae is not None:
        out.append(adae)
    notes = (
        []
        if "RACE" in by_name["DM"].frame
        else ["ADSL: RACE is not collected (no field is annotated DM.RACE)"]
    )
    waived = set()
    if ("AE", "AEDECOD") in sdtm.waived:
        waived = {("ADAE", "AEDECOD"), ("ADAE", "AEBODSYS")}
        notes += [n.replace("AE:", "ADAE:", 1) for n in sdtm.notes if n.startswith("AE:")]
    return SdtmResult(out, notes, waived)
