"""The prespecified efficacy analysis: Table 3, the early look (1 month), the Wilcoxon
sensitivity analysis, responders and CS5 versus CS10, on the visits of the store's protocol.

Statistical analysis plan (the paper's Methods): per outcome a REML repeated-measures model
with the participant as random effect (random intercept) and visit as a fixed factor; SAS's
containment degrees of freedom; LS means +- SE by visit; each visit minus baseline with its
95% CI and p. Percent change from baseline is analysed the same way as its own parameter
(AVAL = PCHG, 0 at baseline). Sensitivity: the data "as observed", baseline versus the
primary follow-up, by the Wilcoxon signed-rank test, with medians and interquartile ranges
(SAS's default quartiles, PCTLDEF=5). Responders: the protocol's ``[thresholds.responder]``
rule (:func:`xerotrial.trial.sialometry.derive_responder`) at the primary follow-up. CS5
versus CS10: the cohort-by-visit interaction of the same model with cohort added (F test,
containment df).

The visits come from the protocol (:class:`xerotrial.trial.protocol.AnalysisPlan`): the
model's ``efficacy_visits`` (bundled: day 0, 1, 5, 30, 120), the ``primary`` follow-up
(day 120, 4 months) and the ``early`` look (day 30, 1 month). Each outcome's model uses the
efficacy visits at which its form is scheduled (``[schedule]``) and has data
(:func:`outcome_visits`); data at a visit where the form is not scheduled are included or
left out as ``[analysis] unscheduled`` says, and listed either way. An analysis that cannot
run yet (a store part-way through the trial) is not an error: it is returned as a
:class:`NotRun` with the reason.

The input is the efficacy dataset ``adeff`` (ADaM BDS: USUBJID, PARAMCD, AVISIT, AVAL,
ANL01FL, SRCDOM, ...), built from a trial store by :func:`derive_adeff`.

Example
-------
>>> import pandas as pd
>>> adeff = pd.DataFrame({"USUBJID": ["a", "a", "b", "b", "c", "c"],
...                       "PARAMCD": "uws_ml_min", "AVISIT": ["day0", "day120"] * 3,
...                       "AVAL": [1.0, 2.0, 2.0, 2.5, 1.5, 3.0], "ANL01FL": "Y"})
>>> fit = fit_outcome(adeff, "uws_ml_min", visits=("day0", "day120"), follow_up="day120")
>>> round(fit.row["difference"], 3), fit.row["n"], int(fit.df)
(1.0, 3, 2)
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from ..report.data import TABLE3_COLUMNS
from ..stats.errors import ConvergenceWarning, DataValidationError
from ..stats.model import fit
from ..stats.nonparametric import median_iqr, wilcoxon_signed_rank
from ..store.export import adam_datasets, read_form
from ..study.plan import Endpoint
from ..trial.adam import derive_pct_change_param
from ..trial.protocol import Protocol, Rule
from ..trial.sialometry import derive_responder

__all__ = [
    "OUTCOMES",
    "Models",
    "NotRun",
    "Outcome",
    "OutcomeFit",
    "OutcomeVisits",
    "STORE_PARAMCD",
    "cohort_comparison",
    "derive_adeff",
    "early_look",
    "fit_outcome",
    "fit_outcomes",
    "sap_endpoint",
    "not_run_table",
    "outcome_visits",
    "responder_text",
    "responders",
    "table3",
    "unscheduled_table",
    "wilcoxon_sensitivity",
]


@dataclass(frozen=True)
class Outcome:
    """A Table 3 row: PARAMCD, printed label, group heading, the paper's decimals (LS mean,
    SE, difference, CI bounds) and the case report form it comes from (its schedule)."""

    paramcd: str
    label: str
    group: str
    decimals: tuple[int, int, int, int]
    form: str


def _o(code: str, label: str, group: str, dec: tuple[int, int, int, int], form: str) -> Outcome:
    return Outcome(code, label, group, dec, form)


_QOL = "EORTC QLQ-H&N35 (scores 0-100)"
_UPT = "Scintigraphic uptake score (scores 0-4)"
_EXC = "Scintigraphic excretion fraction, %"
_ION = "Saliva composition, mmol/L"
_SIA, _SAL, _SCI = "sialometry", "saliva_ions", "scintigraphy"
#: Table 3's rows in the paper's order, with its rounding (checked against the printed table).
OUTCOMES: tuple[Outcome, ...] = (
    _o("uws_ml_min", "UWS FR, mL/minute", "", (2, 2, 2, 2), _SIA),
    _o("uws_pct_change", "UWS FR, % change from baseline", "", (1, 1, 1, 2), _SIA),
    _o("sws_ml_min", "SWS FR, mL/minute", "", (2, 2, 2, 2), _SIA),
    _o("sws_pct_change", "SWS FR, % change from baseline", "", (1, 1, 1, 2), _SIA),
    _o("xq_summary", "XQ summary score (0-100)", "", (1, 1, 1, 2), "xq"),
    _o("HNDR", "HNDR (dry mouth)", _QOL, (1, 1, 1, 2), "qlq_hn35"),
    _o("HNSS", "HNSS (sticky saliva)", _QOL, (1, 1, 1, 2), "qlq_hn35"),
    _o("HNSW", "HNSW (swallowing)", _QOL, (1, 1, 1, 2), "qlq_hn35"),
    _o("scint_uptake_all", "All glands", _UPT, (1, 1, 1, 2), _SCI),
    _o("scint_uptake_pg", "PG", _UPT, (1, 1, 1, 2), _SCI),
    _o("scint_uptake_smg", "SMG", _UPT, (1, 1, 1, 2), _SCI),
    _o("scint_excretion_all", "All glands", _EXC, (1, 1, 1, 2), _SCI),
    _o("scint_excretion_pg", "PG", _EXC, (1, 1, 1, 2), _SCI),
    _o("scint_excretion_smg", "SMG", _EXC, (1, 1, 1, 2), _SCI),
    _o("uws_chloride", "UWS chloride", _ION, (1, 1, 2, 2), _SAL),
    _o("sws_chloride", "SWS chloride", _ION, (1, 1, 2, 2), _SAL),
    _o("uws_phosphate", "UWS phosphate", _ION, (1, 1, 2, 2), _SAL),
    _o("sws_phosphate", "SWS phosphate", _ION, (1, 1, 2, 2), _SAL),
    _o("uws_potassium", "UWS potassium", _ION, (1, 1, 2, 2), _SAL),
    _o("sws_potassium", "SWS potassium", _ION, (1, 1, 2, 2), _SAL),
    _o("uws_sodium", "UWS sodium", _ION, (1, 1, 2, 2), _SAL),
    _o("sws_sodium", "SWS sodium", _ION, (1, 1, 2, 2), _SAL),
)
_BY_CODE = {o.paramcd: o for o in OUTCOMES}
#: The flow-rate outcomes of the early look and the responders.
_FLOW = ("uws_ml_min", "sws_ml_min")

_IONS = {"na": "sodium", "k": "potassium", "cl": "chloride", "po4": "phosphate"}
#: Store PARAMCD (``xerotrial.store.export.adam_datasets``) -> Table 3 outcome name.
STORE_PARAMCD: dict[str, str] = {
    "uws_ml_min": "uws_ml_min",
    "sws_ml_min": "sws_ml_min",
    "xq_summary": "xq_summary",
    "HNDR": "HNDR",
    "HNSS": "HNSS",
    "HNSW": "HNSW",
    **{
        f"scint_{m}_{g}": f"scint_{m}_{g}"
        for m in ("uptake", "excretion")
        for g in ("all", "pg", "smg")
    },
    **{f"{k}_{i}_mmol_l": f"{k}_{name}" for k in ("uws", "sws") for i, name in _IONS.items()},
}


def derive_adeff(engine: Engine) -> pd.DataFrame:
    """The efficacy dataset of Table 3 from a trial store: every outcome in ADaM BDS long form,
    PARAMCD named as :data:`OUTCOMES`, the percent changes of the flow rates as parameters of
    their own, plus the lineage columns SRCDOM (the raw form) and SRCKEY (its row key).
    Patients only: the healthy controls' baseline values belong to Table 1.
    """
    people = read_form(engine, "participants")
    patients = set(people.loc[people["group"] == "patient", "subject"])
    parts = []
    forms = {o.paramcd: o.form for o in OUTCOMES}
    for bds in adam_datasets(engine).values():
        keep = bds[bds["PARAMCD"].isin(list(STORE_PARAMCD)) & bds["USUBJID"].isin(patients)].copy()
        if keep.empty:
            continue
        keep["PARAMCD"] = keep["PARAMCD"].map(STORE_PARAMCD)
        keep["SRCDOM"] = keep["PARAMCD"].map(forms)
        parts.append(keep)
    if not parts:
        return pd.DataFrame(columns=["USUBJID", "PARAMCD", "AVISIT", "AVAL"])
    adeff = pd.concat(parts, ignore_index=True)
    labels = {o.paramcd: o.label for o in OUTCOMES}
    for code in ("uws_ml_min", "sws_ml_min"):
        if (adeff["PARAMCD"] == code).any():
            pct = code.replace("_ml_min", "_pct_change")
            adeff = derive_pct_change_param(adeff, code, pct, labels[pct])
            adeff.loc[adeff["PARAMCD"] == pct, "SRCDOM"] = forms[pct]
    adeff["SRCKEY"] = _source_keys(adeff)
    order = {o.paramcd: i for i, o in enumerate(OUTCOMES)}
    adeff["_o"] = adeff["PARAMCD"].map(order)
    adeff = adeff.sort_values(["_o", "USUBJID", "AVISITN", "ADY"], kind="stable")
    return adeff.drop(columns="_o").reset_index(drop=True)


def _source_keys(adeff: pd.DataFrame) -> list[str]:
    """The raw rows of a record: form key columns as ``subject/visit[/kind]``."""
    kind = adeff["PARAMCD"].str.split("_").str[0].str.upper()
    out = []
    for dom, subj, visit, k in zip(
        adeff["SRCDOM"], adeff["USUBJID"], adeff["AVISIT"], kind, strict=True
    ):
        if dom in ("sialometry", "saliva_ions"):
            out.append(f"{subj}/{visit}/{k}")
        elif dom == "scintigraphy":
            out.append(f"{subj}/{visit}/all glands")
        else:
            out.append(f"{subj}/{visit}")
    return out


@dataclass(frozen=True)
class NotRun:
    """A planned analysis that cannot run (yet) on the store: which (the report section's
    key: ``table3``, ``lsmeans``, ``one_month``, ``wilcoxon``, ``responders``, ``cohorts``,
    ...), for which outcome ("" for the whole analysis) and why."""

    analysis: str
    outcome: str
    reason: str


@dataclass(frozen=True)
class OutcomeVisits:
    """Where an outcome's records are: the efficacy visits at which its form is scheduled
    (``scheduled``), those with analysis records (``with_data``), those with data but not
    scheduled (``unscheduled``) and the visits of its model (``model``, baseline first)."""

    paramcd: str
    form: str
    scheduled: tuple[str, ...]
    with_data: tuple[str, ...]
    unscheduled: tuple[str, ...]
    model: tuple[str, ...]

    def missing(self, visit: str, protocol: Protocol) -> str | None:
        """Why ``visit`` is not in the model (None when it is)."""
        if visit in self.model:
            return None
        label = _visit_label(visit, protocol)
        if visit not in self.scheduled and visit in self.unscheduled:
            return (
                f"{self.form} data at {label} are outside the schedule and the protocol "
                "leaves them out ([analysis] unscheduled = 'exclude')"
            )
        if visit not in self.scheduled:
            return f"{self.form} is not scheduled at {label}"
        return f"no {label} data yet"


def _visit_label(visit: str, protocol: Protocol) -> str:
    """``day120 (4 months)``: the visit and its label."""
    v = protocol.visit(visit)
    return visit if v.label == visit else f"{visit} ({v.label})"


def _analysis_records(adeff: pd.DataFrame, paramcd: str, visits: Iterable[str]) -> pd.DataFrame:
    d = adeff[(adeff["PARAMCD"] == paramcd) & adeff["AVISIT"].isin(list(visits))]
    if "ANL01FL" in d.columns:
        d = d[d["ANL01FL"] == "Y"]
    return d[pd.notna(d["AVAL"])]


def outcome_visits(adeff: pd.DataFrame, paramcd: str, protocol: Protocol) -> OutcomeVisits:
    """The visits of one outcome's model: the protocol's efficacy visits at which its form is
    scheduled and has analysis records, plus the visits with data where it is not scheduled
    when ``[analysis] unscheduled = "include"``."""
    plan = protocol.analysis
    form = _BY_CODE[paramcd].form if paramcd in _BY_CODE else paramcd
    due = set(protocol.scheduled(form))
    present = set(_analysis_records(adeff, paramcd, plan.efficacy_visits)["AVISIT"])
    eff = plan.efficacy_visits
    with_data = tuple(v for v in eff if v in present)
    unscheduled = tuple(v for v in with_data if v not in due)
    model = tuple(v for v in with_data if v in due or plan.unscheduled == "include")
    return OutcomeVisits(
        paramcd, form, tuple(v for v in eff if v in due), with_data, unscheduled, model
    )


def _why_not_at(ov: OutcomeVisits, visit: str, protocol: Protocol) -> str | None:
    """Why the outcome has no baseline comparison at ``visit`` (None when it has)."""
    baseline = protocol.baseline_visit.name
    if not ov.with_data:
        return f"no {ov.form} data yet"
    if baseline not in ov.model:
        return ov.missing(baseline, protocol)
    return ov.missing(visit, protocol)


def _why_no_model(ov: OutcomeVisits, protocol: Protocol) -> str | None:
    """Why an outcome's model cannot be fitted (None when it can: baseline and a later visit)."""
    baseline = protocol.baseline_visit.name
    if not ov.with_data or baseline not in ov.model:
        return _why_not_at(ov, baseline, protocol)
    if len(ov.model) < 2:
        later = [v for v in ov.scheduled if v != baseline]
        if not later:
            return f"{ov.form} is not scheduled at a follow-up visit"
        return (
            f"only baseline data so far (next scheduled visit: {_visit_label(later[0], protocol)})"
        )
    return None


@dataclass(frozen=True)
class OutcomeFit:
    """One outcome's model: the Table 3 row (None when the model has no ``follow_up``
    visit), LS means and contrasts at every visit of the model, its visits, warnings."""

    paramcd: str
    row: dict | None
    lsmeans: pd.DataFrame
    contrasts: pd.DataFrame
    df: float
    warnings: tuple[str, ...] = field(default=())
    visits: tuple[str, ...] = field(default=())


@functools.cache
def _sap_endpoints() -> dict[str, Endpoint]:
    from xerotrial.study import SEED_STUDY, load_study

    plan = load_study(SEED_STUDY).analysis
    return {e.key: e for e in plan.endpoints} if plan is not None else {}


def sap_endpoint(paramcd: str) -> Endpoint:
    """The SAP's model of an outcome: the seed study definition's endpoint of that name
    (``data/studies/seed/study.toml``, ``[[analysis.endpoints]]``: covariance, df method).

    >>> e = sap_endpoint("uws_ml_min"); (e.covariance, e.df, e.reference_visit)
    ('random-intercept', 'containment', 'day0')
    """
    try:
        return _sap_endpoints()[paramcd]
    except KeyError:
        raise DataValidationError(
            f"{paramcd}: the seed study definition has no analysis endpoint of that name"
        ) from None


def fit_outcome(
    adeff: pd.DataFrame, paramcd: str, visits: tuple[str, ...], follow_up: str | None
) -> OutcomeFit:
    """Fit the SAP's model to one outcome over ``visits`` (the first is the reference); the
    Table 3 row compares ``follow_up`` with the first visit (``row`` None when ``follow_up``
    is None or has no data). ``n`` counts the participants with a value at both. Visits
    without data are left out of the model; fewer than two visits with data, or none at the
    first, raise :class:`~xerotrial.stats.errors.DataValidationError`."""
    d = _analysis_records(adeff, paramcd, visits)
    reference = visits[0]
    visits = tuple(v for v in visits if (d["AVISIT"] == v).any())
    if len(visits) < 2 or visits[0] != reference:
        raise DataValidationError(
            f"{paramcd}: the model needs data at the reference visit "
            f"{reference} and at least one more visit; data at "
            f"{list(visits)}"
        )
    values = pd.DataFrame(
        {
            "subject": d["USUBJID"].to_numpy(),
            "visit": d["AVISIT"].to_numpy(),
            "AVAL": d["AVAL"].astype(float).to_numpy(),
        }
    )
    model = sap_endpoint(paramcd)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        res = fit(
            values,
            "AVAL ~ visit",
            subject="subject",
            time="visit",
            covariance=model.covariance,
            time_order=list(visits),
        )
    notes = tuple(
        f"{paramcd}: {w.message}" for w in caught if issubclass(w.category, ConvergenceWarning)
    )
    ls = res.lsmeans("visit", df_method=model.df)
    con = res.contrasts_vs_reference("visit", visits[0], df_method=model.df)
    con.insert(0, "visit", [c.split(" - ")[0] for c in con["contrast"]])
    row, df = None, math.nan
    if follow_up in visits[1:]:
        base, last = ls.set_index("visit").loc[visits[0]], ls.set_index("visit").loc[follow_up]
        c = con.set_index("visit").loc[follow_up]
        both = set(values.loc[values["visit"] == visits[0], "subject"]) & set(
            values.loc[values["visit"] == follow_up, "subject"]
        )
        row = {
            "outcome": paramcd,
            "n": len(both),
            "baseline_lsmean": float(base["estimate"]),
            "baseline_se": float(base["se"]),
            "followup_lsmean": float(last["estimate"]),
            "followup_se": float(last["se"]),
            "difference": float(c["estimate"]),
            "ci_lower": float(c["lower"]),
            "ci_upper": float(c["upper"]),
            "p_value": float(c["p"]),
        }
        df = float(c["df"])
    return OutcomeFit(
        paramcd, row, ls.assign(PARAMCD=paramcd), con.assign(PARAMCD=paramcd), df, notes, visits
    )


@dataclass(frozen=True)
class Models:
    """Every outcome's model (:func:`fit_outcomes`): the fits by outcome, in the order of
    :data:`OUTCOMES`, and why the others have none."""

    fits: dict[str, OutcomeFit]
    why: dict[str, str]

    def not_run(self) -> list[NotRun]:
        """The outcomes without a model, as analyses ``lsmeans`` not run."""
        return [NotRun("lsmeans", code, why) for code, why in self.why.items()]


def fit_outcomes(adeff: pd.DataFrame, protocol: Protocol) -> Models:
    """Every outcome's model on its visits (:func:`outcome_visits`), with its Table 3 row at
    the protocol's primary follow-up; the outcomes whose model cannot be fitted yet, with
    why."""
    fits, why = {}, {}
    for o in OUTCOMES:
        ov = outcome_visits(adeff, o.paramcd, protocol)
        reason = _why_no_model(ov, protocol)
        if reason is None:
            try:
                fits[o.paramcd] = fit_outcome(adeff, o.paramcd, ov.model, protocol.analysis.primary)
                continue
            except (DataValidationError, np.linalg.LinAlgError) as exc:
                reason = f"the model cannot be fitted: {exc}"
        why[o.paramcd] = reason
    return Models(fits, why)


def _missing_at(
    models: Models, adeff: pd.DataFrame, code: str, visit: str, protocol: Protocol
) -> str:
    """Why outcome ``code`` has no result at ``visit``."""
    why = _why_not_at(outcome_visits(adeff, code, protocol), visit, protocol)
    return why or models.why.get(code) or "no result"


def table3(
    models: Models, adeff: pd.DataFrame, protocol: Protocol
) -> tuple[pd.DataFrame, list[NotRun]]:
    """Table 3: one row per outcome of :data:`OUTCOMES` whose model has the primary
    follow-up; the others (analysis ``table3``), with why."""
    rows, not_run = [], []
    for o in OUTCOMES:
        f = models.fits.get(o.paramcd)
        if f is not None and f.row is not None:
            rows.append(f.row)
        else:
            why = _missing_at(models, adeff, o.paramcd, protocol.analysis.primary, protocol)
            not_run.append(NotRun("table3", o.paramcd, why))
    return pd.DataFrame(rows, columns=list(TABLE3_COLUMNS)), not_run


def early_look(
    models: Models, adeff: pd.DataFrame, protocol: Protocol, outcomes: tuple[str, ...] = _FLOW
) -> tuple[pd.DataFrame, list[NotRun]]:
    """The Results text at the protocol's early look (paper: 1 month): LS mean at that visit
    and the change from baseline, CI, p, df, from the Table 3 models; the outcomes without
    it (analysis ``one_month``), with why."""
    visit = protocol.analysis.early
    rows, not_run = [], []
    for code in outcomes:
        f = models.fits.get(code)
        if visit is None or f is None or visit not in f.visits[1:]:
            why = (
                "the protocol plans no early look ([analysis] early)"
                if visit is None
                else _missing_at(models, adeff, code, visit, protocol)
            )
            not_run.append(NotRun("one_month", code, why))
            continue
        ls = f.lsmeans.set_index("visit").loc[visit]
        c = f.contrasts.set_index("visit").loc[visit]
        rows.append(
            {
                "outcome": code,
                "lsmean": float(ls["estimate"]),
                "se": float(ls["se"]),
                "difference": float(c["estimate"]),
                "ci_lower": float(c["lower"]),
                "ci_upper": float(c["upper"]),
                "p_value": float(c["p"]),
                "df": float(c["df"]),
            }
        )
    cols = ["outcome", "lsmean", "se", "difference", "ci_lower", "ci_upper", "p_value", "df"]
    return pd.DataFrame(rows, columns=cols), not_run


def _pairs(adeff: pd.DataFrame, paramcd: str, baseline: str, follow_up: str) -> pd.DataFrame:
    d = _analysis_records(adeff, paramcd, (baseline, follow_up))
    wide = d.pivot_table(index="USUBJID", columns="AVISIT", values="AVAL", aggfunc="first")
    return wide.reindex(columns=[baseline, follow_up])


def _at_primary(adeff: pd.DataFrame, code: str, protocol: Protocol, analysis: str) -> NotRun | None:
    """Why ``code`` has no baseline/primary comparison (None when it has)."""
    why = _why_not_at(outcome_visits(adeff, code, protocol), protocol.analysis.primary, protocol)
    return None if why is None else NotRun(analysis, code, why)


def _present(adeff: pd.DataFrame) -> list[Outcome]:
    return [o for o in OUTCOMES if (adeff["PARAMCD"] == o.paramcd).any()]


def wilcoxon_sensitivity(
    adeff: pd.DataFrame, protocol: Protocol
) -> tuple[pd.DataFrame, list[NotRun]]:
    """As observed, baseline versus the primary follow-up: medians (Q1, Q3) and the Wilcoxon
    signed-rank test (as R's ``wilcox.test(paired = TRUE)``; exact without ties, else the
    normal approximation with continuity correction)."""
    base, primary = protocol.baseline_visit.name, protocol.analysis.primary
    rows, not_run = [], []
    for o in OUTCOMES:
        if o.paramcd.endswith("_pct_change"):
            continue
        skip = _at_primary(adeff, o.paramcd, protocol, "wilcoxon")
        if skip is not None:
            not_run.append(skip)
            continue
        w = _pairs(adeff, o.paramcd, base, primary)
        pair = w.dropna()
        b, f = median_iqr(w.iloc[:, 0]), median_iqr(w.iloc[:, 1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ties: the normal approximation, as R says
            test = wilcoxon_signed_rank(pair.iloc[:, 1], pair.iloc[:, 0]) if len(pair) else None
        rows.append(
            {
                "outcome": o.paramcd,
                "n_pairs": len(pair),
                "baseline_median": b.median,
                "baseline_q1": b.q1,
                "baseline_q3": b.q3,
                "followup_median": f.median,
                "followup_q1": f.q1,
                "followup_q3": f.q3,
                "V": test.statistic if test else math.nan,
                "p_value": test.p_value if test else math.nan,
                "method": test.method if test else "",
            }
        )
    cols = [
        "outcome",
        "n_pairs",
        "baseline_median",
        "baseline_q1",
        "baseline_q3",
        "followup_median",
        "followup_q1",
        "followup_q3",
        "V",
        "p_value",
        "method",
    ]
    return pd.DataFrame(rows, columns=cols), not_run


_OPERATOR_WORDS = {">": "more than", ">=": "at least", "<": "less than", "<=": "at most"}


def responder_text(rule: Rule) -> tuple[str, str]:
    """The responder rule in words, for a title ("> 30% increase") and a sentence ("rose by
    more than 30%").

    >>> from xerotrial.trial.protocol import load_protocol
    >>> responder_text(load_protocol().responder)
    ('> 30% increase', 'rose by more than 30%')
    """
    value = f"{float(rule.value):g}%"
    verb = "rose" if rule.operator in (">", ">=") else "changed"
    words = _OPERATOR_WORDS[rule.operator]
    return f"{rule.operator} {value} increase", f"{verb} by {words} {value}"


def responders(adeff: pd.DataFrame, protocol: Protocol) -> tuple[pd.DataFrame, list[NotRun]]:
    """Participants whose flow rate meets the protocol's responder rule
    (:func:`~xerotrial.trial.sialometry.derive_responder`) at the primary follow-up: count,
    n (participants with a defined percent change) and the participants, for UWS and SWS."""
    base, primary = protocol.baseline_visit.name, protocol.analysis.primary
    rows, not_run = [], []
    for code in _FLOW:
        skip = _at_primary(adeff, code, protocol, "responders")
        if skip is not None:
            not_run.append(skip)
            continue
        w = _pairs(adeff, code, base, primary).dropna()
        flag = derive_responder(w.iloc[:, 0], w.iloc[:, 1], protocol=protocol)
        known = flag.dropna()
        hit = known.index[known.to_numpy(dtype=bool)]
        rows.append(
            {
                "outcome": code,
                "n": len(known),
                "responders": len(hit),
                "proportion": len(hit) / len(known) if len(known) else math.nan,
                "subjects": ", ".join(hit),
            }
        )
    cols = ["outcome", "n", "responders", "proportion", "subjects"]
    return pd.DataFrame(rows, columns=cols), not_run


def cohort_comparison(
    adeff: pd.DataFrame, cohorts: pd.Series, protocol: Protocol
) -> tuple[pd.DataFrame, list[NotRun]]:
    """CS5 versus CS10: the cohort-by-visit interaction (F, df, p) of the SAP model with
    cohort added, per outcome, over the outcome's visits (:func:`outcome_visits`);
    ``cohorts`` maps USUBJID to the cohort name."""
    rows, not_run = [], []
    for o in OUTCOMES:
        ov = outcome_visits(adeff, o.paramcd, protocol)
        why = _why_no_model(ov, protocol)
        d = _analysis_records(adeff, o.paramcd, ov.model)
        values = pd.DataFrame(
            {
                "subject": d["USUBJID"].to_numpy(),
                "visit": d["AVISIT"].to_numpy(),
                "cohort": d["USUBJID"].map(cohorts).to_numpy(),
                "AVAL": d["AVAL"].astype(float).to_numpy(),
            }
        )
        if why is None and values["cohort"].isna().any():
            why = "patients without a cohort: " + ", ".join(
                sorted(set(values.loc[values["cohort"].isna(), "subject"]))
            )
        if why is None and values["cohort"].nunique() < 2:
            why = f"only cohort {values['cohort'].iloc[0]} has data so far"
        if why is None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    res = fit(
                        values,
                        "AVAL ~ visit * cohort",
                        subject="subject",
                        time="visit",
                        covariance="random-intercept",
                        time_order=list(ov.model),
                    )
                t3 = res.type3(df_method="containment").set_index("term")
            except (DataValidationError, np.linalg.LinAlgError) as exc:
                why = f"the model cannot be fitted: {exc}"
        if why is not None:
            not_run.append(NotRun("cohorts", o.paramcd, why))
            continue
        term = next(t for t in t3.index if ":" in t)
        rows.append(
            {
                "outcome": o.paramcd,
                "F": float(t3.loc[term, "F"]),
                "num_df": float(t3.loc[term, "num_df"]),
                "den_df": float(t3.loc[term, "den_df"]),
                "p_value": float(t3.loc[term, "p"]),
            }
        )
    return pd.DataFrame(rows, columns=["outcome", "F", "num_df", "den_df", "p_value"]), not_run


def unscheduled_table(adeff: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """Efficacy data at a visit where the protocol does not schedule their form: ``form``,
    ``visit``, ``participants`` (with data there), ``outcomes`` and ``handling`` (in the
    model or left out, as ``[analysis] unscheduled`` says)."""
    rows = []
    handling = {
        "include": "analysed in the outcome's model",
        "exclude": "left out of the outcome's model",
    }[protocol.analysis.unscheduled]
    for form in dict.fromkeys(o.form for o in _present(adeff)):
        codes = [o.paramcd for o in OUTCOMES if o.form == form]
        due = set(protocol.scheduled(form))
        d = adeff[adeff["PARAMCD"].isin(codes) & adeff["AVISIT"].notna()]
        if "ANL01FL" in d.columns:
            d = d[d["ANL01FL"] == "Y"]
        for visit in [v.name for v in protocol.visits]:
            at = d[(d["AVISIT"] == visit) & d["AVAL"].notna()]
            if visit in due or at.empty:
                continue
            rows.append(
                {
                    "form": form,
                    "visit": visit,
                    "participants": at["USUBJID"].nunique(),
                    "outcomes": ", ".join(dict.fromkeys(at["PARAMCD"])),
                    "handling": handling
                    if visit in protocol.analysis.efficacy_visits
                    else "not an efficacy visit: not analysed",
                }
            )
    return pd.DataFrame(rows, columns=["form", "visit", "participants", "outcomes", "handling"])


def not_run_table(
    not_run: Iterable[NotRun], labels: dict[str, str], titles: dict[str, str] | None = None
) -> pd.DataFrame:
    """The analyses not run, one row per analysis and reason with the outcomes it concerns
    (``labels``: outcome -> printed label; ``titles``: analysis key -> printed name)."""
    titles = titles or {}
    groups: dict[tuple[str, str], list[str]] = {}
    for n in not_run:
        outcomes = groups.setdefault((titles.get(n.analysis, n.analysis), n.reason), [])
        if n.outcome:
            outcomes.append(labels.get(n.outcome, n.outcome))
    rows = [{"analysis": a, "reason": r, "outcomes": "; ".join(o)} for (a, r), o in groups.items()]
    return pd.DataFrame(rows, columns=["analysis", "reason", "outcomes"])
