"""Side-by-side timings of xerotrial's REML engine against R (lme4, emmeans, lmerTest, glmmTMB,
nlme) and statsmodels, in one run.

    .venv/bin/python benchmarks/run.py [--quick] [--json OUT] [--no-r]

Cases
-----
1. ``trial-10`` / ``trial-12``: the seed trial's full analysis (subjects x 5 visits day0, day1,
   day5, day30, day120, 3 missing values): random intercept, REML fit + Kenward-Roger LS means
   per visit + each visit minus day0. xerotrial vs lme4 + emmeans and vs lmerTest; statsmodels
   MixedLM (no Kenward-Roger, no LS means) and lme4 are timed for the fit only.
2. ``mmrm-large``: unstructured MMRM, 2,000 subjects x 6 visits (~10% monotone dropout),
   ``y ~ arm * visit``: xerotrial ``covariance="un"`` vs glmmTMB ``us()`` and nlme::gls
   ``corSymm`` + ``varIdent``; fixed effects are compared to nlme's.
3. ``ri-mid``: random intercept, 200 subjects x 5 visits, fit only: xerotrial vs statsmodels
   MixedLM vs lme4.

Every timing is the median of repeated runs after one warm-up run. Python uses
``time.perf_counter``; R is timed inside R (``system.time`` in a loop), so R's start-up and
package loading are excluded. Data go to R as CSV files in a temporary directory. Ratios are
(other tool's time) / (xerotrial's time for the same work): above 1 means xerotrial is faster.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import inspect
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from xerotrial.stats.model import fit

TRIAL_VISITS = ["day0", "day1", "day5", "day30", "day120"]
MMRM_VISITS = [f"v{k}" for k in range(1, 7)]
MID_VISITS = [f"t{k}" for k in range(1, 6)]

# (the numbers the project set itself; a goal is met when the ratio is at least this)
GOALS = [
    ("trial-10", "lme4+emmeans", "full", 30.0),
    ("mmrm-large", "glmmTMB", "fit", 10.0),
    ("mmrm-large", "nlme::gls", "fit", 30.0),
]


# ----------------------------------------------------------------------------- settings


@dataclass
class Settings:
    quick: bool
    trial_reps: int
    trial_budget_s: float
    mid_subjects: int
    mid_reps: int
    mid_budget_s: float
    mmrm_subjects: int
    mmrm_py_reps: int
    mmrm_py_budget_s: float
    mmrm_r_reps: int
    mmrm_r_budget_s: float
    mmrm_warmup_subjects: int
    mmrm_r_min_reps: int
    r_min_sample_s: float = 0.1

    @classmethod
    def make(cls, quick: bool) -> Settings:
        if quick:
            return cls(
                quick=True,
                trial_reps=5,
                trial_budget_s=0.5,
                mid_subjects=200,
                mid_reps=3,
                mid_budget_s=0.5,
                mmrm_subjects=120,  # a small MMRM: nlme::gls needs ~30 s for 2,000 subjects
                mmrm_py_reps=3,
                mmrm_py_budget_s=1.0,
                mmrm_r_reps=1,
                mmrm_r_budget_s=1.0,
                mmrm_warmup_subjects=30,
                mmrm_r_min_reps=1,
            )
        return cls(
            quick=False,
            trial_reps=20,
            trial_budget_s=5.0,
            mid_subjects=200,
            mid_reps=10,
            mid_budget_s=5.0,
            mmrm_subjects=2000,
            mmrm_py_reps=10,
            mmrm_py_budget_s=10.0,
            mmrm_r_reps=3,
            mmrm_r_budget_s=60.0,
            mmrm_warmup_subjects=100,
            mmrm_r_min_reps=2,
        )


# ----------------------------------------------------------------------------- data


def trial_data(n_subjects: int, n_missing: int = 3, seed: int = 20260501) -> pd.DataFrame:
    """Unstimulated whole saliva (ml/min) at 5 visits; random intercept + noise; seeded."""
    rng = np.random.default_rng(seed + n_subjects)
    means = np.array([0.127, 0.124, 0.139, 0.155, 0.176])
    ids = [f"P{i + 1:02d}" for i in range(n_subjects)]
    b = rng.normal(0.0, 0.05, n_subjects)
    y = means[None, :] + b[:, None] + rng.normal(0.0, 0.022, (n_subjects, len(means)))
    frame = pd.DataFrame(
        {
            "id": np.repeat(ids, len(TRIAL_VISITS)),
            "visit": np.tile(TRIAL_VISITS, n_subjects),
            "y": np.round(y.ravel(), 4),
        }
    )
    # missing values in different subjects, never at baseline
    who = rng.choice(n_subjects, size=n_missing, replace=False)
    when = rng.integers(1, len(TRIAL_VISITS), size=n_missing)
    for s, v in zip(who, when, strict=True):
        frame.loc[s * len(TRIAL_VISITS) + v, "y"] = np.nan
    return frame


def mmrm_data(n_subjects: int, seed: int = 20260502) -> pd.DataFrame:
    """Correlated normal with a known unstructured covariance; ~10% monotone dropout."""
    rng = np.random.default_rng(seed)
    t = len(MMRM_VISITS)
    idx = np.arange(t)
    sd = np.array([2.0, 2.2, 2.5, 2.8, 3.0, 3.3])
    corr = 0.75 ** (np.abs(idx[:, None] - idx[None, :]) ** 0.7)
    cov = corr * np.outer(sd, sd)
    arm = rng.integers(0, 2, n_subjects)
    mu = 10.0 + 0.5 * idx[None, :] + 0.4 * idx[None, :] * arm[:, None]
    y = mu + rng.multivariate_normal(np.zeros(t), cov, size=n_subjects)
    last = np.full(n_subjects, t)  # visits kept: 0 .. last-1
    drop = rng.random(n_subjects) < 0.10
    last[drop] = rng.integers(1, t, drop.sum())
    sid = np.repeat(np.arange(n_subjects), t)
    vis = np.tile(idx, n_subjects)
    frame = pd.DataFrame(
        {
            "id": [f"S{s + 1:04d}" for s in sid],
            "arm": np.where(arm[sid] == 1, "B", "A"),
            "visit": np.array(MMRM_VISITS)[vis],
            "vnum": vis + 1,
            "y": y.ravel(),
        }
    )
    return frame[vis < last[sid]].reset_index(drop=True)


def mid_data(n_subjects: int, seed: int = 20260503) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = len(MID_VISITS)
    sid = np.repeat(np.arange(n_subjects), t)
    vis = np.tile(np.arange(t), n_subjects)
    y = 5.0 + 0.3 * vis + rng.normal(0.0, 1.8, n_subjects)[sid] + rng.normal(0.0, 1.0, len(sid))
    return pd.DataFrame(
        {
            "id": [f"M{s + 1:03d}" for s in sid],
            "visit": np.array(MID_VISITS)[vis],
            "y": y,
        }
    )


# ----------------------------------------------------------------------------- timing


@dataclass
class Timing:
    case: str
    tool: str
    work: str  # "full" (fit + KR LS means + contrasts), "fit", "fit+KR"
    language: str
    times_s: list[float]
    inner: int = 1
    note: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    @property
    def min_s(self) -> float:
        return min(self.times_s)


def bench_py(fn: Callable[[], object], reps: int, budget_s: float) -> tuple[list[float], object]:
    """Warm up once, then time ``fn`` up to ``reps`` times (stopping early past the budget)."""
    out = fn()
    times: list[float] = []
    gc.collect()  # once, as in R
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        times.append(dt)
        if len(times) >= reps or (time.perf_counter() - start) + dt > budget_s:
            break
    return times, out


def _quiet(fn: Callable[[], object], sink: list[str]) -> Callable[[], object]:
    def wrapped():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = fn()
        for w in caught:
            msg = f"{w.category.__name__}: {w.message}"
            if msg not in sink:
                sink.append(msg)
        return out

    return wrapped


# ----------------------------------------------------------------------------- Python side


def xerotrial_trial(df: pd.DataFrame, **options):
    res = fit(
        df,
        "y ~ visit",
        subject="id",
        time="visit",
        covariance="random-intercept",
        time_order=TRIAL_VISITS,
        method="REML",
        **options,
    )
    ls = res.lsmeans("visit", df_method="kenward-roger")
    ct = res.contrasts_vs_reference("visit", "day0", df_method="kenward-roger")
    return res, ls, ct


def _trial_summary(res, ls: pd.DataFrame, ct: pd.DataFrame) -> dict:
    return {
        "neg2_reml": res.neg2_loglik,
        "theta": np.asarray(res.theta).tolist(),
        "lsmeans": ls[["visit", "estimate", "se", "df"]].to_dict(orient="list"),
        "contrasts": ct[["contrast", "estimate", "se", "df"]].to_dict(orient="list"),
    }


def xerotrial_ri_fit(df: pd.DataFrame, order: list[str]):
    return fit(
        df,
        "y ~ visit",
        subject="id",
        time="visit",
        covariance="random-intercept",
        time_order=order,
        method="REML",
    )


def xerotrial_mmrm_fit(df: pd.DataFrame):
    return fit(
        df,
        "y ~ arm * visit",
        subject="id",
        time="visit",
        covariance="un",
        time_order=MMRM_VISITS,
        method="REML",
    )


def last_visit_arm_contrast(res) -> np.ndarray:
    """L for arm B - arm A at the last visit (treatment coding)."""
    names = res.design.column_names
    L = np.zeros((1, len(names)))
    last = MMRM_VISITS[-1]
    for j, name in enumerate(names):
        if name in ("arm[T.B]", f"arm[T.B]:visit[T.{last}]"):
            L[0, j] = 1.0
    if L.sum() != 2:
        raise RuntimeError(f"unexpected fixed-effect names {names}")
    return L


def xerotrial_mmrm_fit_kr(df: pd.DataFrame):
    res = xerotrial_mmrm_fit(df)
    test = res.test(last_visit_arm_contrast(res), df_method="kenward-roger")
    return res, test


def statsmodels_fit(df: pd.DataFrame):
    import statsmodels.formula.api as smf

    return smf.mixedlm("y ~ visit", df, groups=df["id"]).fit(reml=True)


def _sm_frame(df: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    out = df.dropna(subset=["y"]).reset_index(drop=True)
    out["visit"] = pd.Categorical(out["visit"], categories=order)
    return out


def run_python(s: Settings, data: dict[str, pd.DataFrame], log) -> tuple[list[Timing], dict]:
    timings: list[Timing] = []
    extra: dict = {}
    have_sm = _version("statsmodels") is not None

    for case in ("trial-10", "trial-12"):
        df = data[case]
        log(f"  {case}: xerotrial")
        w: list[str] = []
        times, out = bench_py(
            _quiet(lambda df=df: xerotrial_trial(df), w), s.trial_reps, s.trial_budget_s
        )
        timings.append(Timing(case, "xerotrial", "full", "Python", times, warnings=w))
        res, ls, ct = out
        extra[case] = {"xerotrial": _trial_summary(res, ls, ct)}
        if "kr_information" in inspect.signature(fit).parameters:
            # pbkrtest (behind emmeans and lmerTest) uses the expected information in the KR
            # adjustment, xerotrial's default the observed one (SAS): one untimed run with
            # pbkrtest's choice, for the agreement check only
            extra[case]["xerotrial_expected"] = _trial_summary(
                *xerotrial_trial(df, kr_information="expected")
            )
        w = []
        times, _ = bench_py(
            _quiet(lambda df=df: xerotrial_ri_fit(df, TRIAL_VISITS), w),
            s.trial_reps,
            s.trial_budget_s,
        )
        timings.append(Timing(case, "xerotrial", "fit", "Python", times, warnings=w))
        if have_sm:
            log(f"  {case}: statsmodels")
            smdf = _sm_frame(df, TRIAL_VISITS)
            w = []
            times, m = bench_py(
                _quiet(lambda smdf=smdf: statsmodels_fit(smdf), w), s.trial_reps, s.trial_budget_s
            )
            timings.append(
                Timing(
                    case,
                    "statsmodels MixedLM",
                    "fit",
                    "Python",
                    times,
                    note="fit only: MixedLM has no Kenward-Roger df and no LS means",
                    warnings=w,
                )
            )
            extra[case]["statsmodels_beta"] = np.asarray(m.fe_params).tolist()

    case = "mmrm-large"
    df = data[case]
    log(f"  {case}: xerotrial ({df['id'].nunique()} subjects, {len(df)} rows)")
    w = []
    times, res = bench_py(
        _quiet(lambda: xerotrial_mmrm_fit(df), w), s.mmrm_py_reps, s.mmrm_py_budget_s
    )
    timings.append(Timing(case, "xerotrial", "fit", "Python", times, warnings=w))
    w = []
    times, (res_kr, test) = bench_py(
        _quiet(lambda: xerotrial_mmrm_fit_kr(df), w), s.mmrm_py_reps, s.mmrm_py_budget_s
    )
    timings.append(
        Timing(
            case,
            "xerotrial",
            "fit+KR",
            "Python",
            times,
            note="fit + one Kenward-Roger test (arm B - A at the last visit)",
            warnings=w,
        )
    )
    extra[case] = {
        "xerotrial": {
            "neg2_reml": res.neg2_loglik,
            "iterations": getattr(getattr(res, "opt", None), "iterations", None),
            "converged": bool(res.converged),
            "n_patterns": res.engine.n_patterns,
            "beta": dict(
                zip(map(_norm_name, res.design.column_names), res.beta.tolist(), strict=True)
            ),
            "kr_last_visit": {
                "estimate": float(test.estimate[0]),
                "se": float(test.se[0]),
                "df": float(test.den_df),
                "p": float(test.p_value),
            },
        },
        "statsmodels": "not applicable: MixedLM has no R-side (residual) covariance structures, "
        "so it cannot fit an unstructured MMRM",
    }

    case = "ri-mid"
    df = data[case]
    log(f"  {case}: xerotrial")
    w = []
    times, res = bench_py(
        _quiet(lambda: xerotrial_ri_fit(df, MID_VISITS), w), s.mid_reps, s.mid_budget_s
    )
    timings.append(Timing(case, "xerotrial", "fit", "Python", times, warnings=w))
    extra[case] = {
        "xerotrial": {
            "neg2_reml": res.neg2_loglik,
            "theta": res.theta.tolist(),
            "beta": dict(
                zip(map(_norm_name, res.design.column_names), res.beta.tolist(), strict=True)
            ),
        }
    }
    if have_sm:
        log(f"  {case}: statsmodels")
        smdf = _sm_frame(df, MID_VISITS)
        w = []
        times, m = bench_py(_quiet(lambda: statsmodels_fit(smdf), w), s.mid_reps, s.mid_budget_s)
        timings.append(Timing(case, "statsmodels MixedLM", "fit", "Python", times, warnings=w))
        extra[case]["statsmodels"] = {
            "beta": np.asarray(m.fe_params).tolist(),
            "theta": [float(np.asarray(m.cov_re)[0, 0]), float(m.scale)],
        }
    return timings, extra


def _norm_name(name: str) -> str:
    """'arm[T.B]:visit[T.v2]' and R's 'armB:visitv2' both become 'armB:visitv2'."""
    return name.replace("[T.", "").replace("]", "").replace("(Intercept)", "Intercept")


# ----------------------------------------------------------------------------- R side

#: The R program (lme4, emmeans, lmerTest, glmmTMB, nlme), run after a generated settings header.
R_BODY = Path(__file__).with_name("run_peers.R")


def run_r(s: Settings, data: dict[str, pd.DataFrame], rscript: str, log):
    """Run the generated R script once; return (timings, estimates, info, skips, error)."""
    with tempfile.TemporaryDirectory(prefix="xerotrial-bench-") as tmp:
        for name, df in data.items():
            df.to_csv(Path(tmp, f"{name}.csv"), index=False)
        header = "\n".join(
            [
                f'cfg_dir <- "{Path(tmp).as_posix()}"',
                f"cfg_min_sample <- {s.r_min_sample_s}",
                f"cfg_trial_reps <- {s.trial_reps}",
                f"cfg_trial_budget <- {s.trial_budget_s}",
                f"cfg_mid_reps <- {s.mid_reps}",
                f"cfg_mid_budget <- {s.mid_budget_s}",
                f"cfg_mmrm_reps <- {s.mmrm_r_reps}",
                f"cfg_mmrm_budget <- {s.mmrm_r_budget_s}",
                f"cfg_mmrm_min_reps <- {s.mmrm_r_min_reps}",
                f"cfg_mmrm_warm_n <- {s.mmrm_warmup_subjects}",
            ]
        )
        script = Path(tmp, "bench.R")
        script.write_text(header + "\n" + R_BODY.read_text(encoding="utf-8"))
        log(f"  Rscript {script.name} (R timings are measured inside R)")
        proc = subprocess.run(
            [rscript, "--vanilla", str(script)], capture_output=True, text=True, check=False
        )
        results = Path(tmp, "results.tsv")
        lines = results.read_text().splitlines() if results.exists() else []
        error = None
        if proc.returncode != 0:
            error = f"Rscript exited with {proc.returncode}: {proc.stderr.strip()[-2000:]}"
    timings: list[Timing] = []
    estimates: dict = {}
    info: dict[str, str] = {}
    skips: list[dict] = []
    for line in lines:
        parts = line.split("\t")
        kind = parts[0]
        if kind == "info":
            info[parts[1]] = parts[2]
        elif kind == "time":
            case, tool, work, inner, times = parts[1:6]
            note = parts[6] if len(parts) > 6 else ""
            timings.append(
                Timing(
                    case, tool, work, "R", [float(x) for x in times.split(",")], int(inner), note
                )
            )
        elif kind == "warn":
            case, tool, work, msg = parts[1:5]
            for t in timings:
                if (t.case, t.tool, t.work) == (case, tool, work):
                    t.warnings.append(msg)
        elif kind == "est":
            case, tool, what, name, value = parts[1:6]
            estimates.setdefault(case, {}).setdefault(tool, {}).setdefault(what, {})[name] = float(
                value
            )
        elif kind == "skip":
            skips.append({"case": parts[1], "tool": parts[2], "why": parts[3]})
    return timings, estimates, info, skips, error


# ----------------------------------------------------------------------------- checks


def _maxdiff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))))


def _trial_agreement(x: dict, r: dict, tag: str) -> dict:
    """xerotrial's trial analysis vs emmeans / lmerTest / lme4 (``tag`` prefixes the keys)."""
    c: dict = {}
    ls, ct = x["lsmeans"], x["contrasts"]
    emm = r.get("lme4+emmeans")
    if emm:
        for what, col, key in (
            ("estimate", "estimate", "est"),
            ("se", "se", "se"),
            ("df", "df", "df"),
        ):
            c[f"{tag}emmeans_lsmeans_{what}"] = _maxdiff(
                ls[col], [emm[f"ls_{key}"][v] for v in ls["visit"]]
            )
            c[f"{tag}emmeans_contrasts_{what}"] = _maxdiff(
                ct[col], [emm[f"ct_{key}"][k] for k in ct["contrast"]]
            )
    lt = r.get("lmerTest")
    if lt:
        c[f"{tag}lmerTest_lsmeans_df"] = _maxdiff(ls["df"], [lt["ls_df"][v] for v in ls["visit"]])
        c[f"{tag}lmerTest_contrasts_df"] = _maxdiff(
            ct["df"], [lt["ct_df"][k.split(" - ")[0]] for k in ct["contrast"]]
        )
    lme = r.get("lme4")
    if lme and not tag:
        c["lme4_neg2_reml_diff"] = x["neg2_reml"] - lme["neg2_reml"][""]
    return c


def agreement(py_extra: dict, r_est: dict) -> dict:
    """How far the other tools' estimates are from xerotrial's (so the timings compare like
    with like)."""
    out: dict = {}
    for case in ("trial-10", "trial-12"):
        c: dict = {}
        for key, tag in (("xerotrial", ""), ("xerotrial_expected", "expinfo_")):
            x = py_extra.get(case, {}).get(key)
            if x:
                c.update(_trial_agreement(x, r_est.get(case, {}), tag))
        if c:
            out[case] = c
    x = py_extra.get("mmrm-large", {}).get("xerotrial")
    if x:
        c = {}
        for tool in ("nlme::gls", "glmmTMB"):
            e = r_est.get("mmrm-large", {}).get(tool)
            if e:
                names = sorted(x["beta"])
                other = {_norm_name(k): v for k, v in e["beta"].items()}
                c[f"{tool}_fixed_max_abs_diff"] = _maxdiff(
                    [x["beta"][k] for k in names], [other[k] for k in names]
                )
                c[f"{tool}_neg2_reml_diff"] = x["neg2_reml"] - e["neg2_reml"][""]
        out["mmrm-large"] = c
    x = py_extra.get("ri-mid", {}).get("xerotrial")
    if x:
        c = {}
        names = list(x["beta"])
        sm = py_extra["ri-mid"].get("statsmodels")
        if sm:
            c["statsmodels_fixed_max_abs_diff"] = _maxdiff(
                [x["beta"][k] for k in names], sm["beta"]
            )
            c["statsmodels_theta_max_abs_diff"] = _maxdiff(x["theta"], sm["theta"])
        e = r_est.get("ri-mid", {}).get("lme4")
        if e:
            other = {_norm_name(k): v for k, v in e["beta"].items()}
            c["lme4_fixed_max_abs_diff"] = _maxdiff(
                [x["beta"][k] for k in names], [other[k] for k in names]
            )
            c["lme4_neg2_reml_diff"] = x["neg2_reml"] - e["neg2_reml"][""]
        out["ri-mid"] = c
    return out


# ----------------------------------------------------------------------------- reporting


def machine_info() -> dict:
    info: dict = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    try:
        info["cpu_model"] = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        info["cpu_model"] = platform.processor() or "unknown"
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    thread_vars = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    info["thread_env"] = {k: os.environ[k] for k in thread_vars if k in os.environ}
    try:
        from threadpoolctl import threadpool_info  # optional; not a dependency

        info["numpy_blas"] = [
            {k: p.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer")}
            for p in threadpool_info()
        ]
        info["numpy_blas_source"] = "threadpoolctl"
    except ImportError:
        info["numpy_blas_source"] = "threadpoolctl not installed: numpy build config instead"
        try:
            cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            info["numpy_blas"] = [{"name": cfg.get("name"), "version": cfg.get("version")}]
        except Exception:  # best effort only
            info["numpy_blas"] = []
    return info


def _loadavg() -> float | None:
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def python_versions() -> dict[str, str]:
    dists = ["xerotrial", "numpy", "scipy", "pandas", "formulaic", "statsmodels"]
    return {d: (_version(d) or "not installed") for d in dists}


def ratio_for(t: Timing, by_key: dict) -> tuple[float | None, str]:
    """Other tool's median / xerotrial's median for the same work (fit vs fit, full vs full)."""
    if t.tool == "xerotrial":
        return None, ""
    ref = by_key.get((t.case, "xerotrial", t.work))
    if ref is None:
        return None, ""
    return t.median_s / ref.median_s, t.work


def fmt_ms(x: float) -> str:
    ms = x * 1e3
    if ms >= 1000:
        return f"{ms:,.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.2f}"


CASE_TITLES = {
    "trial-10": "trial analysis, 10 subjects x 5 visits, 3 missing (random intercept)",
    "trial-12": "trial analysis, 12 subjects x 5 visits, 3 missing (random intercept)",
    "mmrm-large": "unstructured MMRM, y ~ arm * visit",
    "ri-mid": "random intercept, fit only",
}


def print_table(timings: list[Timing], data: dict[str, pd.DataFrame]) -> list[dict]:
    by_key = {(t.case, t.tool, t.work): t for t in timings}
    rows = []
    for case in CASE_TITLES:
        case_t = [t for t in timings if t.case == case]
        if not case_t:
            continue
        df = data[case]
        n_s, n_r = df["id"].nunique(), int(df["y"].notna().sum())
        print(f"\n{case}: {CASE_TITLES[case]} [{n_s} subjects, {n_r} observations]")
        print(
            f"  {'tool':<22}{'timed work':<40}{'median ms':>11}{'min ms':>10}{'n':>7}{'ratio':>9}"
        )
        for t in case_t:
            ratio, _ = ratio_for(t, by_key)
            work = {
                "full": "fit + KR LS means + KR contrasts",
                "fit": "fit only",
                "fit+KR": "fit + 1 KR contrast (last visit)",
            }[t.work]
            r = "" if ratio is None else f"{ratio:8.1f}x"
            n = f"{len(t.times_s)}" + ("" if t.inner == 1 else f"x{t.inner}")
            print(
                f"  {t.tool:<22}{work:<40}{fmt_ms(t.median_s):>11}{fmt_ms(t.min_s):>10}{n:>7}{r:>9}"
            )
            rows.append(
                {
                    "case": case,
                    "tool": t.tool,
                    "language": t.language,
                    "work": t.work,
                    "median_s": t.median_s,
                    "min_s": t.min_s,
                    "n": len(t.times_s),
                    "inner": t.inner,
                    "times_s": t.times_s,
                    "ratio_vs_xerotrial": ratio,
                    "note": t.note,
                    "warnings": t.warnings,
                }
            )
        for t in case_t:
            for w in t.warnings:
                print(f"    ! {t.tool} ({t.work}): {w[:150]}")
    return rows


def goal_report(timings: list[Timing], s: Settings) -> list[dict]:
    by_key = {(t.case, t.tool, t.work): t for t in timings}
    out = []
    for case, tool, work, target in GOALS:
        t = by_key.get((case, tool, work))
        ratio = ratio_for(t, by_key)[0] if t else None
        status: str
        if ratio is None:
            status = "not measured"
        elif s.quick and case == "mmrm-large":
            status = "not evaluated (--quick uses a smaller MMRM)"
        else:
            status = "MET" if ratio >= target else "NOT MET"
        out.append(
            {
                "case": case,
                "tool": tool,
                "work": work,
                "target_ratio": target,
                "ratio": ratio,
                "status": status,
            }
        )
    return out


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, a smaller MMRM (<30 s)")
    ap.add_argument("--json", metavar="OUT", help="write every number to this JSON file")
    ap.add_argument("--no-r", action="store_true", help="skip the R columns")
    args = ap.parse_args(argv)
    s = Settings.make(args.quick)
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    data = {
        "trial-10": trial_data(10),
        "trial-12": trial_data(12),
        "mmrm-large": mmrm_data(s.mmrm_subjects),
        "ri-mid": mid_data(s.mid_subjects),
    }
    machine = machine_info()
    machine["load_average_start"] = _loadavg()
    versions = {"python": python_versions(), "R": {}}

    log("Python timings")
    timings, py_extra = run_python(s, data, log)
    log(f"  ({time.perf_counter() - t_start:.0f} s so far)")

    rscript = shutil.which("Rscript")
    r_est: dict = {}
    r_note = ""
    skips: list[dict] = []
    if args.no_r:
        r_note = "R columns skipped (--no-r)"
    elif rscript is None:
        r_note = "R columns skipped: Rscript is not on PATH"
    else:
        log("R timings")
        r_t, r_est, r_info, skips, err = run_r(s, data, rscript, log)
        log(f"  ({time.perf_counter() - t_start:.0f} s so far)")
        timings += r_t
        versions["R"] = {k: v for k, v in r_info.items() if not k.startswith("R_")}
        machine["R_BLAS"] = r_info.get("R_BLAS")
        machine["R_LAPACK"] = r_info.get("R_LAPACK")
        if err:
            r_note = f"R run failed, R columns incomplete: {err}"
    machine["load_average_end"] = _loadavg()
    order = {c: i for i, c in enumerate(CASE_TITLES)}
    timings.sort(key=lambda t: (order[t.case], t.tool != "xerotrial"))

    print("xerotrial benchmark" + (" (--quick)" if s.quick else ""))
    cpus = machine.get("cpus_usable", machine["cpu_count"])
    print(
        f"machine: {machine['cpu_model']}, {machine['cpu_count']} CPUs ({cpus} usable), "
        f"{machine['platform']}"
    )
    blas = ", ".join(
        " ".join(str(v) for v in b.values() if v is not None) for b in machine["numpy_blas"]
    )
    print(f"numpy BLAS: {blas or 'unknown'} ({machine['numpy_blas_source']})")
    if machine.get("R_BLAS"):
        print(f"R BLAS: {machine['R_BLAS']}; LAPACK: {machine['R_LAPACK']}")
    la0, la1 = machine["load_average_start"], machine["load_average_end"]
    if la0 is not None and la1 is not None:
        # the benchmark itself adds about 1 to the load average at the end
        busy = la0 > 0.5 * (cpus or 1) or la1 > 1.0 + 0.5 * (cpus or 1)
        print(
            f"load average (1 min) before/after: {la0:.2f} / {la1:.2f} (this run adds ~1)"
            + ("  ! other work was running: timings may be noisy" if busy else "")
        )
    if machine["thread_env"]:
        print(f"thread settings: {machine['thread_env']}")
    print(
        "versions: Python "
        + machine["python"]
        + ", "
        + ", ".join(f"{k} {v}" for k, v in versions["python"].items())
    )
    if versions["R"]:
        print(
            "          "
            + ", ".join(v if k == "R" else f"{k} {v}" for k, v in versions["R"].items())
        )
    print(
        "times: median of repeated runs after one warm-up; 'n' = samples (xK: each sample is K "
        "calls, averaged); ratio = tool median / xerotrial median for the same work"
    )
    if r_note:
        print(f"NOTE: {r_note}")
    for sk in skips:
        print(f"NOTE: {sk['case']} {sk['tool']} skipped: {sk['why']}")

    rows = print_table(timings, data)
    print("\nnotes:")
    print(
        "  statsmodels MixedLM has no Kenward-Roger df and no LS means: timed for the fit "
        "only (trial, ri-mid)."
    )
    print(
        "  statsmodels is not applicable to mmrm-large: MixedLM has no R-side (residual) "
        "covariance structure, so no unstructured MMRM."
    )
    print(
        "  glmmTMB and nlme have no Kenward-Roger: their fit is compared with xerotrial's fit; "
        "the fit+KR row is xerotrial's extra cost."
    )
    if any(t.language == "R" and t.case == "mmrm-large" for t in timings):
        print(
            f"  R MMRM fits were warmed up on the first {s.mmrm_warmup_subjects} subjects "
            "(a full-size warm-up would double their run time)."
        )
    print(
        "  emmeans contrasts use adjust='none' (the p values xerotrial reports); lmerTest "
        "uses ls_means + contest(joint=FALSE), both ddf='Kenward-Roger'."
    )

    checks = agreement(py_extra, r_est)
    print("\nagreement with xerotrial (max |difference|; *_neg2_reml_diff: xerotrial - other):")
    if any(k.startswith("expinfo_") for c in checks.values() for k in c):
        print("  (KR df: xerotrial's default uses the observed information, as SAS does; pbkrtest,")
        print("   behind emmeans and lmerTest, the expected one. expinfo_* rows: xerotrial with")
        print("   kr_information='expected', computed once outside the timings.)")
    for case, c in checks.items():
        for k, v in c.items():
            print(f"  {case:<11}{k:<46}{v: .3g}")
    x = py_extra.get("mmrm-large", {}).get("xerotrial")
    if x:
        kr = x["kr_last_visit"]
        print(
            f"  mmrm-large xerotrial: {x['iterations']} iterations, converged={x['converged']}, "
            f"{x['n_patterns']} missingness patterns; KR arm B - A at {MMRM_VISITS[-1]}: "
            f"{kr['estimate']:.4f} (SE {kr['se']:.4f}, df {kr['df']:.1f})"
        )

    goals = goal_report(timings, s)
    print("\nproject goals (ratio = tool time / xerotrial time):")
    for g in goals:
        r = "n/a" if g["ratio"] is None else f"{g['ratio']:.1f}x"
        print(
            f"  {g['case']:<11}{g['tool']:<14}{g['work']:<5} target >= {g['target_ratio']:.0f}x"
            f"  measured {r:<8} {g['status']}"
        )
    total = time.perf_counter() - t_start
    print(f"\ntotal wall time {total:.0f} s")

    if args.json:
        payload = {
            "settings": asdict(s),
            "machine": machine,
            "versions": versions,
            "note": r_note,
            "skipped": skips,
            "timings": rows,
            "agreement": checks,
            "extra": py_extra,
            "r_estimates": r_est,
            "goals": goals,
            "total_wall_s": total,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, default=_jsonable))
        log(f"wrote {args.json}")
    return 0


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
