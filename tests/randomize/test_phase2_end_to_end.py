"""The phase II example randomized, blinded and reported to a DMC end to end (issue 14), on
synthetic data whose outcomes follow the allocated arms (examples/phase2/make_data.py).

The command line does every step a person would: the store, the enrolment, the concealed
list, each allocation, the follow-up data, the DMC's open and closed reports, the blinded
study report; the database lock and the study's unblinding, then the final report, whose
comparison of the arms is the DMC closed session's to the last digit (the same data and arms).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from xerotrial.cli import cli

from .conftest import DEFINITION

AS_OF = "2031-01-01"  # every window has closed


def _make_data():  # noqa: ANN202 - the example's own generator, a script
    spec = importlib.util.spec_from_file_location("make_data", DEFINITION.parent / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args: str) -> str:
    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code == 0, (args, r.output)
    return r.output


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def _form_csv(folder: Path, form: str, rows: list[dict]) -> Path:
    fields = sorted({k for r in rows for k in r[form]}, key=lambda k: (len(k), k))
    repeating = form == "adverse_events"
    header = ["subject", "visit", *(["instance"] if repeating else []), *fields]
    out = []
    for r in rows:
        visit = r["event"].rsplit("_arm_", 1)[0]
        values = [",".join(v) if isinstance(v, list) else v for v in
                  (r[form].get(f, "") for f in fields)]  # fmt: skip
        out.append([r["subject"], visit, *([str(r["instance"])] if repeating else []), *values])
    return _write(folder / f"{form}.csv", header, out)


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> dict:
    make_data = _make_data()
    folder = tmp_path_factory.mktemp("phase2-randomized")
    db = f"sqlite:///{folder / 'xerostem2.db'}"
    _run("init", "--db", db, "--study", str(DEFINITION))
    people = make_data.simulate(np.random.default_rng(make_data.SEED))
    _write(folder / "subjects.csv", ["subject", "site", "arm"],
           [[p["subject"], p["site"], ""] for p in people])  # fmt: skip
    _run("import", "subjects", str(folder / "subjects.csv"), "--db", db)
    enrolment = [{"event": "baseline_arm_1", "subject": p["subject"], "enrolment": p["enrolment"]}
                 for p in people]  # fmt: skip
    _run("import", "enrolment", str(_form_csv(folder, "enrolment", enrolment)), "--db", db)
    setup = _run("randomize", "setup", "--db", db, "--seed", "2027", "--per-stratum", "20")
    allocated, refused = {}, []
    for p in people:
        r = CliRunner().invoke(
            cli, ["randomize", "allocate", "--db", db, "--subject", p["subject"]]
        )
        if r.exit_code == 2 and "not eligible" in r.output:
            refused.append(p["subject"])
            continue
        assert r.exit_code == 0, r.output
        allocated[p["subject"]] = re.search(r", arm (\w+)$", r.output.strip()).group(1)
    rows = make_data.build_rows(np.random.default_rng(make_data.SEED), allocated)
    for form in ("sialometry", "xq", "adverse_events"):
        mine = [r for r in rows if form in r and r["subject"] in allocated]
        _run("import", form, str(_form_csv(folder, form, mine)), "--db", db)
    for session in ("open", "closed"):
        _run("report", "--db", db, "--dmc", session, "--as-of", AS_OF,
             "--out", str(folder / f"dmc-{session}"))  # fmt: skip
    _run("report", "--db", db, "--out", str(folder / "blinded"))
    return {"db": db, "folder": folder, "allocated": allocated, "refused": refused,
            "people": people, "setup": setup}  # fmt: skip


def test_the_eligible_are_randomized_in_balance_within_strata(trial: dict) -> None:
    people = {p["subject"]: p for p in trial["people"]}
    assert trial["refused"] == [s for s, p in people.items()
                                if int(p["enrolment"]["age"]) > 75]  # fmt: skip
    assert len(trial["allocated"]) == len(people) - len(trial["refused"]) >= 30
    stratum = {s: (p["site"], p["enrolment"]["radiotherapy_dose_group"]) for s, p in people.items()}
    for cell in {stratum[s] for s in trial["allocated"]}:
        arms = [a for s, a in trial["allocated"].items() if stratum[s] == cell]
        assert abs(arms.count("atmsc") - arms.count("placebo")) <= 2  # half the largest block


def test_the_dmc_sees_the_effect_the_data_were_made_with(trial: dict) -> None:
    closed = json.loads((trial["folder"] / "dmc-closed" / "dmc.json").read_text())
    uws = next(e for e in closed["efficacy"] if e["param"] == "UWS")
    m4 = next(d for d in uws["diffs"] if d["AVISIT"] == "month_4")
    assert 0.02 < m4["estimate"] < 0.08  # made with +0.047 mL/min (AT-MSC - placebo)
    look = closed["interim"]
    assert look["information_fraction"] == look["subjects"] / 40 and look["z"] > 0
    opened = (trial["folder"] / "dmc-open").rglob("*")
    for path in (p for p in opened if p.is_file()):
        text = path.read_text(encoding="utf-8").lower().replace("placebo-controlled", "")
        assert "atmsc" not in text and "placebo" not in text and "at-msc" not in text, path


def test_after_lock_and_unblinding_the_final_report_is_the_dmcs(trial: dict) -> None:
    from xerotrial.store.accounts import Actor
    from xerotrial.store.engine import open_store
    from xerotrial.store.lock import lock_store

    engine = open_store(trial["db"])
    lock_store(engine, actor=Actor.local("data-manager"), reason="database lock")
    engine.dispose()
    out = _run("randomize", "unblind-study", "--db", trial["db"],
               "--decision", "SAP final analysis: unblind at lock")  # fmt: skip
    assert "the study is unblinded" in out
    _run("report", "--db", trial["db"], "--out", str(trial["folder"] / "final"))
    final = json.loads((trial["folder"] / "final" / "results.json").read_text())
    closed = json.loads((trial["folder"] / "dmc-closed" / "dmc.json").read_text())
    assert final["blinded"] is False
    for f, c in zip(final["endpoints"], closed["efficacy"], strict=True):
        assert f["diffs"] == c["diffs"] and f["lsmeans"] == c["lsmeans"], f["name"]
    blinded = json.loads((trial["folder"] / "blinded" / "results.json").read_text())
    assert blinded["blinded"] is True and all("diffs" not in e for e in blinded["endpoints"])
