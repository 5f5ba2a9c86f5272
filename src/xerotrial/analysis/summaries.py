"""Trial-level summaries of the report, computed from a trial store.

Every function takes the store's SQLAlchemy ``Engine`` and reads it with the store's readers
(:func:`xerotrial.store.export.read_form`, :func:`~xerotrial.store.export.adam_datasets`,
:mod:`xerotrial.store.inputs`) and the store's protocol; the derivations are the trial
functions' (:mod:`xerotrial.trial`), never repeated here.

================================ ==============================================================
:func:`subject_level`            ADSL-like: one row per participant (group, demographics,
                                 cohort, donor and batch, treatment date, follow-up flags,
                                 the data cut-off)
:func:`data_cutoff`              the data cut-off: the last date recorded in the store
:func:`table1`                   Table 1: demographics; saliva flow and ions at baseline,
                                 patients vs healthy controls (Welch t-test)
:func:`table2`                   Table 2: adverse events up to the 4-month visit
:func:`table4`                   Table 4: HLA antibodies and donor-specific antibodies (wide)
:func:`consort`                  the counts of the CONSORT flow diagram
:func:`long_term_followup`       patients seen at the 2-year follow-up, with their late AEs
:func:`protocol_deviations`      visits outside their target window
:func:`release`                  the batches' release results
================================ ==============================================================

Conventions: the primary follow-up visit is the protocol's ``[analysis] primary`` (bundled:
``day120``, 4 months); its window's upper bound (day 150 in the bundled protocol) ends the
primary period, so Table 2 counts the AEs with onset up to it and :func:`long_term_followup`
the ones after it. The long-term visit is ``[analysis] long_term`` (bundled: ``year2``).
Flags are "Y" or "". The functions that need the subject-level dataset take it (``adsl``,
from :func:`subject_level`), so that a report builds it once.

Example
-------
>>> import tempfile, os
>>> from xerotrial.store.migrate import init_store
>>> from xerotrial.store.engine import open_store
>>> db = os.path.join(tempfile.mkdtemp(), "trial.db"); _ = init_store(db)
>>> engine = open_store(db)
>>> consort(engine, subject_level(engine))["screened"], data_cutoff(engine)
(0, None)
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats
from sqlalchemy import Engine

from xerotrial.report.data import TABLE1_COLUMNS, TABLE2_COLUMNS
from xerotrial.report.fmt import format_number
from xerotrial.stats.errors import DataValidationError
from xerotrial.store.export import adam_datasets, read_form
from xerotrial.store.forms import EDUCATION_LEVELS, FORMS, RACES
from xerotrial.store.inputs import donor_typing, patient_donor
from xerotrial.store.migrate import stored_protocol
from xerotrial.trial.eligibility import REASONS
from xerotrial.trial.immunology import derive_dsa, tabulate_table4
from xerotrial.trial.product import PERCENT_COLUMNS, TEST_COLUMNS, ReleaseLimits, evaluate_release
from xerotrial.trial.protocol import SALIVA_IONS, SALIVA_KINDS, Protocol
from xerotrial.trial.safety import PAPER_TABLE2_LABELS, tabulate_table2, validate_adverse_events

__all__ = [
    "ADSL_COLUMNS",
    "adverse_events",
    "consort",
    "data_cutoff",
    "hla_results",
    "long_term_followup",
    "protocol_deviations",
    "release",
    "store_protocol",
    "subject_level",
    "table1",
    "table2",
    "table4",
]

#: Columns of :func:`subject_level`.
ADSL_COLUMNS: tuple[str, ...] = (
    "USUBJID",
    "GROUP",
    "SEX",
    "AGE",
    "RACE",
    "EDUC",
    "COHORT",
    "MATCHED_TO",
    "DONOR",
    "BATCH",
    "TRTSDT",
    "LASTDY",
    "FU2YFL",
    "SAFFL",
    "DCUTDT",
)

_GROUPS = ("patient", "control")
_ION_NAMES = {"Na": "sodium", "K": "potassium", "Cl": "chloride", "PO4": "phosphate"}


# --------------------------------------------------------------------------- helpers


def store_protocol(engine: Engine) -> Protocol:
    """The store's protocol (the one given to ``xerotrial init --protocol``, else the
    bundled one)."""
    with engine.connect() as conn:
        return stored_protocol(conn)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _joined(frame: pd.DataFrame, key: str, value: str) -> dict[str, str]:
    """key -> the distinct values of ``value`` joined by ';' (sorted)."""
    out: dict[str, set[str]] = {}
    for k, v in zip(frame[key], frame[value], strict=True):
        out.setdefault(k, set()).add(str(v))
    return {k: ";".join(sorted(v)) for k, v in out.items()}


def _subjects_with_visit(visits: pd.DataFrame, visit: str | None) -> set[str]:
    if visit is None:
        return set()
    return set(visits.loc[visits["visit"] == visit, "subject"])


def _late_day(protocol: Protocol) -> int:
    """The last study day of the primary period: the upper bound of the primary visit's
    window (day 150 for the 4-month visit of the bundled protocol)."""
    return protocol.visit(protocol.analysis.primary).window.upper


def _pct(k: int, n: int) -> str:
    return f"{k} ({format_number(100 * k / n, 0)}%)" if n else f"{k}"


def _mean_sd(x: np.ndarray, decimals: int, n_group: int) -> str:
    if len(x) == 0:
        return ""
    sd = format_number(float(np.std(x, ddof=1)), decimals) if len(x) > 1 else ""
    text = f"{format_number(float(np.mean(x)), decimals)} ({sd})"
    return text if len(x) == n_group else f"{text}, n = {len(x)}"


def _welch_p(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or len(b) < 2:
        return math.nan
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


# --------------------------------------------------------------------------- ADSL


def data_cutoff(engine: Engine) -> dt.date | None:
    """The data cut-off: the last date recorded in the store (every date field of every form:
    visit dates, screening dates), None when the store holds none."""
    last = None
    for form, spec in FORMS.items():
        for f in spec.fields:
            if f.kind != "date":
                continue
            dates = [d for d in read_form(engine, form)[f.name] if d is not None]
            if dates:
                last = max([*dates, *([last] if last else [])])
    return last


def subject_level(engine: Engine) -> pd.DataFrame:
    """ADSL-like subject-level dataset: one row per participant, patients first, then
    controls (each by id), with the columns :data:`ADSL_COLUMNS`.

    ``COHORT`` is the protocol's excipient cohort of a patient's ``enrolment_order`` ("" for
    controls and patients without one); ``DONOR`` and ``BATCH`` come from the administrations
    and their batches (';' between several); ``TRTSDT`` is the ``visit_date`` of the baseline
    visit of a treated patient (None otherwise); ``LASTDY`` the last study day in the visits
    form; ``FU2YFL`` "Y" for a patient with the protocol's long-term visit (``year2``);
    ``SAFFL`` "Y" for a patient with administrations (the safety population); ``DCUTDT`` the
    data cut-off (:func:`data_cutoff`, the same on every row).
    """
    protocol = store_protocol(engine)
    people = read_form(engine, "participants")
    visits = read_form(engine, "visits")
    adm = read_form(engine, "administrations")
    batches = _joined(adm, "subject", "batch")
    donors = _joined(patient_donor(engine), "subject", "donor")
    baseline = protocol.baseline_visit.name
    start = {
        s: d
        for s, v, d in zip(visits["subject"], visits["visit"], visits["visit_date"], strict=True)
        if v == baseline
    }
    last: dict[str, int] = {}
    for s, day in zip(visits["subject"], visits["study_day"], strict=True):
        last[s] = max(int(day), last.get(s, int(day)))
    long_term = _subjects_with_visit(visits, protocol.analysis.long_term)
    cutoff = data_cutoff(engine)
    rows = []
    for rec in people.to_dict("records"):
        s = rec["subject"]
        patient = rec["group"] == "patient"
        treated = patient and s in batches
        order = rec["enrolment_order"]
        rows.append(
            {
                "USUBJID": s,
                "GROUP": rec["group"],
                "SEX": rec["sex"],
                "AGE": rec["age_years"],
                "RACE": _text(rec["race"]),
                "EDUC": _text(rec["education"]),
                "COHORT": protocol.cohort_for(order) if patient and order is not None else "",
                "MATCHED_TO": _text(rec["matched_to"]),
                "DONOR": donors.get(s, "") if patient else "",
                "BATCH": batches.get(s, "") if patient else "",
                "TRTSDT": start.get(s) if treated else None,
                "LASTDY": last.get(s),
                "FU2YFL": "Y" if patient and s in long_term else "",
                "SAFFL": "Y" if treated else "",
                "DCUTDT": cutoff,
            }
        )
    adsl = pd.DataFrame(rows, columns=list(ADSL_COLUMNS))
    adsl["AGE"] = pd.array(adsl["AGE"].tolist(), dtype="Int64")
    adsl["LASTDY"] = pd.array(adsl["LASTDY"].tolist(), dtype="Int64")
    for col in ("TRTSDT", "DCUTDT"):
        adsl[col] = adsl[col].astype(object).where(adsl[col].notna(), None)
    rank = adsl["GROUP"].map({g: i for i, g in enumerate(_GROUPS)})
    return (
        adsl.assign(_rank=rank)
        .sort_values(["_rank", "USUBJID"], kind="stable")
        .drop(columns="_rank")
        .reset_index(drop=True)
    )


# --------------------------------------------------------------------------- Table 1


def _count_rows(
    adsl: pd.DataFrame, column: str, label: str, levels: Iterable[str], n: dict[str, int]
) -> list[dict]:
    """One "n (%)" row per level present in either group ("not recorded" for blanks)."""
    present = set(adsl[column])
    rows = []
    for level in [*levels, ""]:
        if level not in present:
            continue
        row = {
            "section": "Demographics",
            "characteristic": f"{label}, {level or 'not recorded'}",
            "statistic": "n (%)",
            "p_value": math.nan,
        }
        for g in _GROUPS:
            k = int(((adsl["GROUP"] == g) & (adsl[column] == level)).sum())
            row[f"{g}s"] = _pct(k, n[g])
        rows.append(row)
    return rows


def _baseline_values(engine: Engine, protocol: Protocol, groups: dict[str, str]) -> pd.DataFrame:
    """The baseline analysis records of the flow and ion parameters, with each subject's
    group: ``USUBJID, PARAMCD, AVAL, GROUP``."""
    data = adam_datasets(engine)
    parts = [data[name] for name in ("adflow", "adions") if name in data]
    if not parts:
        return pd.DataFrame(columns=["USUBJID", "PARAMCD", "AVAL", "GROUP"])
    bds = pd.concat(parts, ignore_index=True)
    base = bds[(bds["ANL01FL"] == "Y") & (bds["AVISIT"] == protocol.baseline_visit.name)]
    base = base[["USUBJID", "PARAMCD", "AVAL"]].assign(GROUP=base["USUBJID"].map(groups))
    return base[base["AVAL"].notna()]


def table1(engine: Engine, adsl: pd.DataFrame) -> pd.DataFrame:
    """Table 1: baseline characteristics of the patients and the healthy controls
    (``adsl``: :func:`subject_level`).

    Columns ``xerotrial.report.data.TABLE1_COLUMNS``; ``patients`` and ``controls`` are
    display strings, ``p_value`` a float (NaN where no test is made).

    * "Demographics": N; sex (men, women), race, education and, for the patients, the
      excipient cohort as n (%), percentages without decimals; age as median (range).
    * "Saliva at baseline": UWS and SWS flow rates (mL/min, 2 decimals) and the Na, K, Cl
      and PO4 concentrations of UWS and SWS (mmol/L, 1 decimal) as mean (SD) of the baseline
      analysis records (``adflow`` / ``adions``, ANL01FL "Y" at the baseline visit), with
      ", n = k" when fewer than all of a group have the value; ``p_value`` is Welch's
      two-sample t-test (``scipy.stats.ttest_ind(equal_var=False)``), NaN with fewer than
      two values in a group.
    """
    protocol = store_protocol(engine)
    n = {g: int((adsl["GROUP"] == g).sum()) for g in _GROUPS}
    rows: list[dict] = [
        {
            "section": "Demographics",
            "characteristic": "Participants",
            "statistic": "N",
            "patients": str(n["patient"]),
            "controls": str(n["control"]),
            "p_value": math.nan,
        }
    ]
    sex = adsl.assign(SEXC=adsl["SEX"].map({"M": "men", "F": "women"}).fillna(""))
    rows += _count_rows(sex, "SEXC", "Sex", ("men", "women"), n)
    age = {
        "section": "Demographics",
        "characteristic": "Age, years",
        "statistic": "median (range)",
        "p_value": math.nan,
    }
    for g in _GROUPS:
        a = adsl.loc[(adsl["GROUP"] == g) & adsl["AGE"].notna(), "AGE"].astype(float)
        age[f"{g}s"] = (
            f"{format_number(float(a.median()), 1 if a.median() % 1 else 0)} "
            f"({int(a.min())}-{int(a.max())})"
            if len(a)
            else ""
        )
    rows.append(age)
    rows += _count_rows(adsl, "RACE", "Race", RACES, n)
    rows += _count_rows(adsl, "EDUC", "Education", EDUCATION_LEVELS, n)
    patients = adsl[adsl["GROUP"] == "patient"]
    for c in protocol.cohorts:
        k = int((patients["COHORT"] == c.name).sum())
        rows.append(
            {
                "section": "Demographics",
                "characteristic": f"Cohort, {c.name} ({c.excipient}, "
                f"{format_number(c.dmso_pct)}% DMSO)",
                "statistic": "n (%)",
                "patients": _pct(k, n["patient"]),
                "controls": "",
                "p_value": math.nan,
            }
        )
    groups = dict(zip(adsl["USUBJID"], adsl["GROUP"], strict=True))
    base = _baseline_values(engine, protocol, groups)
    params = [(f"{k.lower()}_ml_min", f"{k} flow rate, mL/min", 2) for k in SALIVA_KINDS]
    params += [
        (f"{k.lower()}_{ion.lower()}_mmol_l", f"{k} {_ION_NAMES[ion]} ({ion}), mmol/L", 1)
        for k in SALIVA_KINDS
        for ion in SALIVA_IONS
    ]
    for paramcd, label, decimals in params:
        values = {
            g: base.loc[(base["PARAMCD"] == paramcd) & (base["GROUP"] == g), "AVAL"].to_numpy(
                dtype=float
            )
            for g in _GROUPS
        }
        rows.append(
            {
                "section": "Saliva at baseline",
                "characteristic": label,
                "statistic": "mean (SD)",
                **{f"{g}s": _mean_sd(values[g], decimals, n[g]) for g in _GROUPS},
                "p_value": _welch_p(values["patient"], values["control"]),
            }
        )
    out = pd.DataFrame(rows, columns=list(TABLE1_COLUMNS))
    out["p_value"] = out["p_value"].astype(float)
    return out


# --------------------------------------------------------------------------- Table 2 / 4


def adverse_events(engine: Engine) -> pd.DataFrame:
    """The adverse events as recorded, one row per event (blank SAE criteria as "")."""
    ae = read_form(engine, "adverse_events")
    ae["sae_criteria"] = ae["sae_criteria"].where(ae["sae_criteria"].notna(), "")
    return ae


def table2(engine: Engine, adsl: pd.DataFrame) -> pd.DataFrame:
    """Table 2, "Safety profile with adverse events", of the AEs with onset up to the end of
    the primary period (the upper bound of the primary visit's window, day 150 in the bundled
    protocol): :func:`~xerotrial.trial.safety.tabulate_table2` with the paper's labels and
    N = the patients treated (``SAFFL`` of ``adsl``). An AE of a subject outside that
    population is an error (:class:`~xerotrial.stats.errors.DataValidationError`)."""
    protocol = store_protocol(engine)
    safety = set(adsl.loc[adsl["SAFFL"] == "Y", "USUBJID"])
    ae = adverse_events(engine)
    outside = sorted(set(ae["subject"]) - safety)
    if outside:
        raise DataValidationError(
            f"adverse_events: AEs of subjects who were not treated: {', '.join(outside)}"
        )
    if not safety:  # nobody treated yet: an empty table, not an error
        return pd.DataFrame(columns=list(TABLE2_COLUMNS))
    ae = ae[ae["onset_day"].astype(int) <= _late_day(protocol)].reset_index(drop=True)
    return tabulate_table2(ae, len(safety), labels=PAPER_TABLE2_LABELS, source="adverse_events")


def hla_results(engine: Engine) -> pd.DataFrame | None:
    """Every HLA antibody result with its positivity, DSA flag and onset (``derive_dsa`` with
    the protocol's positivity cut-off, the donors' typing and each patient's donor); None
    when the store has no results."""
    protocol = store_protocol(engine)
    results = read_form(engine, "hla_antibodies")
    if results.empty:
        return None
    samples = results[["subject", "study_day"]].drop_duplicates()
    rule = protocol.hla_positive
    if rule.operator != ">":
        raise DataValidationError(
            f"the protocol's hla_positive rule is {rule}; derive_dsa takes a cut-off 'mfi > value'"
        )
    return derive_dsa(
        results,
        donor_typing(engine),
        patient_donor(engine),
        cutoff=float(rule.value),
        samples=samples,
        source="hla_antibodies",
    )


def table4(engine: Engine) -> pd.DataFrame:
    """Table 4: the patients' positive HLA antibodies with their MFI at every sample day, the
    DSA flag and the onset (``tabulate_table4(hla_results(engine), layout="wide")``)."""
    dsa = hla_results(engine)
    if dsa is None:
        return pd.DataFrame(
            columns=["subject", "specificity", "dsa", "onset", "first_positive_day"]
        )
    return tabulate_table4(dsa, layout="wide", source="hla_antibodies")


# --------------------------------------------------------------------------- CONSORT


def consort(engine: Engine, adsl: pd.DataFrame) -> dict:
    """The counts of the CONSORT flow diagram (``xerotrial.report.consort``); ``adsl`` from
    :func:`subject_level`.

    ``screened`` and ``not_eligible`` (screening form); ``reasons``: reason -> persons, from
    ``failed_criteria`` split on ';' (each person once per reason; codes of
    :data:`~xerotrial.trial.eligibility.REASONS` in its order, then others as written);
    ``enrolled``: patients with administrations; ``cohorts``: the enrolled by protocol cohort;
    ``followed_up``: enrolled with a visit at the primary follow-up (``day120``) and
    ``followed_up_label`` its label ("4 months"); ``analysed``: patients with a baseline UWS
    flow rate (the efficacy analysis); ``controls``: healthy controls; ``long_term``: patients
    with a long-term visit (``year2``; 0 when the protocol has none).
    """
    protocol = store_protocol(engine)
    screening = read_form(engine, "screening")
    eligible = screening["eligible"].astype(bool)
    counts: dict[str, int] = {}
    for text in screening.loc[~eligible, "failed_criteria"]:
        for code in dict.fromkeys(c.strip() for c in _text(text).split(";") if c.strip()):
            counts[code] = counts.get(code, 0) + 1
    reasons = {c: counts[c] for c in REASONS if c in counts}
    reasons |= {c: k for c, k in counts.items() if c not in reasons}
    treated = adsl[adsl["SAFFL"] == "Y"]
    patients = set(adsl.loc[adsl["GROUP"] == "patient", "USUBJID"])
    visits = read_form(engine, "visits")
    groups = dict(zip(adsl["USUBJID"], adsl["GROUP"], strict=True))
    base = _baseline_values(engine, protocol, groups)
    uws = base[(base["PARAMCD"] == "uws_ml_min") & (base["GROUP"] == "patient")]
    return {
        "screened": len(screening),
        "not_eligible": int((~eligible).sum()),
        "reasons": reasons,
        "enrolled": len(treated),
        "cohorts": {c.name: int((treated["COHORT"] == c.name).sum()) for c in protocol.cohorts},
        "followed_up": len(
            set(treated["USUBJID"]) & _subjects_with_visit(visits, protocol.analysis.primary)
        ),
        "followed_up_label": protocol.visit(protocol.analysis.primary).label,
        "analysed": int(uws["USUBJID"].nunique()),
        "controls": int((adsl["GROUP"] == "control").sum()),
        "long_term": len(patients & _subjects_with_visit(visits, protocol.analysis.long_term)),
    }


# --------------------------------------------------------------------------- follow-up


def long_term_followup(engine: Engine, adsl: pd.DataFrame) -> pd.DataFrame:
    """One row per patient seen at the long-term visit (``FU2YFL`` of ``adsl``; ``year2``):
    ``USUBJID``, ``LASTDY`` (last study day), ``N_AE_LATE`` and ``N_SAE_LATE`` (AEs and SAEs
    with onset after the primary period, i.e. after the primary visit's window) and
    ``N_SAE_RELATED`` (treatment-related SAEs at any time; relatedness as
    :func:`~xerotrial.trial.safety.validate_adverse_events` reads it)."""
    protocol = store_protocol(engine)
    followed = adsl[(adsl["GROUP"] == "patient") & (adsl["FU2YFL"] == "Y")]
    ae = adverse_events(engine)
    if len(ae):
        ae = validate_adverse_events(ae, "adverse_events")
    late = _late_day(protocol)
    rows = []
    for s, last in zip(followed["USUBJID"], followed["LASTDY"], strict=True):
        mine = ae[ae["subject"] == s]
        after = mine[mine["onset_day"].astype(int) > late]
        rows.append(
            {
                "USUBJID": s,
                "LASTDY": last,
                "N_AE_LATE": len(after),
                "N_SAE_LATE": int(after["serious"].astype(bool).sum()),
                "N_SAE_RELATED": int(
                    (mine["serious"].astype(bool) & mine["related"].astype(bool)).sum()
                ),
            }
        )
    out = pd.DataFrame(
        rows, columns=["USUBJID", "LASTDY", "N_AE_LATE", "N_SAE_LATE", "N_SAE_RELATED"]
    )
    out["LASTDY"] = pd.array(out["LASTDY"].tolist(), dtype="Int64")
    return out


def protocol_deviations(engine: Engine) -> pd.DataFrame:
    """Visits outside their target window: ``USUBJID, VISIT, STUDY_DAY, TARGET, REASON``
    (by subject and study day). A visit's study day is mapped with the protocol's
    ``map_visit``: a day outside the target window of its visit is a deviation with
    ``map_visit``'s reason; so is a day that falls in another visit's window or in none.
    ``TARGET`` is the recorded visit's target window, e.g. ``[106, 134]``."""
    protocol = store_protocol(engine)
    visits = read_form(engine, "visits")
    rows = []
    for rec in visits.to_dict("records"):
        day = int(rec["study_day"])
        a = protocol.map_visit(day)
        if not a.deviation and a.visit == rec["visit"]:
            continue
        try:
            target = str(protocol.visit(rec["visit"]).target)
        except DataValidationError:
            target = ""
        reason = a.reason
        if a.visit is not None and a.visit != rec["visit"]:
            reason = (
                f"recorded as visit {rec['visit']}, but study day {day} is in the window "
                f"of visit {a.visit}" + (f"; {a.reason}" if a.reason else "")
            )
        rows.append(
            {
                "USUBJID": rec["subject"],
                "VISIT": rec["visit"],
                "STUDY_DAY": day,
                "TARGET": target,
                "REASON": reason,
            }
        )
    out = pd.DataFrame(rows, columns=["USUBJID", "VISIT", "STUDY_DAY", "TARGET", "REASON"])
    return out.sort_values(["USUBJID", "STUDY_DAY"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- product


def _release_limits(protocol: Protocol) -> ReleaseLimits:
    """The protocol's release rules as ``ReleaseLimits`` (a percent criterion the protocol
    does not list keeps the paper's limit)."""
    default = ReleaseLimits()
    kw: dict[str, float] = {}
    for rule in protocol.release:
        column = rule.variable or rule.name
        if column in PERCENT_COLUMNS:
            op, _ = default.rule(column)
            if rule.operator != op:
                raise DataValidationError(
                    f"the protocol's release rule {rule} is not '{column} {op} value'; "
                    "evaluate_release checks strict limits only"
                )
            kw[f"{column}_{'min' if op == '>' else 'max'}"] = float(rule.value)
        elif column in TEST_COLUMNS and not (
            rule.operator == "==" and str(rule.value).casefold() == "negative"
        ):
            raise DataValidationError(
                f"the protocol's release rule {rule} is not '{column} == negative'"
            )
    return ReleaseLimits(**kw)


def release(engine: Engine) -> pd.DataFrame:
    """The batches' release results (``evaluate_release`` with the protocol's limits): one
    row per batch with ``BATCH, DONOR, RELEASED`` (bool), ``FAILED`` (the criteria missed,
    '; ' between, "" when released), ``N_PATIENTS`` (patients injected with it) and the
    certificate-of-analysis values, upper-cased (``VIABILITY`` ... ``DONOR_SEROLOGY``)."""
    protocol = store_protocol(engine)
    batches = read_form(engine, "batches")
    result = evaluate_release(batches, limits=_release_limits(protocol), source="batches")
    adm = read_form(engine, "administrations")
    patients = adm.groupby("batch")["subject"].nunique().to_dict() if len(adm) else {}
    out = pd.DataFrame(
        {
            "BATCH": result["batch"],
            "DONOR": result["donor"],
            "RELEASED": result["passed"].astype(bool),
            "FAILED": ["; ".join(str(f) for f in fails) for fails in result["failures"]],
            "N_PATIENTS": [int(patients.get(b, 0)) for b in result["batch"]],
        }
    )
    for col in (*PERCENT_COLUMNS, *TEST_COLUMNS):
        values = batches[col].tolist()
        out[col.upper()] = (
            pd.array(values, dtype="Float64")
            if col in PERCENT_COLUMNS
            else pd.Series(values, dtype=object)
        )
    return out
