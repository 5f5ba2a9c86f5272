"""Raw case report forms of the **SYNTHETIC** demo trial, one table per store form.

**SYNTHETIC DATA -- NO VALUE BELONGS TO A REAL PERSON.** The tables tell the seed paper's
story (Lynggaard et al. 2022) through the store's 15 forms, in import order
(:data:`xerotrial.store.forms.FORMS`): one site (Rigshospitalet, Copenhagen); 17 people
screened, 10 patients (7 men, 3 women, 45-70 years, median 59.5) injected from 2019-04-29 to
2020-01-08 (cohorts CS5 then CS10), P09 and P10 seen at about 3 months instead of 4 (SARS-CoV-2
amendment: a window deviation), P01-P04 also seen at the 2-year safety follow-up (visit
``year2``, written only when the bundled protocol defines that visit); 10 healthy
controls matched on sex, age (+-5 years), race and education; Table 2's adverse events; three
female donors with full HLA typing, one released batch each, one donor per patient; the HLA
antibody story of the Results (one patient with pre-existing DSAs, de novo DSAs in P05 and
P10, weak non-donor antibodies in P02 and P03); safety laboratory values without changes.

The efficacy values are not typed in here: flow rates (:func:`.flow.flow_data`), saliva ions
(:func:`.ions.ion_data`, or :func:`.calibrate.calibrate_ion` for the rows it does not hold),
questionnaire answers (:func:`.questionnaires.questionnaire_items`)
and scintigraphy (:func:`.scintigraphy.scintigraphy_records`) are the seeded calibrations that
reproduce Table 3 with xerotrial's own engine. Cup weights are built back from the flow rates:
UWS over 10 minutes and SWS over 5, on 0.01 g (1 g = 1 mL), so ``derive_flow_rate`` returns
the calibrated rates. Everything else is drawn from ``numpy.random.default_rng`` streams of
the seed, so the result is a function of the seed.

Example
-------
The parts drawn from the seed alone (:func:`demo_forms` runs the calibrations too, which
``tests/demo_calibration`` checks once per session):

>>> screening = _screening(2022)
>>> len(screening), int(screening["eligible"].sum())
(17, 10)
>>> _participants(2022).groupby("group")["sex"].value_counts().loc["patient"].to_dict()
{'M': 7, 'F': 3}
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xerotrial.store.forms import FORMS, format_value, hla_columns
from xerotrial.trial.immunology import HLA_LOCI
from xerotrial.trial.matching import match_controls
from xerotrial.trial.protocol import GLANDS, Protocol, load_protocol

from . import calibrate
from .flow import VISITS as FLOW_VISITS
from .flow import flow_data
from .ions import MIN_MMOL_L, ion_data
from .questionnaires import questionnaire_items
from .scintigraphy import scintigraphy_records

__all__ = [
    "CONTROLS",
    "DONORS",
    "PATIENTS",
    "demo_forms",
    "write_demo_forms",
]

# ------------------------------------------------------------------------------ the design

#: Patient ids, in enrolment order (P01-P05 cohort CS5, P06-P10 CS10).
PATIENTS: tuple[str, ...] = tuple(f"P{i:02d}" for i in range(1, 11))
#: Healthy control ids.
CONTROLS: tuple[str, ...] = tuple(f"C{i:02d}" for i in range(1, 11))
SITE = ("RH", "Rigshospitalet, Copenhagen -- SYNTHETIC DEMO DATA", "DK")
FIRST_INJECTION = dt.date(2019, 4, 29)
LAST_INJECTION = dt.date(2020, 1, 8)
#: Seen at about 3 months instead of 4 (SARS-CoV-2 protocol amendment).
THREE_MONTHS: tuple[str, ...] = ("P09", "P10")
#: Followed up at 2 years (paper: "Four of the 10 patients").
YEAR2_PATIENTS: tuple[str, ...] = ("P01", "P02", "P03", "P04")
YEAR2 = "year2"
#: The vasovagal syncope during the last injection (the stroke, day 82, is the oldest
#: patient's: hypertension, hypercholesterolaemia and two earlier TIAs).
SYNCOPE_PATIENT = "P06"
PATIENT_BATCH: dict[str, str] = {
    **dict.fromkeys(("P01", "P02", "P03"), "B1"),
    **dict.fromkeys(("P04", "P05", "P06"), "B2"),
    **dict.fromkeys(("P07", "P08", "P09", "P10"), "B3"),
}
BATCH_DONOR = {"B1": "D1", "B2": "D2", "B3": "D3"}

#: Donors: sex, age, HLA typing (realistic haplotypes; a locus not carried is left out).
DONORS: dict[str, tuple[str, int, str]] = {
    "D1": (
        "F",
        24,
        "A*02:01 A*24:02 B*07:02 B*44:02 C*07:02 C*05:01 DRB1*15:01 DRB1*04:01 "
        "DRB4*01:03 DRB5*01:01 DQA1*01:02 DQA1*03:01 DQB1*06:02 DQB1*03:02 "
        "DPA1*01:03 DPA1*01:03 DPB1*04:01 DPB1*02:01",
    ),
    "D2": (
        "F",
        22,
        "A*01:01 A*03:01 B*08:01 B*35:01 C*07:01 C*04:01 DRB1*03:01 DRB1*01:01 "
        "DRB3*01:01 DQA1*05:01 DQA1*01:01 DQB1*02:01 DQB1*05:01 DPA1*01:03 "
        "DPA1*02:01 DPB1*04:01 DPB1*01:01",
    ),
    "D3": (
        "F",
        26,
        "A*11:01 A*32:01 B*51:01 B*18:01 C*15:02 C*07:01 DRB1*07:01 DRB1*11:01 "
        "DRB3*02:02 DRB4*01:03 DQA1*02:01 DQA1*05:05 DQB1*02:02 DQB1*03:01 "
        "DPA1*01:03 DPA1*01:03 DPB1*04:01 DPB1*04:02",
    ),
}
#: Single-antigen beads recorded for every sample (a subset of a LABScreen panel).
BEADS: tuple[str, ...] = (
    "A*01:01",
    "A*02:01",
    "A*03:01",
    "A*11:01",
    "A*24:02",
    "A*68:01",
    "B*07:02",
    "B*08:01",
    "B*13:02",
    "B*44:02",
    "B*51:01",
    "B*57:01",
    "C*04:01",
    "C*07:02",
    "DRB1*01:01",
    "DRB1*03:01",
    "DRB1*04:01",
    "DRB1*07:01",
    "DRB1*15:01",
    "DQA1*05:01/DQB1*02:01",
    "DQA1*01:02/DQB1*06:02",
    "DQA1*05:05/DQB1*03:01",
    "DPA1*01:03/DPB1*04:01",
    "DPA1*02:01/DPB1*01:01",
)
HLA_DAYS = (0, 30, 120)
#: The antibody story (Results, Table 4): (subject, day, bead) -> MFI; other beads stay at
#: background. P07 (donor D3): pre-existing DSAs A*11:01 and DQ7 (DQA1*05:05/DQB1*03:01), up
#: at 1 month, down at 4, and a non-donor A*24:02; P05 (D2) and P10 (D3): de novo DSAs plus
#: non-donor antibodies; P02 and P03 (D1): very weak non-donor antibodies.
HLA_STORY: dict[tuple[str, int, str], float] = {
    ("P07", 0, "A*11:01"): 3100,
    ("P07", 30, "A*11:01"): 4600,
    ("P07", 120, "A*11:01"): 2300,
    ("P07", 0, "DQA1*05:05/DQB1*03:01"): 2200,
    ("P07", 30, "DQA1*05:05/DQB1*03:01"): 2900,
    ("P07", 120, "DQA1*05:05/DQB1*03:01"): 1500,
    ("P07", 0, "A*24:02"): 1600,
    ("P07", 30, "A*24:02"): 1700,
    ("P07", 120, "A*24:02"): 1300,
    ("P05", 30, "B*08:01"): 4100,
    ("P05", 30, "DRB1*03:01"): 2700,
    ("P05", 30, "A*11:01"): 2300,
    ("P05", 30, "B*57:01"): 1800,
    ("P05", 120, "B*08:01"): 3000,
    ("P05", 120, "DRB1*03:01"): 950,
    ("P05", 120, "A*11:01"): 1400,
    ("P05", 120, "B*57:01"): 1500,
    ("P10", 30, "B*51:01"): 1200,
    ("P10", 120, "B*51:01"): 2600,
    ("P10", 120, "DQA1*05:05/DQB1*03:01"): 1900,
    ("P10", 120, "A*24:02"): 1350,
    ("P10", 120, "DRB1*04:01"): 1450,
    ("P02", 30, "B*57:01"): 1150,
    ("P02", 120, "B*57:01"): 1050,
    ("P03", 120, "DRB1*07:01"): 1200,
}
#: Screen failures: reason codes of ``xerotrial.trial.eligibility.REASONS`` (';' between).
SCREEN_FAILURES: tuple[str, ...] = (
    "smoking",
    "other_cancer",
    "relapse_free",
    "xerogenic_medication",
    "smoking;alcohol_abuse",
    "previous_salivary_gland_surgery",
    "age",
    "other_salivary_gland_disease",
    "penicillin_streptomycin_allergy",
)
#: Safety laboratory tests: unit, decimals, reference range (men, women; None = no limit).
LABS: dict[str, tuple[str, int, tuple[float | None, float], tuple[float | None, float]]] = {
    "haemoglobin": ("mmol/L", 1, (8.3, 10.5), (7.3, 9.5)),
    "leukocytes": ("10^9/L", 1, (3.5, 10.0), (3.5, 10.0)),
    "neutrophils": ("10^9/L", 2, (1.5, 7.5), (1.5, 7.5)),
    "lymphocytes": ("10^9/L", 2, (1.0, 4.0), (1.0, 4.0)),
    "platelets": ("10^9/L", 0, (145.0, 390.0), (165.0, 400.0)),
    "alt": ("U/L", 0, (10.0, 70.0), (10.0, 45.0)),
    "creatinine": ("umol/L", 0, (60.0, 105.0), (45.0, 90.0)),
    "crp": ("mg/L", 1, (None, 10.0), (None, 10.0)),
}
LAB_VISITS = ("day0", "day30", "day120")
#: Ions of the calibrations (Table 3 row suffix) -> the form's ion code.
IONS = {"sodium": "Na", "potassium": "K", "chloride": "Cl", "phosphate": "PO4"}
KINDS = {"UWS": "uws", "SWS": "sws"}
#: Healthy controls' whole-saliva flow (mL/min): mean and SD of the draw.
CONTROL_FLOW = {"UWS": (0.45, 0.10), "SWS": (1.50, 0.35)}

_STREAMS = (
    "participants",
    "screening",
    "visits",
    "sialometry",
    "saliva_ions",
    "adverse_events",
    "batches",
    "hla_antibodies",
    "safety_labs",
    "injections",
    "control_visits",
)


def _rng(seed: int, stream: str) -> np.random.Generator:
    """An independent generator per form, so that one form's draws do not shift another's."""
    return np.random.default_rng([seed, _STREAMS.index(stream)])


def _frame(form: str, rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows as the form's template (every column, template order, object cells)."""
    cols = list(FORMS[form].columns)
    rows = list(rows)
    for r in rows:
        unknown = set(r) - set(cols)
        if unknown:  # pragma: no cover - a programming error
            raise KeyError(f"{form}: not template columns: {sorted(unknown)}")
    return pd.DataFrame(
        [[_native(r.get(c)) for c in cols] for r in rows], columns=cols, dtype=object
    )


def _native(v: Any) -> Any:
    """A plain Python cell value (None for a missing one)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _date(d: dt.date, days: int) -> dt.date:
    return d + dt.timedelta(days=int(days))


# ------------------------------------------------------------------------------ people


def _patient_ages(rng: np.random.Generator) -> np.ndarray:
    """Ten ages with minimum 45, maximum 70 and median 59.5, in random order."""
    a = int(rng.integers(56, 60))  # the 5th and 6th ages are a and 119 - a
    low = rng.choice(np.arange(46, a + 1), 3, replace=False)
    high = rng.choice(np.arange(119 - a, 70), 3, replace=False)
    return rng.permutation(np.r_[45, low, a, 119 - a, high, 70]).astype(int)


def _controls(patients: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Controls matched on sex, race, education and age +-5 years, drawn until
    ``match_controls`` (the optimal matching) gives back exactly the intended pairs."""
    for _ in range(1000):
        order = rng.permutation(len(patients))
        offsets = rng.integers(-4, 5, len(patients))
        ctrl = pd.DataFrame(
            {
                "subject": list(CONTROLS),
                "age": [int(patients["age"].iat[i] + offsets[k]) for k, i in enumerate(order)],
                **{c: [patients[c].iat[i] for i in order] for c in ("sex", "race", "education")},
                "matched_to": [patients["subject"].iat[i] for i in order],
            }
        )
        m = match_controls(patients, ctrl.drop(columns="matched_to"))
        got = dict(zip(m.pairs["control"], m.pairs["patient"], strict=True))
        if m.unmatched.empty and got == dict(zip(ctrl["subject"], ctrl["matched_to"], strict=True)):
            return ctrl
    raise RuntimeError("no control set reproduces its matching")  # pragma: no cover


@cache
def _people(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = _rng(seed, "participants")
    ages = _patient_ages(rng)
    women = set(rng.choice(10, 3, replace=False).tolist())
    education = rng.choice(["low", "medium", "high"], 10, p=[0.25, 0.45, 0.30])
    patients = pd.DataFrame(
        {
            "subject": list(PATIENTS),
            "age": ages,
            "sex": ["F" if i in women else "M" for i in range(10)],
            "race": ["White"] * 10,
            "education": [str(e) for e in education],
        }
    )
    return patients, _controls(patients, rng)


def _participants(seed: int) -> pd.DataFrame:
    patients, controls = _people(seed)
    rows = [
        {
            "subject": r.subject,
            "site": SITE[0],
            "group": "patient",
            "sex": r.sex,
            "age_years": int(r.age),
            "race": r.race,
            "education": r.education,
            "enrolment_order": i + 1,
        }
        for i, r in enumerate(patients.itertuples())
    ]
    rows += [
        {
            "subject": r.subject,
            "site": SITE[0],
            "group": "control",
            "sex": r.sex,
            "age_years": int(r.age),
            "race": r.race,
            "education": r.education,
            "matched_to": r.matched_to,
        }
        for r in controls.itertuples()
    ]
    return _frame("participants", rows)


# ------------------------------------------------------------------------------ schedule


@cache
def _schedule(seed: int) -> dict[str, dict[str, int]]:
    """Study day of every visit: patient -> visit -> day (controls: day0 only)."""
    rng = _rng(seed, "visits")
    out: dict[str, dict[str, int]] = {}
    for s in PATIENTS:
        days = {
            "day0": 0,
            "day1": 1,
            "day5": int(rng.integers(4, 7)),
            "day30": int(rng.integers(28, 33)),
            "day120": int(rng.integers(90, 93) if s in THREE_MONTHS else rng.integers(115, 126)),
        }
        if s in YEAR2_PATIENTS:
            days[YEAR2] = int(rng.integers(730, 761))  # "followed for at least 2 years"
        out[s] = days
    return out


@cache
def _injection_dates(seed: int) -> dict[str, dt.date]:
    """Injection dates: P01 on 2019-04-29, P10 on 2020-01-08; P02-P08 spread over the
    summer and autumn of 2019 (P08's 4-month visit before the March 2020 lockdown), P09 in
    mid-December 2019 (its 3-month visit after it)."""
    rng = _rng(seed, "injections")
    start, end = dt.date(2019, 5, 20), dt.date(2019, 10, 24)
    base = np.linspace(0, (end - start).days, 7)
    jitter = rng.integers(-6, 7, 7)
    mid = [_date(start, b + j) for b, j in zip(base, jitter, strict=True)]
    mid.append(_date(dt.date(2019, 12, 16), int(rng.integers(0, 5))))
    return dict(zip(PATIENTS, [FIRST_INJECTION, *mid, LAST_INJECTION], strict=True))


@cache
def _control_dates(seed: int) -> dict[str, dt.date]:
    rng = _rng(seed, "control_visits")
    span = (dt.date(2020, 2, 28) - dt.date(2019, 5, 1)).days
    return {
        c: _date(dt.date(2019, 5, 1), int(d))
        for c, d in zip(CONTROLS, np.sort(rng.integers(0, span, 10)), strict=True)
    }


def _visits(seed: int, protocol: Protocol) -> pd.DataFrame:
    """The visits; the 2-year follow-up only where the protocol has the visit ``year2``."""
    sched, inj, cdates = _schedule(seed), _injection_dates(seed), _control_dates(seed)
    known = {v.name for v in protocol.visits}
    rows = [
        {"subject": s, "visit": v, "study_day": d, "visit_date": _date(inj[s], d)}
        for s in PATIENTS
        for v, d in sched[s].items()
        if v in known
    ]
    rows += [
        {"subject": c, "visit": "day0", "study_day": 0, "visit_date": cdates[c]} for c in CONTROLS
    ]
    return _frame("visits", rows)


def _screening(seed: int) -> pd.DataFrame:
    rng = _rng(seed, "screening")
    inj = _injection_dates(seed)
    people = [(_date(inj[s], -int(rng.integers(14, 46))), s, None) for s in PATIENTS]
    span = (dt.date(2019, 12, 15) - dt.date(2019, 3, 1)).days
    reasons = rng.choice(len(SCREEN_FAILURES), 7, replace=False)
    people += [
        (_date(dt.date(2019, 3, 1), int(rng.integers(0, span))), None, SCREEN_FAILURES[k])
        for k in reasons
    ]
    people.sort(key=lambda p: (p[0], p[1] or ""))
    return _frame(
        "screening",
        [
            {
                "screening_id": f"S{i + 1:02d}",
                "subject": s,
                "screening_date": d,
                "eligible": s is not None,
                "failed_criteria": why,
            }
            for i, (d, s, why) in enumerate(people)
        ],
    )


# ------------------------------------------------------------------------------ efficacy


def _sialometry(seed: int, protocol: Protocol) -> pd.DataFrame:
    rng = _rng(seed, "sialometry")
    minutes = protocol.collection_minutes
    rows = []

    def cup(subject: str, visit: str, kind: str, flow: float) -> dict[str, Any]:
        before = int(rng.integers(1150, 1350))  # empty cup, centigrams
        net = round(flow * minutes[kind] * 100)
        return {
            "subject": subject,
            "visit": visit,
            "kind": kind,
            "cup_before_g": before / 100,
            "cup_after_g": (before + net) / 100,
            "minutes": float(minutes[kind]),
        }

    flows = {k: np.asarray(flow_data(f"{p}_ml_min", seed)) for k, p in KINDS.items()}
    for i, s in enumerate(PATIENTS):
        for j, v in enumerate(FLOW_VISITS):
            rows += [cup(s, v, k, float(flows[k][i, j])) for k in KINDS]
    for k, (mean, sd) in CONTROL_FLOW.items():
        z = rng.normal(size=len(CONTROLS))
        flows[k] = np.clip(mean + sd * (z - z.mean()) / z.std(), mean / 3, 3 * mean)
    for i, c in enumerate(CONTROLS):
        rows += [cup(c, "day0", k, float(flows[k][i])) for k in KINDS]
    rows.sort(key=lambda r: (r["subject"][0] == "C", r["subject"]))
    return _frame("sialometry", rows)


@cache
def _fallback_ion(paramcd: str, seed: int) -> np.ndarray:
    y = calibrate.calibrate_ion(paramcd, np.random.default_rng(seed))
    y.setflags(write=False)
    return y


def _ion_values(paramcd: str, seed: int) -> np.ndarray:
    """Calibrated ion values (subjects x [day0, day120]); ``ion_data`` where it has the row,
    else :func:`.calibrate.calibrate_ion` (the rows whose SEs are equal)."""
    try:
        return np.asarray(ion_data(paramcd, seed), dtype=float)
    except KeyError:
        return np.asarray(_fallback_ion(paramcd, seed), dtype=float)


#: The ion rows whose calibration takes longest (about 30 and 7 s of REML fits): the tests
#: take them from the bundle (:func:`bundled_ion_rows`); ``make demo-data-check`` reruns them.
SLOW_ION_ROWS = ("uws_potassium", "sws_phosphate")


def bundled_ion_rows(paramcds: Iterable[str] = SLOW_ION_ROWS) -> dict[str, np.ndarray]:
    """The patients' ion values of the bundled ``saliva_ions.csv`` (subjects x [day0,
    day120], NaN where not measured), as :func:`demo_forms` takes them in ``given_ions``.

    >>> bundled_ion_rows(["uws_potassium"])["uws_potassium"].shape
    (10, 2)
    """
    from xerotrial.demo.build import demo_crf_files

    path = next(p for p in demo_crf_files() if p.name == "saliva_ions.csv")
    frame = pd.read_csv(path)
    kind_of = {v: k for k, v in KINDS.items()}
    out = {}
    for paramcd in paramcds:
        kind, _, name = paramcd.partition("_")
        rows = frame[(frame["kind"] == kind_of[kind]) & (frame["ion"] == IONS[name])]
        y = np.full((len(PATIENTS), 2), np.nan)
        for r in rows.itertuples(index=False):
            if r.subject in PATIENTS:
                y[PATIENTS.index(r.subject), ("day0", "day120").index(r.visit)] = r.value_mmol_l
        out[paramcd] = y
    return out


def _saliva_ions(seed: int, given: Mapping[str, np.ndarray]) -> pd.DataFrame:
    rng = _rng(seed, "saliva_ions")
    rows = []
    for kind, k in KINDS.items():
        for name, code in IONS.items():
            paramcd = f"{k}_{name}"
            y = given[paramcd] if paramcd in given else _ion_values(paramcd, seed)
            for i, s in enumerate(PATIENTS):
                for j, v in enumerate(("day0", "day120")):
                    if not np.isnan(y[i, j]):
                        rows.append(
                            {
                                "subject": s,
                                "visit": v,
                                "kind": kind,
                                "ion": code,
                                "value_mmol_l": round(float(y[i, j]), 2),
                            }
                        )
            base = y[:, 0][~np.isnan(y[:, 0])]
            values = rng.normal(base.mean(), 0.6 * base.std(), len(CONTROLS))
            for c, x in zip(CONTROLS, np.clip(values, MIN_MMOL_L, None), strict=True):
                rows.append(
                    {
                        "subject": c,
                        "visit": "day0",
                        "kind": kind,
                        "ion": code,
                        "value_mmol_l": round(float(x), 2),
                    }
                )
    order = {c: i for i, c in enumerate(IONS.values())}
    rows.sort(
        key=lambda r: (
            r["subject"][0] == "C",
            r["subject"],
            r["visit"] != "day0",
            r["kind"] != "UWS",
            order[r["ion"]],
        )
    )
    return _frame("saliva_ions", rows)


def _questionnaire(frame: pd.DataFrame, form: str) -> pd.DataFrame:
    items = [c for c in FORMS[form].columns if c not in ("subject", "visit")]
    rows = []
    for rec in frame.rename(columns={"id": "subject"}).to_dict("records"):
        row = {"subject": rec["subject"], "visit": rec["visit"]}
        for c in items:
            v = _native(rec.get(c))
            row[c] = None if v is None else int(v)
        rows.append(row)
    return _frame(form, rows)


def _scintigraphy(seed: int) -> pd.DataFrame:
    rec = scintigraphy_records(seed)
    return _frame(
        "scintigraphy",
        [
            {
                **r,
                "uptake_score": None
                if _native(r["uptake_score"]) is None
                else int(r["uptake_score"]),
            }
            for r in rec.astype(object).to_dict("records")
        ],
    )


# ------------------------------------------------------------------------------ safety


def _adverse_events(seed: int) -> pd.DataFrame:
    rng = _rng(seed, "adverse_events")
    sched = _schedule(seed)
    ae = [
        {
            "subject": s,
            "term": "Pain",
            "grade": 1,
            "serious": False,
            "related": "related",
            "onset_day": 0,
        }
        for s in PATIENTS
    ]
    ae.append(
        {
            "subject": SYNCOPE_PATIENT,
            "term": "Vasovagal reaction",
            "grade": 3,
            "serious": False,
            "related": "related",
            "onset_day": 0,
        }
    )
    oldest = _people(seed)[0].sort_values("age", kind="stable")["subject"].iat[-1]
    ae.append(
        {
            "subject": oldest,
            "term": "Stroke",
            "grade": 3,
            "serious": True,
            "sae_criteria": "hospitalisation",
            "related": "not related",
            "onset_day": 82,
        }
    )
    for i in sorted(rng.choice(10, 3, replace=False).tolist()):
        s = PATIENTS[i]
        ae.append(
            {
                "subject": s,
                "term": "Flu like symptoms",
                "grade": 1,
                "serious": False,
                "related": "not related",
                "onset_day": int(rng.integers(5, sched[s]["day120"] + 1)),
            }
        )
    ae.sort(key=lambda r: (r["subject"], r["onset_day"]))
    return _frame("adverse_events", [{"ae_id": f"AE{i + 1:02d}", **r} for i, r in enumerate(ae)])


def _safety_labs(seed: int) -> pd.DataFrame:
    rng = _rng(seed, "safety_labs")
    sexes = dict(zip(_people(seed)[0]["subject"], _people(seed)[0]["sex"], strict=True))
    rows = []
    for s in PATIENTS:
        for test, (unit, dec, men, women) in LABS.items():
            lo, hi = men if sexes[s] == "M" else women
            low = 0.0 if lo is None else lo
            width = hi - low
            centre = low + width * (rng.uniform(0.05, 0.3) if lo is None else rng.uniform(0.3, 0.7))
            for v in LAB_VISITS:
                x = np.clip(
                    centre + rng.normal(0, 0.05 * width), low + 0.03 * width, hi - 0.03 * width
                )
                value = round(float(x), dec)
                rows.append(
                    {
                        "subject": s,
                        "visit": v,
                        "test": test,
                        "value": float(value),
                        "unit": unit,
                        "lower_limit": lo,
                        "upper_limit": hi,
                    }
                )
    return _frame("safety_labs", rows)


# ------------------------------------------------------------------------------ product


def _donors() -> pd.DataFrame:
    rows = []
    for donor, (sex, age, typing) in DONORS.items():
        row: dict[str, Any] = {"donor": donor, "sex": sex, "age_years": age}
        by_locus: dict[str, list[str]] = {}
        for allele in typing.split():
            by_locus.setdefault(allele.split("*")[0], []).append(allele)
        for locus in HLA_LOCI:
            for col, allele in zip(hla_columns(locus), by_locus.get(locus, []), strict=False):
                row[col] = allele
        rows.append(row)
    return _frame("donors", rows)


def _batches(seed: int) -> pd.DataFrame:
    rng = _rng(seed, "batches")
    rows = []
    for batch, donor in BATCH_DONOR.items():
        rows.append(
            {
                "batch": batch,
                "donor": donor,
                "viability": round(float(rng.uniform(88, 96)), 1),
                "cd90": round(float(rng.uniform(97, 99.9)), 1),
                "cd105": round(float(rng.uniform(92, 99)), 1),
                "cd73": round(float(rng.uniform(97, 99.9)), 1),
                "cd45": round(float(rng.uniform(0.1, 1.0)), 2),
                "hla_dr": round(float(rng.uniform(0.2, 1.5)), 2),
                **dict.fromkeys(
                    ("sterility", "mycoplasma", "endotoxin", "donor_serology"), "negative"
                ),
            }
        )
    return _frame("batches", rows)


def _administrations(protocol: Protocol) -> pd.DataFrame:
    return _frame(
        "administrations",
        [
            {
                "subject": s,
                "gland": g,
                "batch": PATIENT_BATCH[s],
                "study_day": 0,
                "million_cells": protocol.dosing.cells_million(g),
                "volume_ml": protocol.volume_ml(g),
            }
            for s in PATIENTS
            for g in GLANDS
        ],
    )


def _hla_antibodies(seed: int) -> pd.DataFrame:
    rng = _rng(seed, "hla_antibodies")
    rows = []
    for s in PATIENTS:
        for day in HLA_DAYS:
            background = np.clip(np.rint(rng.lognormal(math.log(180), 0.6, len(BEADS))), 20, 750)
            for bead, mfi in zip(BEADS, background, strict=True):
                rows.append(
                    {
                        "subject": s,
                        "study_day": day,
                        "specificity": bead,
                        "mfi": float(HLA_STORY.get((s, day, bead), mfi)),
                    }
                )
    return _frame("hla_antibodies", rows)


# ------------------------------------------------------------------------------ public


def demo_forms(
    seed: int = 2022, given_ions: Mapping[str, np.ndarray] | None = None
) -> dict[str, pd.DataFrame]:
    """The SYNTHETIC demo trial's raw forms: form name -> table, in import order.

    Each table has exactly its form template's columns and plain Python cell values (None
    for an empty cell), ready for ``xerotrial.store.importer.import_frame``. The first call
    for a seed runs the calibrations (about 50 s; cached per process); ``given_ions`` are
    saliva-ion rows taken as they are rather than calibrated (:func:`bundled_ion_rows`).
    """
    protocol = load_protocol()
    hn35, xq = questionnaire_items(seed)
    forms = {
        "sites": _frame("sites", [dict(zip(("site", "name", "country"), SITE, strict=True))]),
        "participants": _participants(seed),
        "screening": _screening(seed),
        "visits": _visits(seed, protocol),
        "sialometry": _sialometry(seed, protocol),
        "saliva_ions": _saliva_ions(seed, given_ions or {}),
        "qlq_hn35": _questionnaire(hn35, "qlq_hn35"),
        "xq": _questionnaire(xq, "xq"),
        "adverse_events": _adverse_events(seed),
        "donors": _donors(),
        "batches": _batches(seed),
        "administrations": _administrations(protocol),
        "hla_antibodies": _hla_antibodies(seed),
        "scintigraphy": _scintigraphy(seed),
        "safety_labs": _safety_labs(seed),
    }
    return {form: forms[form] for form in FORMS}


def write_demo_forms(
    directory: str | Path, seed: int = 2022, given_ions: Mapping[str, np.ndarray] | None = None
) -> list[Path]:
    """Write :func:`demo_forms` as ``directory/FORM.csv`` (the store's CSV conventions: an
    empty cell is a missing value, yes/no, ISO dates, exact floats); returns the paths in
    import order."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for form, frame in demo_forms(seed, given_ions).items():
        path = out / f"{form}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(frame.columns)
            for rec in frame.itertuples(index=False, name=None):
                w.writerow([format_value(_native(v)) for v in rec])
        paths.append(path)
    return paths
