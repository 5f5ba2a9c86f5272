"""examples/phase2: the synthetic records are what make_data.py writes, they import into a
store of the study definition and export back byte for byte, and the product's derivations
(derive_flow_rate, score_xq) of the stored data give the analysis values of the independent
R reference (tests/reference/phase2_reference.json, validation/phase2_reference.R)."""

from __future__ import annotations

import importlib.util
import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from xerotrial.store.engine import open_store
from xerotrial.store.redcap_records import export_columns, import_redcap_records, records_text
from xerotrial.store.study_export import stored_frames
from xerotrial.store.study_store import init_study_store, stored_study
from xerotrial.trial.questionnaires import score_xq
from xerotrial.trial.sialometry import derive_flow_rate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "phase2"
DEF = EXAMPLE / "study.toml"
RECORDS = EXAMPLE / "records.csv"
REFERENCE = ROOT / "tests" / "reference" / "phase2_reference.json"


@pytest.fixture
def phase2_store(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'p2.db'}"
    init_study_store(url, DEF, user="ana")
    engine = open_store(url)
    yield engine
    engine.dispose()


def test_records_are_what_make_data_writes() -> None:
    spec = importlib.util.spec_from_file_location("phase2_make_data", EXAMPLE / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    study = tomllib.loads(DEF.read_text(encoding="utf-8"))
    text = module.render(study, module.build_rows(np.random.default_rng(module.SEED)))
    assert text == RECORDS.read_text(encoding="utf-8")


def test_records_import_and_export_back_unchanged(phase2_store: Engine) -> None:
    result, notes = import_redcap_records(phase2_store, RECORDS, user="ana")
    assert result.subjects == 40
    assert result.warnings == ()
    assert notes == ["3 never-saved forms (no value, status 0) are not data"]
    with phase2_store.connect() as conn:
        study = stored_study(conn)
        text = records_text(conn, study)
    source = RECORDS.read_text(encoding="utf-8")
    assert source.splitlines()[0] == ",".join(export_columns(study))
    assert text == source


def _product_values(engine: Engine) -> dict[str, dict[tuple[str, str], float]]:
    """AVAL by (subject, visit) of every entered form, derived by the product's functions."""
    with engine.connect() as conn:
        frames = stored_frames(conn, stored_study(conn))
    out: dict[str, dict[tuple[str, str], float]] = {}
    sial = pd.DataFrame(frames["sialometry"])
    for kind in ("UWS", "SWS"):
        k = kind.lower()
        samples = pd.DataFrame(
            {
                "subject": sial["subject"],
                "visit": sial["visit"],
                "kind": kind,
                "cup_before_g": sial[f"{k}_before_g"],
                "cup_after_g": sial[f"{k}_after_g"],
                "minutes": sial[f"{k}_minutes"],
            }
        )
        d = derive_flow_rate(samples)
        keys = zip(d["subject"], d["visit"], strict=True)
        out[kind] = dict(zip(keys, d["flow_ml_min"], strict=True))
    xq = pd.DataFrame(frames["xq"])
    items = xq[[f"xq{i}" for i in range(1, 9)]].astype(float)
    items["id"] = (xq["subject"] + "|" + xq["visit"]).to_numpy()
    scores = score_xq(items)
    keys = [tuple(i.split("|")) for i in scores["id"]]
    out["XQ"] = dict(zip(keys, scores["xq_summary"], strict=True))
    return out


def test_product_derivations_give_the_reference_analysis_values(phase2_store: Engine) -> None:
    import_redcap_records(phase2_store, RECORDS, user="ana")
    ref = json.loads(REFERENCE.read_text(encoding="utf-8"))
    product = _product_values(phase2_store)
    assert [e["param"] for e in ref["endpoints"]] == ["UWS", "SWS", "XQ"]
    for ep in ref["endpoints"]:
        aval = product[ep["param"]]
        expected = {k for k in aval if k[1] in ref["visits"]}
        got = {(s, v) for s, v, *_ in ep["analysis_values"]}
        assert got == expected, ep["param"]
        n_chg = 0
        for subject, visit, a, b, c in ep["analysis_values"]:
            mine = aval[(subject, visit)]
            base = aval.get((subject, "baseline"), math.nan)
            for r, p in ((a, mine), (b, base), (c, mine - base)):
                if r is None:
                    assert math.isnan(p), (ep["param"], subject, visit)
                else:
                    assert p == pytest.approx(r, rel=1e-12, abs=1e-12)
            n_chg += c is not None
        assert n_chg == ep["n_observations"]


def test_reference_layout() -> None:
    ref = json.loads(REFERENCE.read_text(encoding="utf-8"))
    assert ref["arms"] == ["atmsc", "placebo"]
    assert ref["visits"] == ["month_1", "month_4", "month_12"]
    assert {"mmrm", "emmeans", "nlme"} <= set(ref["packages"])
    for ep in ref["endpoints"]:
        assert [(x["arm"], x["visit"]) for x in ep["lsmeans"]] == [
            (a, v) for v in ref["visits"] for a in ref["arms"]
        ]
        assert [x["visit"] for x in ep["diffs"]] == ref["visits"]
        for x in ep["diffs"]:
            assert x["lower"] < x["estimate"] < x["upper"] and 0 < x["p"] < 1
        sigma = np.array(ep["covariance"])
        assert sigma.shape == (3, 3) and np.allclose(sigma, sigma.T)
        assert np.all(np.linalg.eigvalsh(sigma) > 0)
