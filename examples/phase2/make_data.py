"""Write ``records.csv``: a synthetic REDCap raw records export of ``study.toml`` (XEROSTEM-2).

Deterministic (numpy's default generator with a fixed seed), standard library and numpy only:

    python3 examples/phase2/make_data.py            # writes examples/phase2/records.csv
    python3 examples/phase2/make_data.py --check    # exits 1 if records.csv differs

The column layout is read from the definition (fields in definition order, a checkbox as one
``field___code`` column per code, ``<form>_complete`` after each form's fields), as
``xerotrial.store.redcap_records.export_columns`` gives it. Rows: one per subject and event
(``<visit>_arm_<N>``, N the subject's arm in the definition's order) and one per adverse event
(``redcap_repeat_instrument = adverse_events``, instances 1..n within the event). On a visit
row a form due there but not entered has its checkbox columns and its status written ``0``
(as REDCap does), other columns blank; forms not due there are blank; an adverse event row
holds only the adverse event columns.

The data are invented: 40 subjects at two sites, randomized 1:1 in permuted blocks of 4
within the radiotherapy dose stratum. AT-MSC raises the unstimulated flow (UWS) over placebo
(about +0.05 mL/min at month 4), a little the stimulated flow (SWS), and lowers the XQ score.
Imperfections on purpose: dropouts (no month 4 / month 12 events), a missed month 1 visit,
a baseline sialometry never entered (so no BASE and no CHG for UWS and SWS), a questionnaire
not entered at a visit it was due, questionnaires with blank items (one with too few answered
items to be scored), collection times other than the usual 10 / 5 minutes, adverse events
with blank seriousness (allowed below grade 3).
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
import tomllib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 20261201
N_SUBJECTS = 40

AE_TERMS = (
    "Injection site pain",
    "Submandibular swelling",
    "Dry mouth",
    "Headache",
    "Dysgeusia",
    "Fatigue",
    "Sialadenitis",
    "Oral pain",
    "Upper respiratory infection",
)


def checkbox_column(field: str, code: str) -> str:
    """REDCap's column of one checkbox code (as xerotrial.store.redcap_records)."""
    return f"{field}___{re.sub(r'[^a-z0-9_]', '_', code.lower())}"


def form_columns(form: dict) -> list[str]:
    cols = []
    for name, f in form["fields"].items():
        if f["type"] == "descriptive":
            continue
        if f["type"] == "checkbox":
            cols += [checkbox_column(name, str(c)) for c in f["choices"]]
        else:
            cols.append(name)
    return cols


def layout(study: dict) -> tuple[list[str], dict[str, list[str]]]:
    """The export's header and each form's data columns."""
    by_form = {name: form_columns(form) for name, form in study["forms"].items()}
    header = [
        "subject",
        "redcap_event_name",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
        "redcap_data_access_group",
    ]
    for name, cols in by_form.items():
        header += [*cols, f"{name}_complete"]
    return header, by_form


def g2(x: float) -> str:
    """A weight or time as REDCap writes a decimal of precision 2."""
    return f"{x:.2f}"


def simulate(rng: np.random.Generator) -> list[dict]:
    """The subjects with their visits' raw values (a list of dicts, enrolment order)."""
    arms = ("atmsc", "placebo")
    blocks: dict[str, list[str]] = {"1": [], "2": []}
    subjects = []
    n_site = {"rh": 0, "ouh": 0}
    for i in range(N_SUBJECTS):
        site = "rh" if rng.random() < 0.6 else "ouh"
        n_site[site] += 1
        sid = f"{1 if site == 'rh' else 2}{n_site[site]:02d}"
        stratum = "1" if rng.random() < 0.5 else "2"
        if not blocks[stratum]:
            blocks[stratum] = list(rng.permutation(["atmsc", "atmsc", "placebo", "placebo"]))
        arm = blocks[stratum].pop(0)
        n_sites = 1 + (rng.random() < 0.15)
        rt_sites = sorted(
            rng.choice(["1", "2", "3", "4", "5"], size=n_sites, replace=False, p=None).tolist()
        )
        enrolment = {
            "age": str(int(np.clip(round(rng.normal(62, 8)), 35, 85))),
            "sex": "2" if rng.random() < 0.7 else "1",
            "smoker": "1" if rng.random() < 0.15 else "0",
            "radiotherapy_dose_group": stratum,
            "years_since_radiotherapy": str(int(rng.integers(2, 16))),
            "prior_rt_sites": rt_sites,
        }
        subjects.append(
            {"subject": sid, "site": site, "arm": arm, "arm_no": arms.index(arm) + 1, "n": i}
            | {"enrolment": enrolment}
        )
    return subjects


def sialometry(rng: np.random.Generator, uws: float, sws: float) -> dict[str, str]:
    """Cup weights and times for true flows ``uws`` and ``sws`` (mL/min)."""
    out = {}
    for kind, flow, usual in (("uws", uws, 10.0), ("sws", sws, 5.0)):
        u = rng.random()
        minutes = usual if u < 0.85 else (usual * 0.75 if u < 0.93 else usual * 1.5)
        before = round(float(rng.uniform(9.0, 13.0)), 2)
        net = max(0.0, round(flow * minutes, 2))
        out[f"{kind}_before_g"] = g2(before)
        out[f"{kind}_after_g"] = g2(before + net)
        out[f"{kind}_minutes"] = g2(minutes)
    return out


def xq_items(rng: np.random.Generator, score: float) -> dict[str, str]:
    """Eight answers around a summary score (0-100)."""
    level = score / 10.0
    items = np.clip(np.round(level + rng.normal(0, 1.2, size=8)), 0, 10).astype(int)
    return {f"xq{k + 1}": str(int(v)) for k, v in enumerate(items)}


def build_rows(rng: np.random.Generator, allocated: dict[str, str] | None = None) -> list[dict]:
    """The records' rows; ``allocated`` (subject -> arm, e.g. from ``xerotrial randomize
    allocate``) gives the arms the outcomes follow instead of the file's own blocks (the same
    subjects and draws otherwise)."""
    subjects = simulate(rng)
    arms = ("atmsc", "placebo")
    for s in subjects:
        if allocated is not None and s["subject"] in allocated:
            s["arm"] = allocated[s["subject"]]
            s["arm_no"] = arms.index(s["arm"]) + 1
    visits = ("baseline", "month_1", "month_4", "month_12")
    # effects over placebo-like drift: AT-MSC / placebo mean change at each visit
    uws_effect = {
        "atmsc": (0.0, 0.025, 0.055, 0.045),
        "placebo": (0.0, 0.005, 0.008, 0.004),
    }
    sws_effect = {"atmsc": (0.0, 0.04, 0.09, 0.07), "placebo": (0.0, 0.01, 0.02, 0.0)}
    xq_effect = {"atmsc": (0.0, -6.0, -11.0, -9.0), "placebo": (0.0, -2.0, -3.0, -2.0)}
    # the imperfections, by enrolment order
    drop_after_month_1 = {6, 17, 29, 36}  # no month_4, no month_12
    drop_after_month_4 = {3, 22, 33}  # no month_12
    missed_month_1 = {12}  # misses month_1, back at month_4
    no_baseline_sialometry = {25}  # the baseline sialometry was never entered
    xq_not_entered = {(9, "month_4"), (31, "month_12")}
    rows = []
    for s in subjects:
        n, arm = s["n"], s["arm"]
        uws0 = float(np.exp(rng.normal(np.log(0.11), 0.45)))
        sws0 = float(np.exp(rng.normal(np.log(0.45), 0.4)))
        xq0 = float(np.clip(rng.normal(62, 12), 25, 95))
        u_uws, u_sws, u_xq = rng.normal(0, 0.025), rng.normal(0, 0.07), rng.normal(0, 6)
        attended = list(visits)
        if n in drop_after_month_1:
            attended = attended[:2]
        if n in drop_after_month_4:
            attended = attended[:3]
        if n in missed_month_1:
            attended.remove("month_1")
        for t, visit in enumerate(visits):
            if visit not in attended:
                continue
            row = {"subject": s["subject"], "event": f"{visit}_arm_{s['arm_no']}"}
            row["site"] = s["site"]
            if visit == "baseline":
                row["enrolment"] = s["enrolment"]
            trend = 0.0 if t == 0 else 1.0
            uws = uws0 + uws_effect[arm][t] + trend * (u_uws + rng.normal(0, 0.02))
            sws = sws0 + sws_effect[arm][t] + trend * (u_sws + rng.normal(0, 0.06))
            uws = max(uws, 0.005 + 0.005 * rng.random())
            sws = max(sws, 0.02 + 0.02 * rng.random())
            if not (visit == "baseline" and n in no_baseline_sialometry):
                row["sialometry"] = sialometry(rng, uws, sws)
            xq = xq0 + xq_effect[arm][t] + trend * (u_xq + rng.normal(0, 5))
            if (n, visit) not in xq_not_entered:
                items = xq_items(rng, float(np.clip(xq, 0, 100)))
                if rng.random() < 0.08:  # one or two items left blank
                    for k in rng.choice(8, size=int(rng.integers(1, 3)), replace=False):
                        items[f"xq{k + 1}"] = ""
                if (n, visit) == (14, "month_1"):  # too few answered: no XQ score
                    for k in (1, 2, 3, 5, 7):
                        items[f"xq{k}"] = ""
                row["xq"] = items
            rows.append(row)
            if visit == "baseline":
                continue
            n_ae = int(rng.poisson(0.8 if visit == "month_1" else 0.35))
            for instance in range(1, n_ae + 1):
                grade = int(rng.choice([1, 2, 3], p=[0.62, 0.3, 0.08]))
                serious = "1" if grade >= 3 and rng.random() < 0.5 else "0"
                if grade < 3 and rng.random() < 0.1:
                    serious = ""
                term = str(rng.choice(AE_TERMS))
                if visit == "month_1" and rng.random() < 0.5:
                    term = str(rng.choice(AE_TERMS[:2]))
                rows.append(
                    {
                        "subject": s["subject"],
                        "event": f"{visit}_arm_{s['arm_no']}",
                        "site": s["site"],
                        "instance": instance,
                        "adverse_events": {"term": term, "grade": str(grade), "serious": serious},
                    }
                )
    return rows


def render(study: dict, rows: list[dict]) -> str:
    header, by_form = layout(study)
    due = study["schedule"]["due"]
    repeating = set(study["schedule"]["repeating"])
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        cells = dict.fromkeys(header, "")
        cells["subject"] = r["subject"]
        cells["redcap_event_name"] = r["event"]
        cells["redcap_data_access_group"] = r["site"]
        visit = r["event"].rsplit("_arm_", 1)[0]
        instance = r.get("instance")
        if instance is not None:
            cells["redcap_repeat_instrument"] = "adverse_events"
            cells["redcap_repeat_instance"] = str(instance)
        for name, form in study["forms"].items():
            if (instance is not None) != (name in repeating):
                continue
            if instance is None and visit not in due.get(name, []):
                continue
            values = r.get(name)
            boxes = [f for f, d in form["fields"].items() if d["type"] == "checkbox"]
            if values is None:  # due but never entered: REDCap writes 0 for boxes and status
                for f in boxes:
                    for code in form["fields"][f]["choices"]:
                        cells[checkbox_column(f, str(code))] = "0"
                cells[f"{name}_complete"] = "0"
                continue
            for f, v in values.items():
                if f in boxes:
                    for code in form["fields"][f]["choices"]:
                        cells[checkbox_column(f, str(code))] = "1" if str(code) in v else "0"
                else:
                    cells[f] = v
            cells[f"{name}_complete"] = "2"
        assert set(cells) == set(header)
        w.writerow([cells[c] for c in header])
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", type=Path, default=HERE / "study.toml")
    ap.add_argument("--out", type=Path, default=HERE / "records.csv")
    ap.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    args = ap.parse_args(argv)
    study = tomllib.loads(args.study.read_text(encoding="utf-8"))
    text = render(study, build_rows(np.random.default_rng(SEED)))
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if same else 'DIFFERS from make_data.py output'}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {text.count(chr(10)) - 1} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
