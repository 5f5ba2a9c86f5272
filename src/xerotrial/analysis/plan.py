"""Run a definition's analysis plan on its BDS dataset: one repeated-measures model per
endpoint, LS means of the arms at each visit and their difference.

For each endpoint of ``[analysis]`` (:mod:`xerotrial.study.plan`): the records of its
parameter at its visits, of the population, with a response and every covariate (the others
are counted, with why), the model ``response ~ covariates + ARM * AVISIT`` fitted by REML with
the endpoint's covariance over AVISIT within USUBJID (:func:`xerotrial.stats.model.fit`), then
the LS means of ARM within AVISIT and the first arm minus the second at each AVISIT, with the
endpoint's df method. A single-arm plan fits ``response ~ covariates + AVISIT`` and compares
each visit with its reference visit. A visit without records is left out of the model
(``visits_without_data``); a single-arm model needs records at its reference visit and one
more. Numbers only: the report formats them. A model that cannot be fitted is reported as not
run, with the reason; warnings of the engine (convergence, boundaries) are kept.

Example
-------
>>> from xerotrial.study.plan import Endpoint
>>> model_formula(Endpoint("UWS", response="CHG", covariates=("BASE",)))
'CHG ~ BASE + ARM * AVISIT'
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd

from xerotrial.errors import XerotrialError
from xerotrial.study.model import StudyDefinition
from xerotrial.study.plan import Endpoint

__all__ = ["endpoint_data", "model_formula", "run_endpoint", "run_plan"]


def model_formula(e: Endpoint, arms: tuple[str, ...] = ("a", "b")) -> str:
    """The fixed effects of an endpoint's model (no ``arms``: a single-arm model)."""
    terms = [*e.covariates, "ARM * AVISIT" if arms else "AVISIT"]
    return f"{e.response} ~ {' + '.join(terms)}"


def endpoint_data(
    bds: pd.DataFrame, e: Endpoint, arms: tuple[str, ...]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The records an endpoint's model uses, and the counts of those left out, by reason."""
    rec = bds[(bds["PARAMCD"] == e.param) & bds["AVISIT"].isin(e.visits)]
    left: dict[str, int] = {}
    if "POPFL" in rec.columns:
        out = rec["POPFL"] != "Y"
        if out.any():
            left["not in the analysis population"] = int(out.sum())
        rec = rec[~out]
    if arms:
        keep = rec["ARM"].isin(arms)
        if (~keep).any():
            left["not in the compared arms"] = int((~keep).sum())
        rec = rec[keep]
    for col in (e.response, *e.covariates):
        miss = rec[col].isna()
        if miss.any():
            left[f"no {col}"] = int(miss.sum())
        rec = rec[~miss]
    return rec.reset_index(drop=True), left


def _number(x: Any) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def run_endpoint(bds: pd.DataFrame, e: Endpoint, arms: tuple[str, ...]) -> dict[str, Any]:
    """One endpoint's results as plain data (JSON-able)."""
    from xerotrial.stats.model import fit

    data, left = endpoint_data(bds, e, arms)
    out: dict[str, Any] = {
        "name": e.key,
        "param": e.param,
        "primary": e.primary,
        "primary_visit": e.primary_visit,
        "response": e.response,
        "formula": model_formula(e, arms),
        "reference_visit": e.reference_visit,
        "covariance": e.covariance,
        "df": e.df,
        "visits": list(e.visits),
        "n_subjects": int(data["USUBJID"].nunique()),
        "n_records": len(data),
        "left_out": left,
    }
    # a visit without records (not yet reached, or not collected) is left out of the model
    visits = [v for v in e.visits if (data["AVISIT"] == v).any()]
    out["visits_without_data"] = [v for v in e.visits if v not in visits]
    out["model_visits"] = visits
    if e.reference_visit is not None and e.reference_visit not in visits:
        out["not_run"] = f"no {e.param} records at the reference visit {e.reference_visit}"
        out["warnings"] = []
        return out
    if len(visits) < (1 if arms else 2):
        out["not_run"] = f"{e.param} has records at {visits or 'no visit'}: too few for the model"
        out["warnings"] = []
        return out
    data = data.assign(AVISIT=pd.Categorical(data["AVISIT"], categories=visits))
    if arms:
        data = data.assign(ARM=pd.Categorical(data["ARM"], categories=list(arms)))
    g_side = e.covariance == "random-intercept"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fit(
                data,
                model_formula(e, arms),
                subject="USUBJID",
                time=None if g_side else "AVISIT",
                covariance=e.covariance,
                time_order=None if g_side else visits,
                source=f"endpoint {e.key}",
            )
            if arms:
                lsm = result.lsmeans("ARM", by="AVISIT", df_method=e.df)
                diff = result.contrasts_vs_reference(
                    "ARM", reference=arms[1], by="AVISIT", df_method=e.df
                )
            else:
                lsm = result.lsmeans("AVISIT", df_method=e.df)
                diff = result.contrasts_vs_reference(
                    "AVISIT", reference=e.reference_visit, df_method=e.df
                )
        except XerotrialError as exc:
            out["not_run"] = str(exc)
            out["warnings"] = [str(w.message) for w in caught]
            return out
    out["warnings"] = [str(w.message) for w in caught]
    out["lsmeans"] = [
        {k: (_number(v) if isinstance(v, float) else v) for k, v in r.items()}
        for r in lsm.to_dict("records")
    ]
    out["diffs"] = [
        {k: (_number(v) if isinstance(v, float) else v) for k, v in r.items()}
        for r in diff.to_dict("records")
    ]
    out["covariance_matrix"] = result.covariance_matrix().tolist()
    out["converged"] = result.converged
    out["neg2_loglik"] = result.neg2_loglik
    if arms and e.primary_visit in visits:
        out["ancova"] = ancova_at(data, e, arms)
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (_number(v) if isinstance(v, float) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def ancova_at(data: pd.DataFrame, e: Endpoint, arms: tuple[str, ...]) -> dict[str, Any]:
    """The ANCOVA ``response ~ covariates + ARM`` of the observed records at the endpoint's
    primary visit (ordinary least squares: one visit, one variance), its arms' LS means and
    the first arm minus the second."""
    from xerotrial.stats.model import fit

    at = data[data["AVISIT"] == e.primary_visit]
    formula = f"{e.response} ~ {' + '.join([*e.covariates, 'ARM'])}"
    out: dict[str, Any] = {"visit": e.primary_visit, "formula": formula, "n": len(at)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fit(at.assign(AVISIT=str(e.primary_visit)), formula, subject="USUBJID",
                         time="AVISIT", covariance="un", source=f"endpoint {e.key}")  # fmt: skip
            out["lsmeans"] = _records(result.lsmeans("ARM", df_method="residual"))
            out["diffs"] = _records(
                result.contrasts_vs_reference("ARM", reference=arms[1], df_method="residual")
            )
    except XerotrialError as exc:
        out["not_run"] = str(exc)
    return out


def run_plan(bds: pd.DataFrame, study: StudyDefinition) -> list[Mapping[str, Any]]:
    """Every endpoint of the study's plan (primary first)."""
    plan = study.analysis
    if plan is None:
        return []
    order = sorted(plan.endpoints, key=lambda e: not e.primary)
    return [run_endpoint(bds, e, plan.arms) for e in order]
