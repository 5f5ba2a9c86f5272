"""A definition's estimand (``[analysis.estimand]``) on its BDS dataset and its intercurrent
events: reference-based multiple imputation of one endpoint, as R rbmi does it.

The endpoint's subjects are those of the compared arms with a baseline value (BASE); each
has a row per endpoint visit, the response empty where it was not observed. A subject's
intercurrent event is its earliest row of the ICE form (the first visit it affects, the
strategy of its kind); subjects without one whose data stop early are imputed under MAR.
The imputation model is ``response ~ ARM + AVISIT + BASE*AVISIT + ARM*AVISIT`` (one
unstructured covariance), the analysis an ANCOVA per visit on BASE; the reference group of
JR, CR and CIR is the plan's second arm, and ``trt`` the first arm minus the second (the
plan's comparison). Numbers only: the report formats them.

Example
-------
>>> from xerotrial.study.plan import EstimandPlan
>>> ice_table(pd.DataFrame({"subject": ["s1", "s1"], "event": ["rescue", "discontinuation"],
...                         "first_visit": ["month_12", "month_4"]}),
...           EstimandPlan("UWS", "condmean-jackknife", "ice", "event", "first_visit",
...                        {"rescue": "CR", "discontinuation": "JR"}), ["month_4", "month_12"])
  subject    visit strategy      event
0      s1  month_4       JR  discontinuation
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from xerotrial.errors import XerotrialError
from xerotrial.study.model import StudyDefinition
from xerotrial.study.plan import EstimandPlan

__all__ = ["ice_table", "run_estimand"]


def ice_table(rows: pd.DataFrame, plan: EstimandPlan, visits: Sequence[str]) -> pd.DataFrame:
    """Each subject's earliest intercurrent event (among the endpoint's visits): subject,
    visit (the first affected), strategy, event."""
    order = {v: i for i, v in enumerate(visits)}
    keep = rows[rows[plan.first_visit_field].isin(order) & rows[plan.event_field].notna()]
    out = pd.DataFrame(
        {
            "subject": keep["subject"].astype(str),
            "visit": keep[plan.first_visit_field].astype(str),
            "event": keep[plan.event_field].astype(str),
        }
    )
    out["strategy"] = out["event"].map(dict(plan.strategies))
    out["rank"] = out["visit"].map(order)
    out = out.sort_values(["subject", "rank"], kind="stable").drop_duplicates("subject")
    return out[["subject", "visit", "strategy", "event"]].reset_index(drop=True)


def _grid(bds: pd.DataFrame, param: str, response: str, visits: Sequence[str],
          arms: Sequence[str]) -> pd.DataFrame:  # fmt: skip
    """One row per subject with a baseline value and endpoint visit (empty: not observed)."""
    rec = bds[(bds["PARAMCD"] == param) & bds["ARM"].isin(arms)]
    if "POPFL" in rec.columns:
        rec = rec[rec["POPFL"] == "Y"]
    rec = rec.assign(SUBJID=rec["SUBJID"].astype(str))  # the forms' subject ids (the ICEs')
    base = rec.dropna(subset=["BASE"]).groupby("SUBJID", sort=False)[["BASE", "ARM"]].first()
    observed = rec[rec["AVISIT"].isin(visits)].set_index(["SUBJID", "AVISIT"])[response]
    rows = []
    for subject, b in base.iterrows():
        for v in visits:
            y = observed.get((subject, v))
            rows.append({"SUBJID": subject, "AVISIT": v, "ARM": b["ARM"], "BASE": b["BASE"],
                         "Y": "" if y is None or pd.isna(y) else repr(float(y))})  # fmt: skip
    return pd.DataFrame(rows)


def run_estimand(
    bds: pd.DataFrame, ice_rows: pd.DataFrame | None, study: StudyDefinition
) -> Mapping[str, Any] | None:
    """The estimand's pooled results as plain data (None when the plan has none); a
    failure is reported as ``not_run`` with its reason."""
    from xerotrial.stats.estimand import run
    from xerotrial.stats.imputation import long_data

    plan = study.analysis.estimand if study.analysis else None
    if plan is None:
        return None
    e = next(x for x in study.analysis.endpoints if x.key == plan.endpoint)
    arms = list(study.analysis.arms)
    out: dict[str, Any] = {
        "endpoint": e.key, "param": e.param, "response": e.response, "method": plan.method,
        "visits": list(e.visits), "strategies": dict(plan.strategies),
        "reference": arms[1], "comparison": f"{arms[0]} - {arms[1]}",
    }  # fmt: skip
    ice = ice_table(ice_rows, plan, e.visits) if ice_rows is not None and len(ice_rows) else None
    grid = _grid(bds, e.param, e.response, e.visits, arms)
    out["n_subjects"] = int(grid["SUBJID"].nunique()) if len(grid) else 0
    out["n_imputed"] = int((grid["Y"] == "").sum()) if len(grid) else 0
    out["events"] = (
        {} if ice is None else {k: int(v) for k, v in ice["event"].value_counts().items()}
    )
    try:
        data = long_data(
            grid,
            outcome="Y",
            subject="SUBJID",
            visit="AVISIT",
            group="ARM",
            reference=arms[1],
            covariates=["BASE*AVISIT", "ARM*AVISIT"],
            analysis_covariates=["BASE"],
            visit_order=list(e.visits),
            group_order=[arms[1], arms[0]],
            ice=None if ice is None else ice[["subject", "visit", "strategy"]],
            source=f"endpoint {e.key}",
        )
        result = run(data, plan.method, analysis_covariates=["BASE"], samples=plan.samples,
                     seed=plan.seed)  # fmt: skip
    except XerotrialError as exc:
        out["not_run"] = str(exc)
        return out
    out["n_samples"] = result.n_samples
    out["pool"] = result.pool
    out["results"] = result.results
    return out
