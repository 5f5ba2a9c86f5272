"""``python -m demo_calibration.phase2 [--check]``: the phase II demo's case report forms.

Invents 120 subjects of MESRIX-III (1:1 by the concealed list that ``xerotrial.demo.phase2``
makes with ``LIST_SEED``, so each subject's outcomes follow the arm the store will give it)
and calibrates their forms until xerotrial's own analysis of them (``analysis.plan``'s
endpoint models on the BDS the derivations make) prints the published 4-month results at
their printed precision (``TARGETS``), with no significant difference between the arms at
month 4. Writes ``src/xerotrial/data/studies/phase2/records.csv`` (``--check``: compares).

* UWS: baselines lognormal (median 0.085 mL/min); the month-4 change of subject i is
  mu_arm + g_arm z_i + s e_i with z_i the centred 1 / baseline (what moves the percentage
  change) and e_i fixed normal noise; (mu, g) per arm and a common s are solved by least
  squares so that the LS means of the change (and their 95% CI) and of the percentage change
  sit at the middle of the printed windows; flows are then cup weights to 0.01 g over 10 min.
* The questionnaires (one QLQ-H&N35 item for dry mouth and one for sticky saliva, four for
  swallowing; the eight XQ items) are whole numbers: answers follow a latent severity, then a
  greedy search moves single answers (at month 4 or at baseline) until each arm's LS mean of
  the change prints the published value.
* Month 12 follows month 4 at about half the effect; it is not calibrated. One subject per
  arm misses month 4 and month 12, one more misses month 12 (117 of 120 assessed, as
  published); each of them has an intercurrent event (discontinuation) at the first visit
  missed, and two subjects per arm start rescue medication before month 12 (the estimand's
  events; they change no calibrated number).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from xerotrial.analysis.plan import run_endpoint  # noqa: E402
from xerotrial.demo.phase2 import LIST_SEED  # noqa: E402
from xerotrial.randomize.blocks import block_list  # noqa: E402
from xerotrial.randomize.design import load_design  # noqa: E402
from xerotrial.study.plan import Endpoint  # noqa: E402
from xerotrial.trial.questionnaires import score_qlq_hn35, score_xq  # noqa: E402

FOLDER = ROOT / "src" / "xerotrial" / "data" / "studies" / "phase2"
STUDY = FOLDER / "study.toml"
RECORDS = FOLDER / "records.csv"
SEED = 20240515
N = 120
ARMS = ("atmsc", "placebo")
VISITS = ("baseline", "month_4", "month_12")
FOLLOW = ("month_4", "month_12")

#: Month 4, per endpoint (name, response) and arm: the published value and its decimals.
TARGETS = {
    ("UWS", "CHG"): {"atmsc": (0.04, 0.02, 0.06), "placebo": (0.01, -0.01, 0.04)},
    ("UWSPCT", "PCHG"): {"atmsc": (38.0,), "placebo": (21.0,)},
    ("HNDR", "CHG"): {"atmsc": (-13.6,), "placebo": (-7.7,)},
    ("HNSS", "CHG"): {"atmsc": (-14.8,), "placebo": (-9.3,)},
    ("HNSW", "CHG"): {"atmsc": (-7.9,), "placebo": (-8.0,)},
    ("XQ", "CHG"): {"atmsc": (-5.9,), "placebo": (-5.1,)},
}
DECIMALS = {"UWS": 2, "UWSPCT": 0, "HNDR": 1, "HNSS": 1, "HNSW": 1, "XQ": 1}
#: HN35 items of each scale (questionnaires.HN35_SCALES).
ITEMS = {"HNDR": ("hn41",), "HNSS": ("hn42",), "HNSW": ("hn35", "hn36", "hn37", "hn38")}


def printed(x: float, decimals: int) -> str:
    """A number as a table prints it (fixed decimals; -0 as 0)."""
    s = f"{x:.{decimals}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


# ----------------------------------------------------------------------------- subjects


@dataclass
class Trial:
    ids: list[str]
    arm: np.ndarray  # (N,) 0 atmsc, 1 placebo
    seen: np.ndarray  # (N, 3) visit attended
    enrol: list[dict]
    uws: np.ndarray  # (N, 3) mL/min
    sws: np.ndarray
    hn: dict[str, np.ndarray]  # item -> (N, 3) answers
    xq: np.ndarray  # (N, 3, 8)


def list_arms() -> np.ndarray:
    """The arms the store's concealed list gives subjects 1..N in order."""
    slots = block_list(load_design(STUDY), seed=LIST_SEED, per_stratum=N)
    return np.array([ARMS.index(s.arm) for s in slots[:N]])


def invent(rng: np.random.Generator) -> Trial:
    arm = list_arms()
    ids = [f"{101 + i}" for i in range(N)]
    seen = np.ones((N, 3), dtype=bool)
    drop = [int(np.flatnonzero(arm == a)[k]) for a, k in ((0, 17), (1, 40))]
    seen[drop, 1:] = False
    seen[int(np.flatnonzero(arm == 0)[50]), 2] = False
    enrol = [
        {
            "age": str(int(np.clip(round(rng.normal(64, 8)), 40, 85))),
            "sex": "2" if rng.random() < 0.75 else "1",
            "years_since_radiotherapy": str(int(rng.integers(2, 16))),
        }
        for _ in range(N)
    ]
    base = np.clip(np.exp(rng.normal(np.log(0.085), 0.55, N)), 0.02, 0.4).round(3)
    uws = np.column_stack([base, base, base])
    sws_base = np.clip(base * 3 + rng.normal(0, 0.1, N), 0.05, 2.0).round(2)
    sws = np.column_stack(
        [sws_base,
         np.clip(sws_base + rng.normal(0.03 * (arm == 0), 0.2, N), 0.02, None).round(2),
         np.clip(sws_base + rng.normal(0.02 * (arm == 0), 0.2, N), 0.02, None).round(2)]
    )  # fmt: skip
    severity = rng.normal(0, 1, N)
    hn = {}
    for i in range(31, 66):
        item = f"hn{i}"
        hi = 4 if i <= 60 else 2
        centre = {"hn41": 3.2, "hn42": 2.9}.get(item, 2.4 if item in ITEMS["HNSW"] else 1.8)
        b = np.clip(np.round(centre + 0.7 * severity + rng.normal(0, 0.6, N)), 1, hi)
        shift = {"hn41": (-0.55, -0.3), "hn42": (-0.6, -0.37)}.get(
            item, (-0.25, -0.25) if item in ITEMS["HNSW"] else (0.0, 0.0)
        )
        # follow-up answers regress half-way to the item's centre, so that the change's
        # BASE slope is well away from 0 (the LS means then move by more than whole steps)
        later = [
            np.clip(np.round(0.5 * b + 0.5 * centre + np.where(arm == 0, shift[0], shift[1]) * f
                             + rng.normal(0, 0.5, N)), 1, hi)
            for f in (1.0, 0.7)
        ]  # fmt: skip
        hn[item] = np.column_stack([b, *later]).astype(int)
    xb = np.clip(np.round(6.0 + 1.5 * severity[:, None] + rng.normal(0, 1.2, (N, 8))), 0, 10)
    xq = [xb]
    for f in (1.0, 0.6):
        shift = np.where(arm == 0, -0.59, -0.51)[:, None] * f
        xq.append(np.clip(np.round(xb + shift + rng.normal(0, 1.0, (N, 8))), 0, 10))
    return Trial(ids, arm, seen, enrol, uws, sws, hn, np.stack(xq, axis=1).astype(int))


# ----------------------------------------------------------------------------- analysis


def bds_of(trial: Trial, param: str, values: np.ndarray) -> pd.DataFrame:
    """The BDS rows of one parameter (values (N, 3), NaN where not derived)."""
    rows = []
    for i, sid in enumerate(trial.ids):
        base = values[i, 0] if trial.seen[i, 0] else np.nan
        for t, visit in enumerate(VISITS):
            if not trial.seen[i, t] or np.isnan(values[i, t]):
                continue
            aval = float(values[i, t])
            chg = aval - base
            rows.append(
                {"USUBJID": sid, "PARAMCD": param, "AVISIT": visit, "AVAL": aval,
                 "BASE": base, "CHG": chg,
                 "PCHG": 100.0 * chg / base if base else np.nan, "ARM": ARMS[trial.arm[i]]}
            )  # fmt: skip
    return pd.DataFrame(rows)


def lsm(bds: pd.DataFrame, param: str, response: str) -> dict:
    """Month 4: each arm's (estimate, lower, upper) and the difference's p."""
    e = Endpoint(param, response=response, visits=FOLLOW, primary_visit="month_4")
    out = run_endpoint(bds, e, ARMS)
    if "not_run" in out:
        raise RuntimeError(out["not_run"])
    res = {
        r["ARM"]: (r["estimate"], r["lower"], r["upper"])
        for r in out["lsmeans"]
        if r["AVISIT"] == "month_4"
    }
    res["p"] = next(d["p"] for d in out["diffs"] if d["AVISIT"] == "month_4")
    return res


def scale_values(trial: Trial, scale: str) -> np.ndarray:
    if scale == "XQ":
        frames = [
            pd.DataFrame(trial.xq[:, t, :], columns=[f"xq{k}" for k in range(1, 9)]).assign(
                id=range(N)
            )
            for t in range(3)
        ]
        return np.column_stack([score_xq(f)["xq_summary"].to_numpy(float) for f in frames])
    out = []
    for t in range(3):
        f = pd.DataFrame({k: v[:, t] for k, v in trial.hn.items()}).assign(id=range(N))
        out.append(score_qlq_hn35(f)[scale].to_numpy(float))
    return np.column_stack(out)


def in_window(got: tuple, want: tuple, decimals: int) -> bool:
    return all(
        printed(g, decimals) == printed(w, decimals) for g, w in zip(got, want, strict=False)
    )


def check_all(trial: Trial) -> list[str]:
    """What does not print as published (empty: everything does)."""
    bad = []
    for (name, response), want in TARGETS.items():
        param = "UWS" if name == "UWSPCT" else name
        got = lsm(bds_of(trial, param, values_of(trial, param)), param, response)
        for a in ARMS:
            if not in_window(got[a], want[a], DECIMALS[name]):
                bad.append(f"{name} {a}: {got[a]} vs {want[a]}")
        if not got["p"] > 0.05:
            bad.append(f"{name}: p {got['p']:.4f} at month 4")
    return bad


def values_of(trial: Trial, param: str) -> np.ndarray:
    return trial.uws if param == "UWS" else scale_values(trial, param)


# ----------------------------------------------------------------------------- calibration


def calibrate_uws(trial: Trial, rng: np.random.Generator) -> None:
    base = trial.uws[:, 0]
    e4, e12 = rng.normal(0, 1, N), rng.normal(0, 1, N)
    z = np.empty(N)
    for a in (0, 1):
        m = trial.arm == a
        inv = base.mean() / base[m]
        z[m] = inv - inv.mean()

    def make(x: np.ndarray, rounded: bool) -> None:
        mu = np.where(trial.arm == 0, x[0], x[1])
        g = np.where(trial.arm == 0, x[2], x[3])
        change = mu + g * z + x[4] * e4
        m4 = np.maximum(base + change, 0.002)
        m12 = np.maximum(base + 0.5 * mu + 0.5 * g * z + x[4] * (0.6 * e4 + 0.8 * e12), 0.002)
        if rounded:
            m4, m12 = m4.round(3), m12.round(3)
        trial.uws = np.column_stack([base, m4, m12])

    centre = {"atmsc": 0.040, "placebo": 0.0128}

    def residuals(x: np.ndarray) -> np.ndarray:
        make(x, rounded=False)
        bds = bds_of(trial, "UWS", trial.uws)
        c, p = lsm(bds, "UWS", "CHG"), lsm(bds, "UWS", "PCHG")
        half = np.mean([(c[a][2] - c[a][1]) / 2 for a in ARMS])
        return np.array(
            [(c["atmsc"][0] - centre["atmsc"]) / 0.005,
             (c["placebo"][0] - centre["placebo"]) / 0.005, (half - 0.0235) / 0.002,
             (p["atmsc"][0] - 38.0) / 0.5, (p["placebo"][0] - 21.0) / 0.5]
        )  # fmt: skip

    fit = least_squares(residuals, np.array([0.04, 0.013, 0.01, 0.005, 0.08]), diff_step=1e-3)
    make(fit.x, rounded=True)


def quick_lsm(bds: pd.DataFrame, param: str) -> dict[str, float]:
    """Month 4: each arm's LS mean of CHG from the endpoint's model (estimates only, for the
    search; the final check runs the report's own endpoint analysis)."""
    import warnings

    from xerotrial.analysis.plan import endpoint_data, model_formula
    from xerotrial.stats.model import fit

    e = Endpoint(param, response="CHG", visits=FOLLOW, primary_visit="month_4")
    data, _ = endpoint_data(bds, e, ARMS)
    data = data.assign(
        AVISIT=pd.Categorical(data["AVISIT"], categories=list(FOLLOW)),
        ARM=pd.Categorical(data["ARM"], categories=list(ARMS)),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit(data, model_formula(e, ARMS), "USUBJID", "AVISIT", "un",
                  time_order=list(FOLLOW))  # fmt: skip
    L, keys = res.fits.lsmeans_matrix("ARM", "AVISIT")
    est = L @ res.beta
    return {k["ARM"]: float(v) for k, v in zip(keys, est, strict=True) if k["AVISIT"] == "month_4"}


def _answers(trial: Trial, scale: str) -> list[np.ndarray]:
    """The (N, 3) answer arrays of a scale (XQ: its 8 items)."""
    if scale == "XQ":
        return [trial.xq[:, :, k] for k in range(8)]
    return [trial.hn[item] for item in ITEMS[scale]]


def _subset(e: np.ndarray, need: np.ndarray) -> list[int]:
    """Up to four distinct moves whose summed effects ``e`` (moves x arms) come nearest
    ``need`` in the max norm: pairs of pairs met in the middle (a k-d tree of the pair sums);
    a no-op move (index ``len(e)``) lets fewer moves win."""
    from scipy.spatial import cKDTree

    e = np.vstack([e, np.zeros(e.shape[1])])
    n = len(e)
    i, j = np.triu_indices(n, 1)
    keep = (i != j) | (i == n - 1)
    i, j = i[keep], j[keep]
    sums = e[i] + e[j]
    dist, q = cKDTree(sums).query(need - sums, k=8, p=np.inf)
    best, cost = [n - 1], float(np.abs(need).max())
    for col in range(q.shape[1]):
        qq = q[:, col]
        clash = (i == i[qq]) | (i == j[qq]) | (j == i[qq]) | (j == j[qq])
        d = np.where(clash & (i != n - 1), np.inf, dist[:, col])
        p = int(np.argmin(d))
        if d[p] < cost:
            best, cost = [int(i[p]), int(j[p]), int(i[qq[p]]), int(j[qq[p]])], float(d[p])
    return sorted({k for k in best if k != n - 1})


def calibrate_scale(trial: Trial, scale: str, rng: np.random.Generator, rounds: int = 8) -> None:
    """Move answers until each arm's LS mean of the change prints the target.

    First, whole steps: month-4 answers of the arm furthest off, one at a time in the
    direction it must go, while that brings it nearer. Then the LS means' response to 300
    random single moves (any subject, visit and answer, up or down; a month-12 answer moves
    the month-4 LS means a little, through the shared BASE slope) is measured, and the
    single move, pair or triple whose summed responses land both arms nearest the middle of
    their printed windows is made; repeated until both print the target."""
    want = np.array([TARGETS[(scale, "CHG")][a][0] for a in ARMS])
    dec = DECIMALS[scale]
    lo, hi = (0, 10) if scale == "XQ" else (1, 4)
    answers = _answers(trial, scale)

    def now() -> np.ndarray:
        got = quick_lsm(bds_of(trial, scale, scale_values(trial, scale)), scale)
        return np.array([got[a] for a in ARMS])

    def done(x: np.ndarray) -> bool:
        return all(printed(g, dec) == printed(w, dec) for g, w in zip(x, want, strict=True))

    got = now()
    for _ in range(200):  # whole steps
        k = int(np.argmax(np.abs(got - want)))
        if abs(got[k] - want[k]) < 0.6 * (10.0 if scale == "XQ" else 1.0) / 2:
            break
        sign = 1 if got[k] < want[k] else -1
        members = np.flatnonzero((trial.arm == k) & trial.seen[:, 1])
        i, arr = int(rng.choice(members)), answers[int(rng.integers(len(answers)))]
        old = int(arr[i, 1])
        if not lo <= old + sign <= hi:
            continue
        arr[i, 1] = old + sign
        new = now()
        if abs(new[k] - want[k]) < abs(got[k] - want[k]):
            got = new
        else:
            arr[i, 1] = old
    for _ in range(rounds):
        if done(got):
            return
        moves, effects, seen = [], [], set()
        while len(moves) < 200:
            i, a = int(rng.integers(N)), int(rng.integers(len(answers)))
            t = int(rng.integers(0, 3))
            old = int(answers[a][i, t])
            new = old + int(rng.choice([-1, 1]))
            if not trial.seen[i, t] or not lo <= new <= hi or (a, i, t) in seen:
                continue
            seen.add((a, i, t))
            answers[a][i, t] = new
            effects.append(now() - got)
            answers[a][i, t] = old
            moves.append((a, i, t, new))
        for j in _subset(np.array(effects), want - got):
            a, i, t, new = moves[j]
            answers[a][i, t] = new
        got = now()
    if not done(got):
        raise RuntimeError(f"{scale}: not calibrated: {got} vs {want}")


# ----------------------------------------------------------------------------- the file


def cup(rng: np.random.Generator, flow: float, minutes: float) -> tuple[str, str, str]:
    before = round(float(rng.uniform(9.0, 13.0)), 2)
    net = round(flow * minutes, 2)
    return f"{before:.2f}", f"{before + net:.2f}", f"{minutes:.2f}"


def records_csv(trial: Trial, rng: np.random.Generator) -> str:
    from xerotrial.store.redcap_records import export_columns
    from xerotrial.study.load import load_study

    study = load_study(STUDY)
    header = export_columns(study)
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    w.writeheader()
    for i, sid in enumerate(trial.ids):
        n = trial.arm[i] + 1
        for t, visit in enumerate(VISITS):
            if not trial.seen[i, t]:
                continue
            row = {c: "" for c in header}
            row.update(subject=sid, redcap_event_name=f"{visit}_arm_{n}",
                       redcap_data_access_group="rh")  # fmt: skip
            if t == 0:
                row.update(trial.enrol[i], enrolment_complete="2")
            ub, ua, um = cup(rng, trial.uws[i, t], 10.0)
            sb, sa, sm = cup(rng, trial.sws[i, t], 5.0)
            row.update(uws_before_g=ub, uws_after_g=ua, uws_minutes=um, sws_before_g=sb,
                       sws_after_g=sa, sws_minutes=sm, sialometry_complete="2")  # fmt: skip
            row.update({k: str(v[i, t]) for k, v in trial.hn.items()}, qlq_hn35_complete="2")
            row.update({f"xq{k + 1}": str(trial.xq[i, t, k]) for k in range(8)}, xq_complete="2")
            w.writerow(row)
        for visit, event in intercurrent_events(trial, i):
            row = {c: "" for c in header}
            row.update(subject=sid, redcap_event_name=f"{visit}_arm_{n}",
                       redcap_repeat_instrument="intercurrent_events", redcap_repeat_instance="1",
                       redcap_data_access_group="rh", event=event, first_visit=visit,
                       intercurrent_events_complete="2")  # fmt: skip
            w.writerow(row)
    return out.getvalue()


def intercurrent_events(trial: Trial, i: int) -> list[tuple[str, str]]:
    """Subject i's intercurrent events (first visit affected, kind): those who left the trial
    discontinued before their first missing visit; two subjects per arm with every visit
    started rescue medication before month 12."""
    missing = [v for v, seen in zip(VISITS, trial.seen[i], strict=True) if not seen]
    if missing:
        return [(missing[0], "discontinuation")]
    complete = np.flatnonzero((trial.arm == trial.arm[i]) & trial.seen.all(axis=1))
    return [("month_12", "rescue")] if i in complete[[7, 33]] else []


def make(seed: int = SEED) -> str:
    rng = np.random.default_rng(seed)
    trial = invent(rng)
    calibrate_uws(trial, rng)
    for scale in ("HNDR", "HNSS", "HNSW", "XQ"):
        calibrate_scale(trial, scale, rng)
    bad = check_all(trial)
    if bad:
        raise RuntimeError("not calibrated: " + "; ".join(bad))
    return records_csv(trial, rng)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m demo_calibration.phase2", description=__doc__)
    ap.add_argument("--check", action="store_true", help="compare with the bundled file")
    args = ap.parse_args(argv)
    text = make()
    if args.check:
        same = RECORDS.read_text() == text
        print(f"{RECORDS}: {'as bundled' if same else 'DIFFERS from the bundle'}")
        return 0 if same else 1
    RECORDS.write_text(text)
    print(f"wrote {RECORDS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
