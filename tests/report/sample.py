"""A small fake :class:`ReportData` for the report tests (numbers are made up)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xerotrial.report import ReportData, Section

SUBJECTS = ("P01", "P02", "P03")
VISITS = (("day0", 0.0), ("day30", 30.0), ("day120", 120.0))
PARAMS = {"uws_ml_min": 0.13, "sws_ml_min": 0.66, "xq_score": 53.5, "hndr": 73.3}


def adeff() -> pd.DataFrame:
    """A BDS-like dataset: one row per subject, parameter and visit."""
    rng = np.random.default_rng(7)
    rows = []
    for code, level in PARAMS.items():
        for i, subj in enumerate(SUBJECTS):
            base = level * (0.8 + 0.2 * i)
            for visit, day in VISITS:
                aval = base * (1 + day / 400) + rng.normal(0, level * 0.02)
                rows.append(
                    {
                        "USUBJID": subj,
                        "PARAMCD": code,
                        "AVISIT": visit,
                        "AVISITN": day,
                        "ADY": day + (i - 1) * 2,
                        "AVAL": aval,
                        "BASE": base,
                        "ANL01FL": "Y",
                    }
                )
    return pd.DataFrame(rows)


def table3() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "outcome": ["uws_ml_min", "uws_pct", "xq_score", "hndr"],
            "n": [3, 3, 3, 3],
            "baseline_lsmean": [0.131249, 0.0, 53.4567, 73.3333333],
            "baseline_se": [0.0199, 12.4449, 6.71, 7.2222],
            "followup_lsmean": [0.184, 50.2, 30.87, 46.66666],
            "followup_se": [0.0201, 12.4449, 6.7, 7.2222],
            "difference": [0.05625, 50.2049, -22.6049, -26.6666667],
            "ci_lower": [0.0281234, 23.9712, -33.5678, -46.9312],
            "ci_upper": [0.0915, 76.4389, -11.6789, -6.4066],
            "p_value": [0.00094, 0.00051234, 0.00041, 0.0134],
        }
    )


def make_data(synthetic: bool = True) -> ReportData:
    data = adeff()
    fig = data.loc[
        data["PARAMCD"].isin(["uws_ml_min", "sws_ml_min", "xq_score"]),
        ["USUBJID", "PARAMCD", "AVISIT", "AVISITN", "ADY", "AVAL"],
    ]
    ls = (
        fig.groupby(["PARAMCD", "AVISIT", "AVISITN"], sort=False)["AVAL"]
        .agg(estimate="mean", se="sem")
        .reset_index()
    )
    ls["lower"] = ls["estimate"] - 2 * ls["se"]
    ls["upper"] = ls["estimate"] + 2 * ls["se"]
    adsl = pd.DataFrame(
        {
            "USUBJID": list(SUBJECTS),
            "AGE": [45, 61, 70],
            "SEX": ["F", "M", "M"],
            "COHORT": ["CS5", "CS5", "CS10"],
        }
    )
    adae = pd.DataFrame(
        {
            "USUBJID": ["P01", "P02"],
            "AEDECOD": ["Syncope", "Stroke"],
            "AETOXGR": [3, 3],
            "AEREL": ["Y", "N"],
        }
    )
    sensitivity = pd.DataFrame(
        {
            "outcome": ["uws_ml_min", "xq_score"],
            "n": [3, 3],
            "median_change": [0.0512345, -21.0],
            "p": [0.25, 0.0312],
        }
    )
    return ReportData(
        title="Trial report <test> & co",
        synthetic=synthetic,
        source="postgresql+psycopg://xero:***@localhost/trial",
        generated="2024-05-01 12:00 UTC",
        table1=pd.DataFrame(
            {
                "section": ["Demographics", "Demographics", "Saliva"],
                "characteristic": ["Age, years", "Women", "UWS FR, mL/minute"],
                "statistic": ["median (IQR)", "n (%)", "median (IQR)"],
                "patients": ["61 (45-70)", "1 (33%)", "0.13 (0.05-0.20)"],
                "controls": ["60 (44-69)", "1 (33%)", "0.45 (0.30-0.60)"],
                "p_value": [0.83, np.nan, 0.00004],
            }
        ),
        table2=pd.DataFrame(
            {
                "block": ["Serious adverse events"] * 3 + ["Adverse events, study related"] * 2,
                "label": [
                    "Serious adverse events",
                    "SAEs, study related",
                    "SAEs, not related",
                    "Pain at injection site",
                    "Grade 1",
                ],
                "level": [0, 1, 1, 0, 1],
                "N": [3, 3, 3, 3, 3],
                "Sum": [1, 0, 1, 3, 3],
                "Proportion": [1 / 3, 0.0, 1 / 3, 1.0, 1.0],
            }
        ),
        table3=table3(),
        table3_labels={
            "uws_ml_min": "UWS FR, mL/minute",
            "uws_pct": "UWS FR, % change from baseline",
            "xq_score": "XQ summary score (0-100)",
            "hndr": "HNDR",
        },
        table3_decimals={
            "uws_ml_min": {
                "baseline_lsmean": 2,
                "baseline_se": 2,
                "followup_lsmean": 2,
                "followup_se": 2,
                "difference": 2,
                "ci_lower": 2,
                "ci_upper": 2,
            },
            "xq_score": {
                "baseline_lsmean": 1,
                "baseline_se": 1,
                "followup_lsmean": 1,
                "followup_se": 1,
                "difference": 1,
                "ci_lower": 2,
                "ci_upper": 2,
            },
        },
        table4=pd.DataFrame(
            {
                "subject": ["P02", "P03"],
                "specificity": ["A2, B44", "DR4"],
                "dsa": ["Yes", "No"],
                "onset": ["de novo", "pre-existing"],
                "first_positive_day": [30.0, 0.0],
                "mfi_day_0": [0.0, 1520.0],
                "mfi_day_30": [2200.0, 1810.5],
                "mfi_day_120": [1500.0, np.nan],
            }
        ),
        figure2=fig.reset_index(drop=True),
        figure2_lsmeans=ls,
        figure2_panels=(
            ("uws_ml_min", "Unstimulated whole saliva flow rate", "mL/minute"),
            ("sws_ml_min", "Stimulated whole saliva flow rate", "mL/minute"),
            ("xq_score", "Xerostomia questionnaire summary score", "Score"),
        ),
        consort={
            "screened": 17,
            "not_eligible": 7,
            "reasons": {"smoking": 3, "previous cancer": 2, "other": 2},
            "enrolled": 10,
            "cohorts": {"CS5": 5, "CS10": 5},
            "followed_up": 10,
            "followed_up_label": "4 months",
            "analysed": 10,
            "controls": 10,
            "long_term": 4,
        },
        sections=(
            Section(
                "sensitivity_wilcoxon",
                "Sensitivity: Wilcoxon signed-rank test",
                sensitivity,
                note="Change from baseline to day 120.",
                dataset="adeff",
                decimals={"median_change": 2},
            ),
            Section(
                "deviations",
                "Protocol deviations",
                pd.DataFrame({"subject": ["P03"], "deviation": ["Visit at 3 months"]}),
            ),
        ),
        datasets={"adeff": data, "adsl": adsl, "adae": adae},
        lineage={
            "table1": ("adsl", "all enrolled patients"),
            "table2": ("adae", "treatment-emergent AEs"),
            "table3": ("adeff", "ANL01FL = 'Y', AVISIT in (day0, day120)"),
            "table4": ("adsl", "patients with HLA antibodies"),
            "figure2": ("adeff", "PARAMCD in (uws_ml_min, sws_ml_min, xq_score)"),
            "table3:uws_ml_min": (
                "adeff",
                "PARAMCD = 'uws_ml_min', AVISIT in day0..day120, ANL01FL = 'Y'",
            ),
            "table3:uws_pct": ("adeff", "derived: 100 * CHG / BASE of uws_ml_min"),
            "table3:xq_score": ("adeff", "ANL01FL = 'Y'"),
            "table3:hndr": ("adeff", "PARAMCD = 'hndr'"),
            "sensitivity_wilcoxon": ("adeff", "PARAMCD in (uws_ml_min, xq_score)"),
        },
        table3_groups={"hndr": "EORTC QLQ-H&N35 (scores 0-100)"},
    )
