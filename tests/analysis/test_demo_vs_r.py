"""The report of `xerotrial demo` against an independent R analysis of the same raw CRF files.

``tests/reference/demo_report.json`` is made by ``validation/demo_report.R`` from the raw CRF
files of a demo run (not from xerotrial's store, ADaM datasets or tables): R re-derives the
flow rates, percent changes, questionnaire scores, scintigraphy means and ions itself, then fits
``nlme::lme(AVAL ~ visit, random = ~1 | subject, REML)`` with emmeans, runs ``wilcox.test``,
``anova.lme(type = "marginal")``, Welch's ``t.test`` and counts responders.

Two references for the mixed models:

* ``models.*`` (and ``cohorts.*``): nlme + emmeans as they come. nlme's optimizer stops up to
  ~1e-6 (relative) away from the REML optimum in the variance ratio even with tight controls
  (HNDR is the worst), which moves estimates, SEs, CIs, p and F by up to 3.4e-7 here: all
  compared at ``NLME_RTOL`` = 1e-6.
* ``models.*.exact`` (and ``cohorts.*.exact``): the same model at the exact REML optimum, which
  R finds to machine precision as the root of the analytic derivative of the profiled REML
  likelihood in g = var_subject / var_residual (g = 0 on the boundary). xerotrial's own
  optimizer stops up to ~5e-8 away in g (uws_phosphate), giving up to 5.1e-8 relative in SEs,
  CIs and t, 6.3e-8 in F: compared at ``EXACT_RTOL`` = 1e-7. p-values magnify the relative
  error of t (by |d log p / d log t|, large for the LS means' p of 1e-5 ... 1e-12): up to
  2.2e-7 against the exact optimum, so every model p-value is compared at ``MODEL_P_RTOL``
  = 1e-6.

Degrees of freedom: the visit contrasts' containment df are nlme's (N - subjects - visit
parameters) and equal xerotrial's exactly. LS means are different by convention: emmeans gives
an LS mean the smallest df of the terms it involves (the intercept's subjects - 1, e.g. 9),
xerotrial the visit term's df as SAS's LSMEANS with DDFM=CONTAIN (e.g. 36); the exact block
uses the visit term's df, and xerotrial's LS-mean df are compared with that.

Estimates that are zero in truth (the baseline of a percent change, the day-1 HNDR contrast)
cannot be compared relatively: every estimate and CI bound is compared within rtol times
max(|expected|, its SE).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest

REF = json.loads(
    (Path(__file__).resolve().parents[1] / "reference" / "demo_report.json").read_text()
)
MODELS: dict = REF["models"]
OUTCOMES = list(MODELS)
NLME_RTOL = 1e-6
EXACT_RTOL = 1e-7
MODEL_P_RTOL = 1e-6
P_RTOL = 1e-9  # Wilcoxon and Welch p-values: closed form / exact, no optimizer
QUANTILE_RTOL = 1e-12
#: An F near 0 (no interaction) has the relative error of its tiny numerator contrast, which
#: the optimizer's stop magnifies by SE / |contrast| (uws_sodium: F = 0.0035, 2.4e-7 relative,
#: 8e-10 absolute): F is compared within rtol * max(|F|, F_SCALE).
F_SCALE = 0.1

TABLE3_VALUES = [
    "baseline_lsmean",
    "baseline_se",
    "followup_lsmean",
    "followup_se",
    "difference",
    "ci_lower",
    "ci_upper",
    "p_value",
]


def close(actual: float, expected: float, rtol: float, scale: float = 0.0, what: str = ""):
    """|actual - expected| <= rtol * max(|expected|, scale)."""
    tol = rtol * max(abs(expected), scale)
    assert abs(float(actual) - expected) <= tol, (
        f"{what}: xerotrial {float(actual)!r} vs R {expected!r} "
        f"(rel. diff {abs(float(actual) - expected) / max(abs(expected), 1e-300):.3g}, "
        f"rtol {rtol:g})"
    )


def _table(demo_output: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(demo_output / name)


@pytest.fixture(scope="module")
def tables(demo_output: Path) -> dict[str, pd.DataFrame]:
    return {
        name: _table(demo_output, f"tables/{name}.csv")
        for name in (
            "table3",
            "lsmeans",
            "one_month",
            "wilcoxon",
            "cohorts",
            "table1",
            "responders",
        )
    } | {"data_lsmeans": _table(demo_output, "data/lsmeans.csv")}


def test_same_demo_data(demo_output: Path):
    """The reference was made from CRF files identical to those of this demo run."""
    for name, md5 in REF["_meta"]["crf_md5"].items():
        got = hashlib.md5((demo_output / "crf" / name).read_bytes()).hexdigest()
        assert got == md5, (
            f"crf/{name} changed since tests/reference/demo_report.json was "
            "made: rerun validation/demo_report.R (see its header)"
        )


def test_outcome_rows(tables):
    assert len(OUTCOMES) == 22
    assert tables["table3"]["outcome"].tolist() == OUTCOMES
    assert tables["cohorts"]["outcome"].tolist() == OUTCOMES
    assert tables["wilcoxon"]["outcome"].tolist() == [
        o for o in OUTCOMES if not o.endswith("_pct_change")
    ]


def _check_table3(row: pd.Series, ref: dict, rtol: float, what: str):
    assert int(row["n"]) == ref["n"], f"{what}: n"
    for col in TABLE3_VALUES:
        se = ref["followup_se"] if col != "baseline_lsmean" else ref["baseline_se"]
        if col == "p_value":
            close(row[col], ref[col], max(rtol, MODEL_P_RTOL), what=f"{what} p")
        else:
            close(row[col], ref[col], rtol, scale=se, what=f"{what} {col}")


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_table3_vs_nlme(tables, outcome):
    row = tables["table3"].set_index("outcome").loc[outcome]
    _check_table3(row, MODELS[outcome]["table3"], NLME_RTOL, f"{outcome} (nlme)")


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_table3_vs_exact_reml(tables, outcome):
    row = tables["table3"].set_index("outcome").loc[outcome]
    _check_table3(row, MODELS[outcome]["exact"]["table3"], EXACT_RTOL, f"{outcome} (exact)")


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_contrasts_every_visit(tables, outcome):
    """tables/lsmeans.csv: each visit minus day0 (estimate, SE, df, CI, p)."""
    got = tables["lsmeans"][tables["lsmeans"]["outcome"] == outcome].set_index("visit")
    m = MODELS[outcome]
    assert got.index.tolist() == m["visits"][1:]
    for visit, row in got.iterrows():
        for block, rtol in (
            (m["contrasts_vs_day0"], NLME_RTOL),
            (m["exact"]["contrasts_vs_day0"], EXACT_RTOL),
        ):
            ref = block[visit]
            what = f"{outcome} {visit} - day0 ({'nlme' if rtol == NLME_RTOL else 'exact'})"
            assert float(row["df"]) == ref["df"], f"{what}: df"
            for col in ("estimate", "se", "lower", "upper"):
                close(row[col], ref[col], rtol, scale=ref["se"], what=f"{what} {col}")
            close(row["p"], ref["p"], max(rtol, MODEL_P_RTOL), what=f"{what} p")


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_lsmeans_every_visit(tables, outcome):
    """data/lsmeans.csv: LS means by visit; df and CI with the visit term's df (see above)."""
    d = tables["data_lsmeans"]
    got = d[d["PARAMCD"] == outcome].set_index("visit")
    m = MODELS[outcome]
    assert got.index.tolist() == m["visits"]
    for visit, row in got.iterrows():
        nl, ex = m["lsmeans"][visit], m["exact"]["lsmeans"][visit]
        for col in ("estimate", "se"):
            close(row[col], nl[col], NLME_RTOL, scale=nl["se"], what=f"{outcome} {visit} {col}")
        assert float(row["df"]) == ex["df"] == m["df_visit_term"], f"{outcome} {visit}: df"
        for col in ("estimate", "se", "lower", "upper"):
            close(
                row[col],
                ex[col],
                EXACT_RTOL,
                scale=ex["se"],
                what=f"{outcome} {visit} {col} (exact)",
            )
        close(row["p"], ex["p"], MODEL_P_RTOL, what=f"{outcome} {visit} p (exact)")
        close(row["t"], ex["t"], EXACT_RTOL, scale=1.0, what=f"{outcome} {visit} t (exact)")


@pytest.mark.parametrize("outcome", ["uws_ml_min", "sws_ml_min"])
def test_one_month(tables, outcome):
    row = tables["one_month"].set_index("outcome").loc[outcome]
    ref = REF["one_month"][outcome]
    for block, rtol in ((ref, NLME_RTOL), (ref["exact"], EXACT_RTOL)):
        assert float(row["df"]) == block["df"], f"{outcome}: df"
        for col in ("lsmean", "se", "difference", "ci_lower", "ci_upper"):
            close(row[col], block[col], rtol, scale=block["se"], what=f"{outcome} day30 {col}")
        close(row["p_value"], block["p_value"], max(rtol, MODEL_P_RTOL), what=f"{outcome} day30 p")


WILCOXON = [o for o in OUTCOMES if not o.endswith("_pct_change")]


@pytest.mark.parametrize("outcome", WILCOXON)
def test_wilcoxon(tables, outcome):
    row = tables["wilcoxon"].set_index("outcome").loc[outcome]
    ref = REF["wilcoxon"][outcome]
    assert int(row["n_pairs"]) == ref["n_pairs"]
    for col in (
        "baseline_median",
        "baseline_q1",
        "baseline_q3",
        "followup_median",
        "followup_q1",
        "followup_q3",
    ):
        close(row[col], ref[col], QUANTILE_RTOL, what=f"{outcome} {col}")
    assert float(row["V"]) == ref["V"], f"{outcome}: V"
    close(row["p_value"], ref["p_value"], P_RTOL, what=f"{outcome} Wilcoxon p")
    assert row["method"] == ref["method"]


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_cohort_interaction(tables, outcome):
    row = tables["cohorts"].set_index("outcome").loc[outcome]
    ref = REF["cohorts"][outcome]
    for block, rtol in ((ref, NLME_RTOL), (ref["exact"], EXACT_RTOL)):
        assert float(row["num_df"]) == block["num_df"], f"{outcome}: numDF"
        assert float(row["den_df"]) == block["den_df"], f"{outcome}: denDF"
        close(row["F"], block["F"], rtol, F_SCALE, what=f"{outcome} visit:cohort F")
        close(
            row["p_value"],
            block["p_value"],
            max(rtol, MODEL_P_RTOL),
            what=f"{outcome} visit:cohort p",
        )


_T1_LABEL = re.compile(r"^(UWS|SWS) (flow rate|sodium|potassium|chloride|phosphate)\b")
_MEAN_SD = re.compile(r"^(-?\d+(?:\.(\d+))?) \((\d+(?:\.\d+)?)\)(?:, n = (\d+))?$")


def _table1_key(characteristic: str) -> str:
    m = _T1_LABEL.match(characteristic)
    assert m, characteristic
    kind, what = m.group(1).lower(), m.group(2)
    return f"{kind}_ml_min" if what == "flow rate" else f"{kind}_{what}"


def _check_mean_sd(text: str, mean: float, sd: float, n: int, n_group: int, what: str):
    m = _MEAN_SD.match(text)
    assert m, f"{what}: {text!r}"
    half = 0.5 * 10.0 ** -len(m.group(2) or "") + 1e-12
    assert abs(float(m.group(1)) - mean) <= half, f"{what}: mean {text!r} vs R {mean}"
    assert abs(float(m.group(3)) - sd) <= half, f"{what}: SD {text!r} vs R {sd}"
    assert (int(m.group(4)) if m.group(4) else n_group) == n, f"{what}: n in {text!r} vs R {n}"


def test_table1_saliva(tables):
    t1 = tables["table1"]
    groups = REF["table1_groups"]
    n_row = t1[t1["characteristic"] == "Participants"].iloc[0]
    assert (int(n_row["patients"]), int(n_row["controls"])) == (
        groups["patients"],
        groups["controls"],
    )
    saliva = t1[t1["section"] == "Saliva at baseline"]
    assert sorted(_table1_key(c) for c in saliva["characteristic"]) == sorted(REF["table1"])
    for _, row in saliva.iterrows():
        key = _table1_key(row["characteristic"])
        ref = REF["table1"][key]
        close(row["p_value"], ref["p_value"], P_RTOL, what=f"{key} Welch p")
        for g in ("patients", "controls"):
            _check_mean_sd(
                row[g], ref[f"{g}_mean"], ref[f"{g}_sd"], ref[f"{g}_n"], groups[g], f"{key} {g}"
            )


@pytest.mark.parametrize("outcome", ["uws_ml_min", "sws_ml_min"])
def test_responders(tables, outcome):
    row = tables["responders"].set_index("outcome").loc[outcome]
    ref = REF["responders"][outcome]
    assert int(row["n"]) == ref["n"]
    assert int(row["responders"]) == ref["responders"]
    assert row["subjects"].split(", ") == ref["subjects"]
    assert float(row["proportion"]) == ref["responders"] / ref["n"]
