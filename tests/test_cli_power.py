"""`xerotrial power`: the command-line contract, the figure, TOML designs and errors (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from xerotrial.cli import app

runner = CliRunner()
CONTRACT = [
    "power",
    "--n-per-arm",
    "20,30",
    "--visits",
    "4",
    "--effect",
    "0,0,0,0.05",
    "--sd",
    "0.1",
    "--correlation",
    "0.6",
    "--dropout",
    "0.1",
    "--covariance",
    "un",
    "--df",
    "kenward-roger",
    "--alpha",
    "0.05",
    "--sims",
    "300",
    "--seed",
    "1",
]


def test_json_contract():
    res = runner.invoke(app, [*CONTRACT, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) == {"results", "fits_per_second"}
    assert [r["n_per_arm"] for r in out["results"]] == [20, 30]
    for r in out["results"]:
        assert set(r) == {"n_per_arm", "power", "mc_se", "n_sims", "n_failed"}
        assert r["n_sims"] == 300 and 0 <= r["power"] <= 1
        assert r["mc_se"] == pytest.approx(np.sqrt(r["power"] * (1 - r["power"]) / 300))
    assert out["fits_per_second"] > 0
    # deterministic from --seed, whatever the number of processes
    again = runner.invoke(app, [*CONTRACT, "--json", "--workers", "1"])
    assert json.loads(again.stdout)["results"] == out["results"]


def test_table_plot_and_target(tmp_path):
    fig = tmp_path / "curve.svg"
    res = runner.invoke(app, [*CONTRACT, "--plot", str(fig), "--target-power", "0.1"])
    assert res.exit_code == 0, res.output
    assert "power" in res.stdout and "Smallest n per arm" in res.stdout
    assert fig.read_text().lstrip().startswith("<?xml")
    png = tmp_path / "curve.png"
    res = runner.invoke(app, [*CONTRACT, "--plot", str(png), "--json", "--target-power", "0.99"])
    assert json.loads(res.stdout)["n_per_arm_required"] is None
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_toml_design_and_flag_override(tmp_path):
    cfg = tmp_path / "design.toml"
    cfg.write_text(
        "visits = 3\neffect = [0.0, 0.0, 0.5]\nsd = 1.0\ncorrelation = 0.5\n"
        'covariance = "cs"\ndf_method = "satterthwaite"\nn_per_arm = [10]\n'
        "sims = 50\nseed = 3\n"
    )
    res = runner.invoke(app, ["power", "--config", str(cfg), "--json"])
    assert res.exit_code == 0, res.output
    base = json.loads(res.stdout)["results"][0]
    assert base["n_per_arm"] == 10 and base["n_sims"] == 50
    res = runner.invoke(app, ["power", "--config", str(cfg), "--sims", "60", "--json"])
    assert json.loads(res.stdout)["results"][0]["n_sims"] == 60


def test_from_data(tmp_path):
    rng = np.random.default_rng(0)
    n, t = 30, 3
    frame = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n), t),
            "arm": np.repeat(np.where(np.arange(n) < n // 2, "placebo", "msc"), t),
            "visit": np.tile(["d0", "d30", "d120"], n),
        }
    )
    frame["y"] = (
        rng.normal(size=n)[frame["id"]]
        + rng.normal(size=n * t)
        + 0.5 * ((frame["arm"] == "msc") & (frame["visit"] == "d120"))
    )
    path = tmp_path / "pilot.csv"
    frame.to_csv(path, index=False)
    res = runner.invoke(
        app,
        [
            "power",
            "--from-data",
            str(path),
            "--formula",
            "y ~ arm * visit",
            "--subject",
            "id",
            "--time",
            "visit",
            "--arm",
            "arm",
            "--reference",
            "placebo",
            "--n-per-arm",
            "10",
            "--sims",
            "40",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["results"][0]["n_sims"] == 40


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--effect", "0,0,0.05"], "one per visit"),
        (["--covariance", "banded"], "--covariance"),
        (["--df", "exact"], "--df"),
        (["--n-per-arm", "x"], "--n-per-arm"),
        (["--plot", "curve.pdf"], ".png or .svg"),
        (["--dropout", "1.2"], "dropout"),
        (["--target-power", "1.5"], "--target-power"),
        (["--config", "missing.toml"], "no such file"),
    ],
)
def test_errors_exit_2(args, message):
    base = [
        "power",
        "--n-per-arm",
        "20",
        "--visits",
        "4",
        "--effect",
        "0,0,0,0.05",
        "--sd",
        "0.1",
        "--correlation",
        "0.6",
        "--sims",
        "10",
    ]
    res = runner.invoke(app, [*base, *args])
    assert res.exit_code == 2
    assert "error:" in res.stderr.lower() and message in res.stderr
