"""`xerotrial randomize list` (issue 14's contract), the design's errors, and minimization."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from statistics import mean

from click.testing import CliRunner

from xerotrial.cli import cli
from xerotrial.randomize.design import parse_design
from xerotrial.randomize.minimization import simulate

DESIGN = """\
[allocation]
method = "permuted-blocks"
arms = [{ code = "ASC", label = "AT-MSC" }, { code = "PBO", label = "Placebo" }]
ratio = [1, 1]
block_sizes = [2, 4, 6]
strata = [
    { name = "site", levels = ["RH", "OUH"] },
    { name = "baseline_uws", levels = ["low", "high"] },
]
"""


def _run(*args: str):  # noqa: ANN202
    return CliRunner().invoke(cli, ["randomize", "list", *args])


def test_the_list_contract(tmp_path: Path) -> None:
    design = tmp_path / "allocation.toml"
    design.write_text(DESIGN)
    out = tmp_path / "list.csv"
    res = _run("--design", str(design), "--seed", "42", "--per-stratum", "10", "-o", str(out))
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["stratum", "sequence", "block", "block_size", "arm"]
    assert len(rows) == 4 * 10
    assert [r["stratum"] for r in rows[::10]] == [
        "site=RH;baseline_uws=low", "site=RH;baseline_uws=high",
        "site=OUH;baseline_uws=low", "site=OUH;baseline_uws=high",
    ]  # fmt: skip
    assert {r["arm"] for r in rows} == {"ASC", "PBO"}
    assert "4 strata x 10 slots, sha256 " in res.output
    again = tmp_path / "again.csv"
    _run("--design", str(design), "--seed", "42", "--per-stratum", "10", "-o", str(again))
    assert again.read_bytes() == out.read_bytes()


def test_a_definition_with_the_section_is_read_too(tmp_path: Path) -> None:
    study = tmp_path / "study.toml"
    study.write_text('version = "1"\n[study]\nid = "X"\n' + DESIGN)
    res = _run("--design", str(study), "--seed", "1", "--per-stratum", "4", "-o",
               str(tmp_path / "l.csv"))  # fmt: skip
    assert res.exit_code == 0, res.output


def test_every_problem_of_a_design_is_named_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[allocation]\nmethod = "blocks"\narms = [{ code = "A" }, { code = "A" }]\n'
        'ratio = [1, 2]\nblock_sizes = [2, 4]\nstrata = [{ name = "site" }]\n'
    )
    res = _run("--design", str(bad), "--seed", "1", "--per-stratum", "4", "-o",
               str(tmp_path / "l.csv"))  # fmt: skip
    assert res.exit_code == 2 and "Traceback" not in res.output
    text = res.output
    assert "line 2: allocation.method: must be one of permuted-blocks, minimization" in text
    assert "allocation.arms: arm code 'A' is given twice" in text
    assert "allocation.block_sizes.0: must be a multiple of sum(ratio) = 3" in text
    assert "allocation.strata.0: a stratum is { name = TEXT, levels = [TEXT, ...] }" in text
    assert not (tmp_path / "l.csv").exists()


def test_minimization_prints_the_imbalance_per_factor(tmp_path: Path) -> None:
    design = tmp_path / "allocation.toml"
    design.write_text(DESIGN)
    res = _run("--design", str(design), "--seed", "3", "--method", "minimization", "--n", "80")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["n"] == 80 and sum(out["arms"].values()) == 80
    assert set(out["factors"]) == {"site", "baseline_uws"}
    for factor in out["factors"].values():
        assert factor["imbalance"] >= 0 and len(factor["levels"]) == 2


def _design(p_best: float):  # noqa: ANN202
    return parse_design(
        {
            "method": "minimization",
            "arms": [{"code": "A"}, {"code": "B"}],
            "strata": [{"name": "site", "levels": ["1", "2", "3"]},
                       {"name": "sex", "levels": ["F", "M"]}],
            "p_best": p_best,
        }
    )  # fmt: skip


def test_minimization_keeps_the_margins_balanced_as_pocock_and_simon_describe() -> None:
    """Deterministic minimization (p_best = 1) keeps every level of every factor within 2 of
    balance here; with p_best = 0.8 the largest marginal imbalance over 200 trials of 100
    patients stays a fraction of what complete randomization gives (for a level of about 33
    patients, E|A - B| = sqrt(2 x 33 / pi) = 4.6 by itself, and the largest of 5 levels more)."""
    worst = [
        max(f["imbalance"] for f in simulate(_design(1.0), n=100, seed=s)["factors"].values())
        for s in range(50)
    ]
    assert max(worst) <= 2
    worst = [
        max(f["imbalance"] for f in simulate(_design(0.8), n=100, seed=s)["factors"].values())
        for s in range(200)
    ]
    assert mean(worst) < 4.0
    totals = [simulate(_design(0.8), n=100, seed=s)["arms"] for s in range(50)]
    assert max(abs(t["A"] - t["B"]) for t in totals) <= 6
