"""The report of a study store: any definition, no study-specific code.

``xerotrial report --db URL --out DIR`` on a study store writes, into ``DIR``:

- ``report.html`` — one self-contained page: the study and its definition version, the audit
  check, subjects by arm and site, data by visit and form, the derivations, and per endpoint
  of the analysis plan its model, the records used (and left out, by reason), descriptive
  statistics by arm and visit, the LS means and the arm difference at each visit (primary
  first), and the engine's warnings;
- ``results.json`` — every number of the analysis, unrounded;
- ``tables/adbds.csv`` — the BDS dataset the analysis used, and per endpoint
  ``tables/<PARAM>_lsmeans.csv`` and ``tables/<PARAM>_diffs.csv``.

Example
-------
>>> context_counts([{"site": "a", "arm": "x"}, {"site": "a", "arm": "y"}])
{'x': {'a': 1}, 'y': {'a': 1}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from .fmt import format_ci, format_number, format_p
from .title_page import title_page

__all__ = [
    "context_counts",
    "descriptives",
    "format_endpoint",
    "templates",
    "write_study_report",
]


def context_counts(
    subjects: Sequence[Mapping[str, Any]],
    arms: Mapping[str, str] | None = None,
    sites: Mapping[str, str] | None = None,
) -> dict[str, dict[str, int]]:
    """Subjects by arm, then site (named by their labels where given), in first-seen order."""
    arms, sites = arms or {}, sites or {}
    out: dict[str, dict[str, int]] = {}
    for s in subjects:
        arm = out.setdefault(arms.get(s["arm"], s["arm"] or "(none)"), {})
        site = sites.get(s["site"], s["site"] or "(none)")
        arm[site] = arm.get(site, 0) + 1
    return out


def descriptives(bds: pd.DataFrame, param: str, arms: Sequence[str | None]) -> list[dict[str, Any]]:
    """n, mean and SD by visit and arm (arm None: every subject)."""
    rec = bds[bds["PARAMCD"] == param]
    rows = []
    for visit, by_visit in rec.groupby("AVISIT", sort=False):
        for arm in arms:
            sel = by_visit["ARM"] == arm if arm is not None else slice(None)
            x = by_visit.loc[sel, "AVAL"].dropna()
            c = by_visit.loc[sel, "CHG"].dropna()
            rows.append(
                {
                    "visit": visit,
                    "arm": arm if arm is not None else "all",
                    "n": int(len(x)),
                    "mean": float(x.mean()) if len(x) else None,
                    "sd": float(x.std()) if len(x) > 1 else None,
                    "chg_n": int(len(c)),
                    "chg_mean": float(c.mean()) if len(c) else None,
                }
            )
    return rows


def format_endpoint(r: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    """One endpoint's results formatted for a report's tables (arms by their labels)."""
    out = dict(r)
    out["lsmeans_rows"] = [
        {
            "visit": x["AVISIT"],
            "arm": labels.get(x.get("ARM"), x.get("ARM") or "all"),
            "estimate": format_number(x["estimate"]),
            "se": format_number(x["se"]),
            "ci": format_ci(x["lower"], x["upper"]),
            "df": format_number(x["df"], 1),
        }
        for x in r.get("lsmeans", [])
    ]
    out["diff_rows"] = [
        {
            "visit": x.get("AVISIT") or x["contrast"].split(" - ")[0],
            "contrast": " − ".join(labels.get(a, a) for a in x["contrast"].split(" - ")),
            "estimate": format_number(x["estimate"]),
            "se": format_number(x["se"]),
            "ci": format_ci(x["lower"], x["upper"]),
            "df": format_number(x["df"], 1),
            "p": format_p(x["p"]),
            "primary": r.get("primary")
            and (x.get("AVISIT") or x["contrast"].split(" - ")[0]) == r.get("primary_visit"),
        }
        for x in r.get("diffs", [])
    ]
    anc = r.get("ancova") or {}
    out["ancova_rows"] = [
        {
            "what": labels.get(x.get("ARM"), x.get("ARM"))
            if "ARM" in x
            else " − ".join(labels.get(a, a) for a in x["contrast"].split(" - ")),
            "estimate": format_number(x["estimate"]),
            "se": format_number(x["se"]),
            "ci": format_ci(x["lower"], x["upper"]),
            "df": format_number(x["df"], 1),
            "p": format_p(x["p"]) if "contrast" in x else "",
        }
        for x in [*anc.get("lsmeans", []), *anc.get("diffs", [])]
    ]
    out["desc_rows"] = [
        {
            **d,
            "arm": labels.get(d["arm"], d["arm"]),
            "mean": format_number(d["mean"]),
            "sd": format_number(d["sd"]),
            "chg_mean": format_number(d["chg_mean"]),
        }
        for d in r.get("descriptives", [])
    ]
    return out


def format_estimand(r: Mapping[str, Any] | None, labels: Mapping[str, str]) -> dict | None:
    """The estimand's results for the report: the strategies in words and a row per
    parameter (rbmi's names, with the arms' labels)."""
    if r is None:
        return None
    out = {"n_samples": None, "pool": None, "not_run": None, **r}
    first, second = (labels.get(a, a) for a in r["comparison"].split(" - "))
    what = {"trt": f"{first} − {second}", "lsm_ref": second, "lsm_alt": first}
    out["rows"] = [
        {
            "visit": x["visit"],
            "what": what[x["parameter"][: -len(x["visit"]) - 1]],
            "parameter": x["parameter"],
            "estimate": format_number(x["est"]),
            "se": format_number(x["se"]),
            "ci": format_ci(x["lci"], x["uci"]),
            "p": format_p(x["pval"]),
        }
        for x in r.get("results", [])
    ]
    return out


#: What a blinded report says where the comparison of the arms would be.
BLINDED_NOTE = (
    "the study is blinded: the arms are pooled, and the comparison of the arms waits for the "
    "study's unblinding at database lock (the data monitoring committee's closed report has it)"
)


def _blinded_endpoint(bds: pd.DataFrame, e: Any) -> dict[str, Any]:
    """An endpoint of a blinded study: what it is and its records, no model."""
    from xerotrial.analysis.plan import model_formula

    rec = bds[(bds["PARAMCD"] == e.param) & bds["AVISIT"].isin(e.visits)]
    return {
        "name": e.key, "param": e.param, "primary": e.primary,
        "primary_visit": e.primary_visit, "response": e.response,
        "formula": model_formula(e), "reference_visit": e.reference_visit,
        "covariance": e.covariance, "df": e.df, "visits": list(e.visits),
        "n_subjects": int(rec["USUBJID"].nunique()), "n_records": len(rec), "left_out": {},
        "not_run": BLINDED_NOTE, "warnings": [],
    }  # fmt: skip


def templates() -> Any:
    """The study-store reports' templates (:func:`.html.templates_environment`)."""
    from .html import templates_environment

    return templates_environment()


def _last_date(frames: dict[str, list[dict]]) -> str:
    """The data cut-off of a study store: the last date any form holds ("" when none)."""
    import datetime as dt

    dates = [
        v
        for rows in frames.values()
        for row in rows
        for v in row.values()
        if isinstance(v, dt.date) or (isinstance(v, str) and len(v) == 10 and v[4] == "-"
                                      and v[:4].isdigit() and v[5:7].isdigit())
    ]  # fmt: skip
    return str(max(str(d)[:10] for d in dates)) if dates else ""


def write_study_report(engine: Engine, out: str | Path, source: str) -> Path:
    """Analyse the study store by its plan and write the report (see the module docstring);
    returns the path of ``report.html``."""
    from xerotrial.adam.bds import study_bds
    from xerotrial.analysis.plan import run_plan
    from xerotrial.store.integrity import check_store, status_text
    from xerotrial.store.study_export import stored_frames
    from xerotrial.store.study_store import stored_study

    out = Path(out)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    audit = check_store(engine)
    from xerotrial.store.randomization_schema import blinding_state

    with engine.connect() as conn:
        study = stored_study(conn)
        frames = stored_frames(conn, study)
        bds = study_bds(conn, study)
        blinded = blinding_state(conn) == "blinded"
    subjects = frames.pop("__subjects__")
    arms: list[str | None] = (
        list(study.analysis.arms) if study.analysis else [a.name for a in study.allocation.arms]
    ) or [None]
    labels = {a.name: a.label or a.name for a in study.allocation.arms}
    if blinded:  # the arms are pooled: no comparison until the study's unblinding
        arms = [None]
        results = (
            [_blinded_endpoint(bds, e) for e in study.analysis.endpoints]
            if (study.analysis)
            else []
        )
        estimand = None
    else:
        from xerotrial.analysis.estimand import run_estimand

        results = run_plan(bds, study)
        plan = study.analysis.estimand if study.analysis else None
        ice_rows = pd.DataFrame(frames.get(plan.ice_form, [])) if plan else None
        estimand = run_estimand(bds, ice_rows, study)
    for r in results:
        r["descriptives"] = descriptives(bds, r["param"], arms)  # type: ignore[index]
    bds.to_csv(out / "tables" / "adbds.csv", index=False, lineterminator="\n")
    for r in results:
        for what in ("lsmeans", "diffs"):
            if r.get(what):
                pd.DataFrame(r[what]).to_csv(
                    out / "tables" / f"{r['name']}_{what}.csv", index=False, lineterminator="\n"
                )
    visits = [v.name for v in study.visits] or [""]
    by_visit = {
        form: {v: sum(1 for row in rows if row["visit"] == v) for v in visits}
        for form, rows in frames.items()
    }
    (out / "results.json").write_text(
        json.dumps(
            {
                "study": study.study.id,
                "definition_version": study.version,
                "audit_ok": audit.ok,
                "blinded": blinded,
                "endpoints": results,
                "estimand": estimand,
            },
            indent=1,
            allow_nan=False,
            default=str,
        )
        + "\n",
        encoding="utf-8",
    )
    html = (
        templates()
        .get_template("study_report.html.j2")
        .render(
            study=study,
            source=source,
            audit=audit,
            audit_text=status_text(audit),
            counts=context_counts(
                subjects,
                {**labels, None: "all arms (blinded)"} if blinded else labels,
                {x.code: x.name or x.code for x in study.study.sites},
            ),
            n_subjects=len(subjects),
            visits=visits,
            by_visit=by_visit,
            derivations=study.derivations,
            endpoints=[format_endpoint(r, labels) for r in results],
            estimand=format_estimand(estimand, labels),
            blinded=blinded,
            title_rows=title_page(engine, data_cutoff=_last_date(frames)),
        )
    )
    path = out / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
