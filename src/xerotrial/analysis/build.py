"""From a trial store to the report's input: every analysis of the plan, with its lineage.

:func:`build_report_data` derives the analysis datasets (``adsl``, ``adeff``), runs the
prespecified analysis (:mod:`.efficacy`) and the trial summaries (:mod:`.summaries`) and
returns a :class:`xerotrial.report.ReportData`, which :func:`xerotrial.report.write_report`
renders. Each table names the dataset and the records it was computed from (lineage).

Example
-------
>>> from xerotrial.demo.build import build_demo_store
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:  # doctest: +SKIP
...     data = build_report_data(build_demo_store(tmp), source="demo")
...     data.table3["outcome"].tolist()[:2]
['uws_ml_min', 'uws_pct_change']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pandas as pd
from sqlalchemy.engine import Engine

from ..report.data import ReportData, Section
from ..report.fmt import format_number
from ..stats.errors import DataValidationError
from ..store.export import read_form
from ..trial.eligibility import REASONS
from . import efficacy, summaries
from .efficacy import FOLLOW_UP, OUTCOMES, SAP_VISITS

__all__ = ["build_report_data", "is_synthetic", "FIGURE2_PANELS"]

#: Figure 2's panels (the paper's): UWS, SWS and the XQ summary score over time.
FIGURE2_PANELS: tuple[tuple[str, str, str], ...] = (
    ("uws_ml_min", "Unstimulated whole saliva", "UWS flow rate (mL/min)"),
    ("sws_ml_min", "Stimulated whole saliva", "SWS flow rate (mL/min)"),
    ("xq_summary", "Xerostomia Questionnaire", "XQ summary score (0-100)"),
)
_ANALYSED = "ANL01FL = 'Y', AVISIT in day0, day1, day5, day30, day120"


def is_synthetic(engine: Engine) -> bool:
    """Whether the store says its data are synthetic (a site named "... SYNTHETIC ...")."""
    sites = read_form(engine, "sites")
    return any("SYNTHETIC" in str(n).upper() for n in sites["name"] if n is not None)


def _with_usubjid(frame: pd.DataFrame | None) -> pd.DataFrame:
    """A dataset with the subject column renamed USUBJID and first."""
    if frame is None:
        return pd.DataFrame({"USUBJID": []})
    out = frame.rename(columns={"subject": "USUBJID"})
    return out[["USUBJID", *[c for c in out.columns if c != "USUBJID"]]]


def _long_label(o: efficacy.Outcome) -> str:
    """A Table 3 label that stands alone ("Scintigraphic uptake score: PG")."""
    if not o.group:
        return o.label
    return f"{o.group.split(' (')[0].split(',')[0]}: {o.label}"


def _wilcoxon_display(w: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    """The sensitivity table as printed: "median (Q1, Q3)" with the outcome's decimals."""
    dec = {o.paramcd: o.decimals[0] + 1 for o in OUTCOMES}

    def mq(r: pd.Series, when: str) -> str:
        f = [format_number(r[f"{when}_{k}"], dec.get(r["outcome"])) for k in
             ("median", "q1", "q3")]
        return f"{f[0]} ({f[1]}, {f[2]})"

    return pd.DataFrame({
        "Outcome": w["outcome"].map(labels).fillna(w["outcome"]),
        "Pairs": w["n_pairs"],
        "Baseline, median (Q1, Q3)": [mq(r, "baseline") for _, r in w.iterrows()],
        "4 months, median (Q1, Q3)": [mq(r, "followup") for _, r in w.iterrows()],
        "V": w["V"].map(lambda v: format_number(v, 1)),
        "P": w["p_value"],
        "Test": w["method"].str.replace("Wilcoxon signed rank ", "", regex=False),
    })


def _decimals(o: efficacy.Outcome) -> dict[str, int]:
    m, se, d, ci = o.decimals
    return {"baseline_lsmean": m, "followup_lsmean": m, "baseline_se": se, "followup_se": se,
            "difference": d, "ci_lower": ci, "ci_upper": ci}


def _labelled(table: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    out = table.copy()
    if "outcome" in out.columns:
        out.insert(1, "label", out["outcome"].map(labels).fillna(out["outcome"]))
    return out


def build_report_data(engine: Engine, source: str, *, synthetic: bool | None = None,
                      step: Callable[[str], None] | None = None) -> ReportData:
    """Analyse the trial store ``engine`` as the statistical analysis plan says.

    ``source`` is shown in the report (mask passwords before); ``synthetic`` defaults to
    :func:`is_synthetic`; ``step`` is called with a description before each long step.
    """
    def say(text: str) -> None:
        if step:
            step(text)

    say("deriving the analysis datasets (ADSL, ADEFF)")
    adsl = summaries.subject_level(engine)
    if not (adsl["GROUP"] == "patient").any():
        raise DataValidationError(
            f"{source}: the store holds no patients (participants form): nothing to report")
    adeff = efficacy.derive_adeff(engine)
    if adeff.empty:
        raise DataValidationError(
            f"{source}: the store holds no efficacy data of patients (sialometry, saliva_ions, "
            "qlq_hn35, xq or scintigraphy forms): nothing to analyse")
    say("fitting the mixed models of Table 3")
    t3, fits = efficacy.table3(adeff)
    labels = {o.paramcd: o.label for o in OUTCOMES}
    long_labels = {o.paramcd: _long_label(o) for o in OUTCOMES}
    groups = {o.paramcd: o.group for o in OUTCOMES if o.group}
    say("sensitivity analyses, responders, cohorts")
    cohorts = adsl.loc[adsl["COHORT"].astype(str) != "", ["USUBJID", "COHORT"]]
    wilcoxon = efficacy.wilcoxon_sensitivity(adeff)
    cohort_table = efficacy.cohort_comparison(adeff, cohorts.set_index("USUBJID")["COHORT"])
    sections = [
        Section("one_month", "Results at 1 month (day 30)",
                _labelled(efficacy.one_month(fits), long_labels),
                "LS mean at day 30 and its change from baseline (95% CI, p), same model as "
                "Table 3.", "adeff", {"lsmean": 2, "se": 3, "difference": 2, "ci_lower": 2,
                                      "ci_upper": 2, "df": 0}),
        Section("wilcoxon", "Sensitivity analysis: as observed, baseline vs 4 months",
                _labelled(wilcoxon, long_labels),
                "Medians (Q1, Q3; SAS PCTLDEF=5) of the observed values and the Wilcoxon "
                "signed-rank test on the pairs (exact without ties, else normal with "
                "continuity correction, as R's wilcox.test).", "adeff",
                display=_wilcoxon_display(wilcoxon, long_labels)),
        Section("responders", "Responders at 4 months (> 30% increase from baseline)",
                _labelled(efficacy.responders(adeff), long_labels),
                "Participants whose flow rate rose by more than 30% from baseline.", "adeff",
                {"proportion": 2}),
        Section("cohorts", "CS5 versus CS10 (5% vs 10% DMSO)", _labelled(cohort_table, long_labels),
                "Cohort-by-visit interaction of the Table 3 model with cohort added "
                "(F test, containment df).", "adeff", {"F": 2, "num_df": 0, "den_df": 0}),
        Section("long_term", "Long-term safety follow-up (2 years)",
                summaries.long_term_followup(engine, adsl),
                "Patients seen at the 2-year follow-up: adverse events after the 4-month "
                "visit and treatment-related serious adverse events.", "adsl"),
        Section("deviations", "Visits outside their target window",
                summaries.protocol_deviations(engine),
                "Visits mapped to a protocol visit but outside its target days (the last two "
                "patients were seen at about 3 months: SARS-CoV-2 amendment).", "adeff"),
        Section("release", "Cell product: batch release", summaries.release(engine),
                "Release criteria of the protocol applied to each batch's certificate of "
                "analysis.", None),
    ]
    notes = [w for f in fits for w in f.warnings]
    if notes:
        sections.append(Section("model_notes", "Numerical notes on the models",
                                pd.DataFrame({"note": notes}),
                                "Reported by the REML engine; the estimates are still shown.",
                                "adeff"))
    say("summaries: Tables 1, 2 and 4, CONSORT")
    table1 = summaries.table1(engine, adsl)
    table2 = summaries.table2(engine, adsl)
    table4 = summaries.table4(engine)
    consort = dict(summaries.consort(engine, adsl))
    consort["reasons"] = {REASONS.get(k, k): n for k, n in consort["reasons"].items()}
    panels = tuple(p for p in FIGURE2_PANELS if (adeff["PARAMCD"] == p[0]).any()) or tuple(
        (f.paramcd, labels[f.paramcd], labels[f.paramcd]) for f in fits[:3])
    fig_codes = [p[0] for p in panels]
    traj = adeff[adeff["PARAMCD"].isin(fig_codes) & (adeff["ANL01FL"] == "Y")
                 & adeff["AVISIT"].isin(list(SAP_VISITS))]
    lsm = pd.concat([f.lsmeans for f in fits if f.paramcd in fig_codes], ignore_index=True)
    visitn = {v: float(v.removeprefix("day")) for v in SAP_VISITS}
    lsm = pd.DataFrame({"PARAMCD": lsm["PARAMCD"], "AVISIT": lsm["visit"],
                        "AVISITN": lsm["visit"].map(visitn), "estimate": lsm["estimate"],
                        "se": lsm["se"], "lower": lsm["lower"], "upper": lsm["upper"]})
    lsmeans_all = pd.concat([f.lsmeans for f in fits], ignore_index=True)
    contrasts_all = pd.concat([f.contrasts for f in fits], ignore_index=True)
    lineage: dict[str, tuple[str, str]] = {
        "table1": ("adsl", "participants (ADSL) and baseline (AVISIT = 'day0') flow and ions "
                   "of patients and controls (crf/sialometry.csv, crf/saliva_ions.csv)"),
        "table2": ("adae", "adverse events up to the 4-month visit (crf/adverse_events.csv)"),
        "table3": ("adeff", _ANALYSED),
        "table4": ("adhla", "HLA antibody results with the donor typing "
                   "(crf/hla_antibodies.csv, crf/donors.csv)"),
        "figure2": ("adeff", "PARAMCD in uws_ml_min, sws_ml_min, xq_summary; " + _ANALYSED),
        "lsmeans": ("adeff", _ANALYSED),
    }
    for o in OUTCOMES:
        lineage[f"table3:{o.paramcd}"] = (
            "adeff", f"PARAMCD = '{o.paramcd}', {_ANALYSED}; baseline vs {FOLLOW_UP}")
    sections.append(Section("lsmeans", "LS means and changes from baseline at every visit",
                            _labelled(contrasts_all.drop(columns=["contrast"], errors="ignore")
                                      .rename(columns={"PARAMCD": "outcome"})
                                      [["outcome", "visit", "estimate", "se", "df", "lower",
                                        "upper", "p"]], long_labels),
                            "Each visit minus baseline, same models as Table 3.", "adeff"))
    datasets = {"adsl": adsl, "adeff": adeff,
                "adae": _with_usubjid(summaries.adverse_events(engine)),
                "adhla": _with_usubjid(summaries.hla_results(engine)), "lsmeans": lsmeans_all}
    if synthetic is None:
        synthetic = is_synthetic(engine)
    title = "xerotrial report: allogeneic AT-MSCs for radiation-induced xerostomia"
    return ReportData(
        title=title, synthetic=synthetic, source=source,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        table1=table1, table2=table2, table3=t3, table3_labels=labels,
        table3_decimals={o.paramcd: _decimals(o) for o in OUTCOMES}, table4=table4,
        figure2=traj[["USUBJID", "PARAMCD", "AVISIT", "AVISITN", "ADY", "AVAL"]],
        figure2_lsmeans=lsm, figure2_panels=panels, consort=consort,
        sections=tuple(sections), datasets=datasets, lineage=lineage, table3_groups=groups,
    )
