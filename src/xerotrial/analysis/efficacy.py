"""The prespecified efficacy analysis: Table 3, the 1-month results, the Wilcoxon sensitivity
analysis, responders and CS5 versus CS10.

Statistical analysis plan (the paper's Methods): per outcome a REML repeated-measures model
with the participant as random effect (random intercept) and visit (5 levels: day 0, 1, 5,
30, 120) as a fixed factor; SAS's containment degrees of freedom; LS means +- SE by visit;
each visit minus baseline with its 95% CI and p. Percent change from baseline is analysed
the same way as its own parameter (AVAL = PCHG, 0 at baseline). Sensitivity: the data "as
observed", baseline versus 4 months, by the Wilcoxon signed-rank test, with medians and
interquartile ranges (SAS's default quartiles, PCTLDEF=5). Responders: percent change from
baseline > 30% at 4 months. CS5 versus CS10: the cohort-by-visit interaction of the same
model with cohort added (F test, containment df).

The input is the efficacy dataset ``adeff`` (ADaM BDS: USUBJID, PARAMCD, AVISIT, AVAL,
ANL01FL, ...), built from a trial store by :func:`derive_adeff`.

Example
-------
>>> import pandas as pd
>>> adeff = pd.DataFrame({"USUBJID": ["a", "a", "b", "b", "c", "c"],
...                       "PARAMCD": "uws_ml_min", "AVISIT": ["day0", "day120"] * 3,
...                       "AVAL": [1.0, 2.0, 2.0, 2.5, 1.5, 3.0], "ANL01FL": "Y"})
>>> fit = fit_outcome(adeff, "uws_ml_min", visits=("day0", "day120"))
>>> round(fit.row["difference"], 3), fit.row["n"], int(fit.df)
(1.0, 3, 2)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from ..stats.errors import ConvergenceWarning
from ..stats.model import fit
from ..stats.nonparametric import median_iqr, wilcoxon_signed_rank
from ..store.export import adam_datasets, read_form
from ..trial.adam import derive_pct_change_param

__all__ = [
    "SAP_VISITS",
    "FOLLOW_UP",
    "OUTCOMES",
    "Outcome",
    "OutcomeFit",
    "STORE_PARAMCD",
    "derive_adeff",
    "fit_outcome",
    "table3",
    "one_month",
    "wilcoxon_sensitivity",
    "responders",
    "cohort_comparison",
]

#: The model's visits, in order (baseline first).
SAP_VISITS: tuple[str, ...] = ("day0", "day1", "day5", "day30", "day120")
#: The primary follow-up visit of Table 3 (4 months).
FOLLOW_UP = "day120"


@dataclass(frozen=True)
class Outcome:
    """A Table 3 row: PARAMCD, printed label, group heading and the paper's decimals
    (LS mean, SE, difference, CI bounds)."""

    paramcd: str
    label: str
    group: str
    decimals: tuple[int, int, int, int]


def _o(code: str, label: str, group: str, dec: tuple[int, int, int, int]) -> Outcome:
    return Outcome(code, label, group, dec)


_QOL = "EORTC QLQ-H&N35 (scores 0-100)"
_UPT = "Scintigraphic uptake score (scores 0-4)"
_EXC = "Scintigraphic excretion fraction, %"
_ION = "Saliva composition, mmol/L"
#: Table 3's rows in the paper's order, with its rounding (checked against the printed table).
OUTCOMES: tuple[Outcome, ...] = (
    _o("uws_ml_min", "UWS FR, mL/minute", "", (2, 2, 2, 2)),
    _o("uws_pct_change", "UWS FR, % change from baseline", "", (1, 1, 1, 2)),
    _o("sws_ml_min", "SWS FR, mL/minute", "", (2, 2, 2, 2)),
    _o("sws_pct_change", "SWS FR, % change from baseline", "", (1, 1, 1, 2)),
    _o("xq_summary", "XQ summary score (0-100)", "", (1, 1, 1, 2)),
    _o("HNDR", "HNDR (dry mouth)", _QOL, (1, 1, 1, 2)),
    _o("HNSS", "HNSS (sticky saliva)", _QOL, (1, 1, 1, 2)),
    _o("HNSW", "HNSW (swallowing)", _QOL, (1, 1, 1, 2)),
    _o("scint_uptake_all", "All glands", _UPT, (1, 1, 1, 2)),
    _o("scint_uptake_pg", "PG", _UPT, (1, 1, 1, 2)),
    _o("scint_uptake_smg", "SMG", _UPT, (1, 1, 1, 2)),
    _o("scint_excretion_all", "All glands", _EXC, (1, 1, 1, 2)),
    _o("scint_excretion_pg", "PG", _EXC, (1, 1, 1, 2)),
    _o("scint_excretion_smg", "SMG", _EXC, (1, 1, 1, 2)),
    _o("uws_chloride", "UWS chloride", _ION, (1, 1, 2, 2)),
    _o("sws_chloride", "SWS chloride", _ION, (1, 1, 2, 2)),
    _o("uws_phosphate", "UWS phosphate", _ION, (1, 1, 2, 2)),
    _o("sws_phosphate", "SWS phosphate", _ION, (1, 1, 2, 2)),
    _o("uws_potassium", "UWS potassium", _ION, (1, 1, 2, 2)),
    _o("sws_potassium", "SWS potassium", _ION, (1, 1, 2, 2)),
    _o("uws_sodium", "UWS sodium", _ION, (1, 1, 2, 2)),
    _o("sws_sodium", "SWS sodium", _ION, (1, 1, 2, 2)),
)

_IONS = {"na": "sodium", "k": "potassium", "cl": "chloride", "po4": "phosphate"}
#: Store PARAMCD (``xerotrial.store.export.adam_datasets``) -> Table 3 outcome name.
STORE_PARAMCD: dict[str, str] = {
    "uws_ml_min": "uws_ml_min",
    "sws_ml_min": "sws_ml_min",
    "xq_summary": "xq_summary",
    "HNDR": "HNDR",
    "HNSS": "HNSS",
    "HNSW": "HNSW",
    **{f"scint_{m}_{g}": f"scint_{m}_{g}" for m in ("uptake", "excretion")
       for g in ("all", "pg", "smg")},
    **{f"{k}_{i}_mmol_l": f"{k}_{name}" for k in ("uws", "sws") for i, name in _IONS.items()},
}
#: The raw form each analysis dataset comes from (lineage: SRCDOM).
_SOURCE_FORM = {"adflow": "sialometry", "adions": "saliva_ions", "adscint": "scintigraphy"}


def derive_adeff(engine: Engine) -> pd.DataFrame:
    """The efficacy dataset of Table 3 from a trial store: every outcome in ADaM BDS long form,
    PARAMCD named as :data:`OUTCOMES`, the percent changes of the flow rates as parameters of
    their own, plus the lineage columns SRCDOM (the raw form) and SRCKEY (its row key).
    Patients only: the healthy controls' baseline values belong to Table 1.
    """
    people = read_form(engine, "participants")
    patients = set(people.loc[people["group"] == "patient", "subject"])
    parts = []
    for name, bds in adam_datasets(engine).items():
        keep = bds[bds["PARAMCD"].isin(list(STORE_PARAMCD))
                   & bds["USUBJID"].isin(patients)].copy()
        if keep.empty:
            continue
        keep["PARAMCD"] = keep["PARAMCD"].map(STORE_PARAMCD)
        if name == "adqs":
            keep["SRCDOM"] = np.where(keep["PARAMCD"] == "xq_summary", "xq", "qlq_hn35")
        else:
            keep["SRCDOM"] = _SOURCE_FORM.get(name, name)
        parts.append(keep)
    if not parts:
        return pd.DataFrame(columns=["USUBJID", "PARAMCD", "AVISIT", "AVAL"])
    adeff = pd.concat(parts, ignore_index=True)
    labels = {o.paramcd: o.label for o in OUTCOMES}
    for code in ("uws_ml_min", "sws_ml_min"):
        if (adeff["PARAMCD"] == code).any():
            pct = code.replace("_ml_min", "_pct_change")
            adeff = derive_pct_change_param(adeff, code, pct, labels[pct])
            adeff.loc[adeff["PARAMCD"] == pct, "SRCDOM"] = "sialometry"
    adeff["SRCKEY"] = _source_keys(adeff)
    order = {o.paramcd: i for i, o in enumerate(OUTCOMES)}
    adeff["_o"] = adeff["PARAMCD"].map(order)
    adeff = adeff.sort_values(["_o", "USUBJID", "AVISITN", "ADY"], kind="stable")
    return adeff.drop(columns="_o").reset_index(drop=True)


def _source_keys(adeff: pd.DataFrame) -> list[str]:
    """The raw rows of a record: form key columns as ``subject/visit[/kind]``."""
    kind = adeff["PARAMCD"].str.split("_").str[0].str.upper()
    out = []
    for dom, subj, visit, k in zip(adeff["SRCDOM"], adeff["USUBJID"], adeff["AVISIT"], kind,
                                   strict=True):
        if dom in ("sialometry", "saliva_ions"):
            out.append(f"{subj}/{visit}/{k}")
        elif dom == "scintigraphy":
            out.append(f"{subj}/{visit}/all glands")
        else:
            out.append(f"{subj}/{visit}")
    return out


@dataclass(frozen=True)
class OutcomeFit:
    """One outcome's model: the Table 3 row, LS means and contrasts at every visit, warnings."""

    paramcd: str
    row: dict
    lsmeans: pd.DataFrame
    contrasts: pd.DataFrame
    df: float
    warnings: tuple[str, ...] = field(default=())


def _analysis_records(adeff: pd.DataFrame, paramcd: str, visits) -> pd.DataFrame:
    d = adeff[(adeff["PARAMCD"] == paramcd) & adeff["AVISIT"].isin(list(visits))]
    if "ANL01FL" in d.columns:
        d = d[d["ANL01FL"] == "Y"]
    return d[pd.notna(d["AVAL"])]


def fit_outcome(adeff: pd.DataFrame, paramcd: str, visits=SAP_VISITS,
                follow_up: str = FOLLOW_UP) -> OutcomeFit:
    """Fit the SAP's model to one outcome; the Table 3 row compares ``follow_up`` with the
    first visit. ``n`` counts the participants with a value at both. Visits of ``visits``
    at which the outcome was not assessed (scintigraphy and ions: day 0 and 120 only) are
    left out of its model."""
    d = _analysis_records(adeff, paramcd, visits)
    visits = tuple(v for v in visits if (d["AVISIT"] == v).any())
    values = pd.DataFrame({"subject": d["USUBJID"].to_numpy(), "visit": d["AVISIT"].to_numpy(),
                           "AVAL": d["AVAL"].astype(float).to_numpy()})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        res = fit(values, "AVAL ~ visit", subject="subject", time="visit",
                  covariance="random-intercept", time_order=list(visits))
    notes = tuple(f"{paramcd}: {w.message}" for w in caught
                  if issubclass(w.category, ConvergenceWarning))
    ls = res.lsmeans("visit", df_method="containment")
    con = res.contrasts_vs_reference("visit", visits[0], df_method="containment")
    con.insert(0, "visit", [c.split(" - ")[0] for c in con["contrast"]])
    base, last = ls.set_index("visit").loc[visits[0]], ls.set_index("visit").loc[follow_up]
    c = con.set_index("visit").loc[follow_up]
    both = set(values.loc[values["visit"] == visits[0], "subject"]) & set(
        values.loc[values["visit"] == follow_up, "subject"])
    row = {"outcome": paramcd, "n": len(both),
           "baseline_lsmean": float(base["estimate"]), "baseline_se": float(base["se"]),
           "followup_lsmean": float(last["estimate"]), "followup_se": float(last["se"]),
           "difference": float(c["estimate"]), "ci_lower": float(c["lower"]),
           "ci_upper": float(c["upper"]), "p_value": float(c["p"])}
    return OutcomeFit(paramcd, row, ls.assign(PARAMCD=paramcd), con.assign(PARAMCD=paramcd),
                      float(c["df"]), notes)


def table3(adeff: pd.DataFrame) -> tuple[pd.DataFrame, list[OutcomeFit]]:
    """Table 3 (one row per outcome of :data:`OUTCOMES` present in ``adeff``) and the fits."""
    fits = [fit_outcome(adeff, o.paramcd) for o in OUTCOMES
            if (adeff["PARAMCD"] == o.paramcd).any()]
    return pd.DataFrame([f.row for f in fits]), fits


def one_month(fits: list[OutcomeFit], outcomes=("uws_ml_min", "sws_ml_min")) -> pd.DataFrame:
    """The Results text at 1 month: LS mean at day 30 and the change from baseline, CI, p."""
    rows = []
    for f in fits:
        if f.paramcd not in outcomes:
            continue
        ls = f.lsmeans.set_index("visit").loc["day30"]
        c = f.contrasts.set_index("visit").loc["day30"]
        rows.append({"outcome": f.paramcd, "lsmean": float(ls["estimate"]),
                     "se": float(ls["se"]), "difference": float(c["estimate"]),
                     "ci_lower": float(c["lower"]), "ci_upper": float(c["upper"]),
                     "p_value": float(c["p"]), "df": float(c["df"])})
    return pd.DataFrame(rows)


def _pairs(adeff: pd.DataFrame, paramcd: str, follow_up: str) -> pd.DataFrame:
    d = _analysis_records(adeff, paramcd, (SAP_VISITS[0], follow_up))
    wide = d.pivot_table(index="USUBJID", columns="AVISIT", values="AVAL", aggfunc="first")
    return wide.reindex(columns=[SAP_VISITS[0], follow_up])


def wilcoxon_sensitivity(adeff: pd.DataFrame, follow_up: str = FOLLOW_UP) -> pd.DataFrame:
    """As observed, baseline versus ``follow_up``: medians (Q1, Q3) and the Wilcoxon
    signed-rank test (as R's ``wilcox.test(paired = TRUE)``; exact without ties, else the
    normal approximation with continuity correction)."""
    rows = []
    for o in OUTCOMES:
        if o.paramcd.endswith("_pct_change") or not (adeff["PARAMCD"] == o.paramcd).any():
            continue
        w = _pairs(adeff, o.paramcd, follow_up)
        pair = w.dropna()
        b, f = median_iqr(w.iloc[:, 0]), median_iqr(w.iloc[:, 1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ties: the normal approximation, as R says
            test = wilcoxon_signed_rank(pair.iloc[:, 1], pair.iloc[:, 0]) if len(pair) else None
        rows.append({"outcome": o.paramcd, "n_pairs": len(pair),
                     "baseline_median": b.median, "baseline_q1": b.q1, "baseline_q3": b.q3,
                     "followup_median": f.median, "followup_q1": f.q1, "followup_q3": f.q3,
                     "V": test.statistic if test else math.nan,
                     "p_value": test.p_value if test else math.nan,
                     "method": test.method if test else ""})
    return pd.DataFrame(rows)


def responders(adeff: pd.DataFrame, threshold_pct: float = 30.0,
               follow_up: str = FOLLOW_UP) -> pd.DataFrame:
    """Participants whose flow rate rose by more than ``threshold_pct`` % from baseline at
    ``follow_up``: count, n and the participants, for UWS and SWS."""
    rows = []
    for code in ("uws_ml_min", "sws_ml_min"):
        w = _pairs(adeff, code, follow_up).dropna()
        if w.empty:
            continue
        pct = 100 * (w.iloc[:, 1] - w.iloc[:, 0]) / w.iloc[:, 0]
        hit = pct[pct > threshold_pct]
        rows.append({"outcome": code, "n": len(w), "responders": len(hit),
                     "proportion": len(hit) / len(w), "subjects": ", ".join(hit.index)})
    return pd.DataFrame(rows)


def cohort_comparison(adeff: pd.DataFrame, cohorts: pd.Series) -> pd.DataFrame:
    """CS5 versus CS10: the cohort-by-visit interaction (F, df, p) of the SAP model with
    cohort added, per outcome; ``cohorts`` maps USUBJID to the cohort name."""
    rows = []
    for o in OUTCOMES:
        d = _analysis_records(adeff, o.paramcd, SAP_VISITS)
        if d.empty:
            continue
        visits = [v for v in SAP_VISITS if (d["AVISIT"] == v).any()]
        values = pd.DataFrame({"subject": d["USUBJID"].to_numpy(),
                               "visit": d["AVISIT"].to_numpy(),
                               "cohort": d["USUBJID"].map(cohorts).to_numpy(),
                               "AVAL": d["AVAL"].astype(float).to_numpy()})
        if values["cohort"].isna().any() or values["cohort"].nunique() < 2:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = fit(values, "AVAL ~ visit * cohort", subject="subject", time="visit",
                      covariance="random-intercept", time_order=visits)
        t3 = res.type3(df_method="containment").set_index("term")
        term = next(t for t in t3.index if ":" in t)
        rows.append({"outcome": o.paramcd, "F": float(t3.loc[term, "F"]),
                     "num_df": float(t3.loc[term, "num_df"]),
                     "den_df": float(t3.loc[term, "den_df"]), "p_value": float(t3.loc[term, "p"])})
    return pd.DataFrame(rows)
