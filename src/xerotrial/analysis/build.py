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

from ..report.data import FIGURE2_LSMEANS_COLUMNS, ReportData, Section
from ..report.fmt import format_number
from ..report.title_page import title_page
from ..stats.errors import DataValidationError
from ..store.export import read_form
from ..store.integrity import check_store
from ..store.verify import AuditReport
from ..trial.eligibility import REASONS
from ..trial.protocol import Protocol, Visit
from . import efficacy, summaries
from .efficacy import OUTCOMES

__all__ = ["build_report_data", "is_synthetic", "FIGURE2_PANELS"]

#: Figure 2's panels (the paper's): UWS, SWS and the XQ summary score over time.
FIGURE2_PANELS: tuple[tuple[str, str, str], ...] = (
    ("uws_ml_min", "Unstimulated whole saliva", "UWS flow rate (mL/min)"),
    ("sws_ml_min", "Stimulated whole saliva", "SWS flow rate (mL/min)"),
    ("xq_summary", "Xerostomia Questionnaire", "XQ summary score (0-100)"),
)


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


def _wilcoxon_display(w: pd.DataFrame, labels: dict[str, str], primary: Visit) -> pd.DataFrame:
    """The sensitivity table as printed: "median (Q1, Q3)" with the outcome's decimals."""
    dec = {o.paramcd: o.decimals[0] + 1 for o in OUTCOMES}

    def mq(r: pd.Series, when: str) -> str:
        f = [format_number(r[f"{when}_{k}"], dec.get(r["outcome"])) for k in ("median", "q1", "q3")]
        return f"{f[0]} ({f[1]}, {f[2]})"

    return pd.DataFrame(
        {
            "Outcome": w["outcome"].map(labels).fillna(w["outcome"]),
            "Pairs": w["n_pairs"],
            "Baseline, median (Q1, Q3)": [mq(r, "baseline") for _, r in w.iterrows()],
            f"{primary.label}, median (Q1, Q3)": [mq(r, "followup") for _, r in w.iterrows()],
            "V": w["V"].map(lambda v: format_number(v, 1)),
            "P": w["p_value"],
            "Test": w["method"].str.replace("Wilcoxon signed rank ", "", regex=False),
        }
    )


def _decimals(o: efficacy.Outcome) -> dict[str, int]:
    m, se, d, ci = o.decimals
    return {
        "baseline_lsmean": m,
        "followup_lsmean": m,
        "baseline_se": se,
        "followup_se": se,
        "difference": d,
        "ci_lower": ci,
        "ci_upper": ci,
    }


def _labelled(table: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    out = table.copy()
    if "outcome" in out.columns:
        out.insert(1, "label", out["outcome"].map(labels).fillna(out["outcome"]))
    return out


def _analysed(visits: tuple[str, ...]) -> str:
    """The rows an analysis uses, as lineage text."""
    return f"ANL01FL = 'Y', AVISIT in {', '.join(visits)}"


def _day(visit: Visit) -> str:
    return f"day {visit.planned_day}"


def build_report_data(
    engine: Engine,
    source: str,
    *,
    synthetic: bool | None = None,
    step: Callable[[str], None] | None = None,
    audit: AuditReport | None = None,
) -> ReportData:
    """Analyse the trial store ``engine`` as the statistical analysis plan says, on the visits
    and thresholds of the store's protocol.

    A store part-way through the trial gives a report of what is there: the data cut-off
    (:func:`~xerotrial.analysis.summaries.data_cutoff`) and the planned analyses that cannot
    run yet, with why (``ReportData.not_run``). A store without patients or without their
    efficacy data raises :class:`~xerotrial.stats.errors.DataValidationError`.

    ``source`` is shown in the report (mask passwords before); ``synthetic`` defaults to
    :func:`is_synthetic`; ``step`` is called with a description before each long step.
    ``audit``: the store's audit check (``store.integrity.check_store``), made here when not
    given; the report shows its chain head, and a NOT VERIFIED banner when it failed.
    """

    def say(text: str) -> None:
        if step:
            step(text)

    if audit is None:
        audit = check_store(engine)
    say("deriving the analysis datasets (ADSL, ADEFF)")
    protocol = summaries.store_protocol(engine)
    plan = protocol.analysis
    primary = protocol.visit(plan.primary)
    adsl = summaries.subject_level(engine)
    if not (adsl["GROUP"] == "patient").any():
        raise DataValidationError(
            f"{source}: the store holds no patients (participants form): nothing to report"
        )
    adeff = efficacy.derive_adeff(engine)
    if adeff.empty:
        raise DataValidationError(
            f"{source}: the store holds no efficacy data of patients (sialometry, saliva_ions, "
            "qlq_hn35, xq or scintigraphy forms): nothing to analyse"
        )
    cutoff = adsl["DCUTDT"].iloc[0]
    say("fitting the mixed models of Table 3")
    models = efficacy.fit_outcomes(adeff, protocol)
    fits = list(models.fits.values())
    t3, not_run = efficacy.table3(models, adeff, protocol)
    not_run += models.not_run()
    labels = {o.paramcd: o.label for o in OUTCOMES}
    long_labels = {o.paramcd: _long_label(o) for o in OUTCOMES}
    groups = {o.paramcd: o.group for o in OUTCOMES if o.group}
    titles = _titles(protocol)

    say("sensitivity analyses, responders, cohorts")
    sections = []
    if plan.early is not None:
        early = protocol.visit(plan.early)
        table, skipped = efficacy.early_look(models, adeff, protocol)
        not_run += skipped
        if len(table):
            sections.append(
                Section(
                    "one_month",
                    titles["one_month"],
                    _labelled(table, long_labels),
                    f"LS mean at {_day(early)} and its change from baseline (95% CI, p), same "
                    "model as Table 3.",
                    "adeff",
                    {"lsmean": 2, "se": 3, "difference": 2, "ci_lower": 2, "ci_upper": 2, "df": 0},
                )
            )
    wilcoxon, skipped = efficacy.wilcoxon_sensitivity(adeff, protocol)
    not_run += skipped
    if len(wilcoxon):
        sections.append(
            Section(
                "wilcoxon",
                titles["wilcoxon"],
                _labelled(wilcoxon, long_labels),
                "Medians (Q1, Q3; SAS PCTLDEF=5) of the observed values and the Wilcoxon "
                "signed-rank test on the pairs (exact without ties, else normal with "
                "continuity correction, as R's wilcox.test).",
                "adeff",
                display=_wilcoxon_display(wilcoxon, long_labels, primary),
            )
        )
    table, skipped = efficacy.responders(adeff, protocol)
    not_run += skipped
    if len(table):
        sentence = efficacy.responder_text(protocol.responder)[1]
        sections.append(
            Section(
                "responders",
                titles["responders"],
                _labelled(table, long_labels),
                f"Participants whose flow rate {sentence} from baseline to {primary.label} "
                f"(the protocol's [thresholds.responder]: {protocol.responder}).",
                "adeff",
                {"proportion": 2},
            )
        )
    cohorts = adsl.loc[adsl["COHORT"].astype(str) != "", ["USUBJID", "COHORT"]]
    table, skipped = efficacy.cohort_comparison(
        adeff, cohorts.set_index("USUBJID")["COHORT"], protocol
    )
    not_run += skipped
    if len(table):
        sections.append(
            Section(
                "cohorts",
                titles["cohorts"],
                _labelled(table, long_labels),
                "Cohort-by-visit interaction of the Table 3 model with cohort added "
                "(F test, containment df).",
                "adeff",
                {"F": 2, "num_df": 0, "den_df": 0},
            )
        )
    if plan.long_term is not None:
        lt = protocol.visit(plan.long_term)
        follow = summaries.long_term_followup(engine, adsl)
        if len(follow):
            sections.append(
                Section(
                    "long_term",
                    titles["long_term"],
                    follow,
                    f"Patients seen at the {lt.name} visit: adverse events after the "
                    f"{primary.label} period (after study day {primary.window.upper}) and "
                    "treatment-related serious adverse events.",
                    "adsl",
                )
            )
        else:
            not_run.append(efficacy.NotRun("long_term", "", f"no {lt.name} ({lt.label}) visit yet"))
    deviations = summaries.protocol_deviations(engine)
    notes = "; ".join(
        f"{v.name}: {v.note}"
        for v in protocol.visits
        if v.note and v.name in set(deviations["VISIT"])
    )
    sections += [
        Section(
            "deviations",
            "Visits outside their target window",
            deviations,
            "Visits mapped to a protocol visit but outside its target days"
            + (f" ({notes})." if notes else "."),
            "adeff",
        ),
        Section(
            "release",
            "Cell product: batch release",
            summaries.release(engine),
            "Release criteria of the protocol applied to each batch's certificate of analysis.",
            None,
        ),
    ]
    unscheduled = efficacy.unscheduled_table(adeff, protocol)
    if len(unscheduled):
        sections.append(
            Section(
                "unscheduled",
                "Assessments outside the protocol's schedule",
                unscheduled,
                "Efficacy data at visits where the protocol's [schedule] does not plan their "
                f"form; [analysis] unscheduled = '{plan.unscheduled}'.",
                "adeff",
            )
        )
    model_notes = [w for f in fits for w in f.warnings]
    if model_notes:
        sections.append(
            Section(
                "model_notes",
                "Numerical notes on the models",
                pd.DataFrame({"note": model_notes}),
                "Reported by the REML engine; the estimates are still shown.",
                "adeff",
            )
        )

    say("summaries: Tables 1, 2 and 4, CONSORT")
    table1 = summaries.table1(engine, adsl)
    table2 = summaries.table2(engine, adsl)
    table4 = summaries.table4(engine)
    consort = dict(summaries.consort(engine, adsl))
    consort["reasons"] = {REASONS.get(k, k): n for k, n in consort["reasons"].items()}
    present = [o.paramcd for o in OUTCOMES if (adeff["PARAMCD"] == o.paramcd).any()]
    panels = tuple(p for p in FIGURE2_PANELS if p[0] in present) or tuple(
        (code, labels[code], labels[code])
        for code in list(dict.fromkeys([*models.fits, *present]))[:3]
    )
    fig_codes = [p[0] for p in panels]
    shown = {
        (code, v)
        for code in fig_codes
        for v in efficacy.outcome_visits(adeff, code, protocol).model
    }
    traj = adeff[
        (adeff["ANL01FL"] == "Y")
        & pd.Series(
            [(c, v) in shown for c, v in zip(adeff["PARAMCD"], adeff["AVISIT"], strict=True)],
            index=adeff.index,
            dtype=bool,
        )
    ]
    visitn = {v.name: float(v.avisitn) for v in protocol.visits}
    lsm = pd.concat(
        [pd.DataFrame(columns=["PARAMCD", "visit", "estimate", "se", "lower", "upper"])]
        + [f.lsmeans for f in fits if f.paramcd in fig_codes],
        ignore_index=True,
    )
    lsm = pd.DataFrame(
        {
            "PARAMCD": lsm["PARAMCD"],
            "AVISIT": lsm["visit"],
            "AVISITN": lsm["visit"].map(visitn),
            "estimate": lsm["estimate"],
            "se": lsm["se"],
            "lower": lsm["lower"],
            "upper": lsm["upper"],
        },
        columns=list(FIGURE2_LSMEANS_COLUMNS),
    )
    lsmeans_all = (
        pd.concat([f.lsmeans for f in fits], ignore_index=True)
        if fits
        else (pd.DataFrame(columns=["visit", "estimate", "se", "df", "lower", "upper", "PARAMCD"]))
    )
    contrast_cols = ["outcome", "visit", "estimate", "se", "df", "lower", "upper", "p"]
    contrasts_all = (
        pd.concat([f.contrasts for f in fits], ignore_index=True).rename(
            columns={"PARAMCD": "outcome"}
        )[contrast_cols]
        if fits
        else pd.DataFrame(columns=contrast_cols)
    )
    analysed = _analysed(plan.efficacy_visits)
    lineage: dict[str, tuple[str, str]] = {
        "table1": (
            "adsl",
            f"participants (ADSL) and baseline (AVISIT = "
            f"'{protocol.baseline_visit.name}') flow and ions of patients and controls "
            "(crf/sialometry.csv, crf/saliva_ions.csv)",
        ),
        "table2": (
            "adae",
            f"adverse events up to the {primary.label} visit's window (study "
            f"day {primary.window.upper}; crf/adverse_events.csv)",
        ),
        "table3": ("adeff", analysed),
        "table4": (
            "adhla",
            "HLA antibody results with the donor typing (crf/hla_antibodies.csv, crf/donors.csv)",
        ),
        "figure2": ("adeff", f"PARAMCD in {', '.join(fig_codes)}; {analysed}"),
        "lsmeans": ("adeff", analysed),
    }
    for o in OUTCOMES:
        visits = (
            models.fits[o.paramcd].visits if o.paramcd in models.fits else (plan.efficacy_visits)
        )
        lineage[f"table3:{o.paramcd}"] = (
            "adeff",
            f"PARAMCD = '{o.paramcd}', {_analysed(visits)}; baseline vs {plan.primary}",
        )
    if len(contrasts_all):
        sections.append(
            Section(
                "lsmeans",
                titles["lsmeans"],
                _labelled(contrasts_all, long_labels),
                "Each visit minus baseline, same models as Table 3.",
                "adeff",
            )
        )
    datasets = {
        "adsl": adsl,
        "adeff": adeff,
        "adae": _with_usubjid(summaries.adverse_events(engine)),
        "adhla": _with_usubjid(summaries.hla_results(engine)),
        "lsmeans": lsmeans_all,
    }
    if synthetic is None:
        synthetic = is_synthetic(engine)
    captions = _captions(primary, adsl, len(t3), cutoff, engine)
    title = "xerotrial report: allogeneic AT-MSCs for radiation-induced xerostomia"
    return ReportData(
        title=title,
        synthetic=synthetic,
        source=source,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        table1=table1,
        table2=table2,
        table3=t3,
        table3_labels=labels,
        table3_decimals={o.paramcd: _decimals(o) for o in OUTCOMES},
        table4=table4,
        figure2=traj[["USUBJID", "PARAMCD", "AVISIT", "AVISITN", "ADY", "AVAL"]],
        figure2_lsmeans=lsm,
        figure2_panels=panels,
        consort=consort,
        sections=tuple(sections),
        datasets=datasets,
        lineage=lineage,
        table3_groups=groups,
        captions=captions,
        table3_follow_up=f"{primary.planned_day} days follow-up",
        data_cutoff="" if cutoff is None else cutoff.isoformat(),
        not_run=efficacy.not_run_table(
            sorted(not_run, key=lambda n: list(titles).index(n.analysis)), long_labels, titles
        ),
        audit_status=audit.head_line(),
        audit_problems=tuple(audit.problems),
        title_page=tuple(
            title_page(engine, data_cutoff="" if cutoff is None else cutoff.isoformat())
        ),
    )


def _titles(protocol: Protocol) -> dict[str, str]:
    """The planned analyses' titles by section key, in the report's order."""
    plan = protocol.analysis
    primary = protocol.visit(plan.primary)
    out = {"table3": "Table 3", "lsmeans": "LS means and changes from baseline at every visit"}
    if plan.early is not None:
        early = protocol.visit(plan.early)
        out["one_month"] = f"Results at {early.label} ({_day(early)})"
    out["wilcoxon"] = f"Sensitivity analysis: as observed, baseline vs {primary.label}"
    short = efficacy.responder_text(protocol.responder)[0]
    out["responders"] = f"Responders at {primary.label} ({short} from baseline)"
    names = " versus ".join(c.name for c in protocol.cohorts)
    dmso = " vs ".join(f"{format_number(c.dmso_pct)}%" for c in protocol.cohorts)
    out["cohorts"] = f"{names} ({dmso} DMSO)"
    if plan.long_term is not None:
        day = protocol.visit(plan.long_term).planned_day
        when = f"{day // 365} years" if day % 365 == 0 else f"day {day}"
        out["long_term"] = f"Long-term safety follow-up ({when})"
    return out


def _captions(
    primary: Visit, adsl: pd.DataFrame, n_table3: int, cutoff: dt.date | None, engine: Engine
) -> dict[str, str]:
    """Table 2's and 3's captions: the primary visit's day, and what is not complete yet."""
    from ..report.html import DEFAULT_CAPTIONS

    t3 = (
        "Values are least squares means \u00b1 standard errors, unless otherwise stated. "
        f"Difference: {primary.planned_day} days minus baseline, with its 95% confidence "
        "interval and P-value."
    )
    if n_table3 < len(OUTCOMES):
        t3 += (
            f" {len(OUTCOMES) - n_table3} of {len(OUTCOMES)} outcomes are not shown: see "
            "'Planned analyses not run yet'."
        )
    out = {"table3": t3}
    visits = read_form(engine, "visits")
    seen = set(visits.loc[visits["visit"] == primary.name, "subject"])
    treated = set(adsl.loc[adsl["SAFFL"] == "Y", "USUBJID"])
    if treated - seen:
        when = f" ({cutoff.isoformat()})" if cutoff else ""
        out["table2"] = (
            f"{DEFAULT_CAPTIONS['table2']} Adverse events reported up to the data "
            f"cut-off{when}: {len(treated - seen)} of {len(treated)} treated "
            f"patients have no {primary.name} ({primary.label}) visit yet."
        )
    return out
