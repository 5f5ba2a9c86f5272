"""The command line as a whole: what it imports, --version, -h on every command, python -m,
choices in the help, shell completion. (Start-up *times* are measured by
benchmarks/startup.py, never asserted here.)"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys

import click
import pytest
from typer.testing import CliRunner

import xerotrial
from xerotrial.cli import SHELLS, app, cli

runner = CliRunner()
HEAVY = (
    "numpy",
    "pandas",
    "scipy",
    "matplotlib",
    "sqlalchemy",
    "rich",
    "typer",
    "pydantic",
    "formulaic",
    "alembic",
)


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"import sys, json\n{code}\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    done = _python(probe)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_command_line_loads_no_heavy_library() -> None:
    assert _loaded_after("import xerotrial.cli") == []


@pytest.mark.parametrize(
    "args", [["--help"], ["fit", "--help"], ["power", "-h"], ["export", "-h"], ["--version"]]
)
def test_help_and_version_load_no_heavy_library(args: list[str]) -> None:
    code = (
        "from xerotrial.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit as e:\n    assert e.code == 0, e.code"
    )
    assert _loaded_after(code) == []


def test_version_is_the_installed_distribution() -> None:
    expected = f"xerotrial {importlib.metadata.version('xerotrial')}\n"
    assert xerotrial.__version__ == importlib.metadata.version("xerotrial")
    for flag in ("--version", "-V"):
        res = runner.invoke(app, [flag])
        assert res.exit_code == 0 and res.stdout == expected


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += _command_paths(command, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


PATHS = _command_paths(cli)


def test_every_command_of_the_readme_is_there() -> None:
    names = {" ".join(p) for p in PATHS}
    assert names >= {
        "fit",
        "score qlq-hn35",
        "score xq",
        "power",
        "init",
        "import",
        "template",
        "edit",
        "audit verify",
        "audit show",
        "export",
        "report",
        "demo",
        "completion",
    }


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "xerotrial")
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_every_command_has_short_and_long_help(path: tuple[str, ...], flag: str) -> None:
    res = runner.invoke(app, [*path, flag])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(f"Usage: xerotrial {' '.join(path)}".rstrip())
    assert "-h, --help" in res.stdout


def test_groups_without_a_command_show_their_help_and_exit_2() -> None:
    for path in ([], ["score"], ["audit"]):
        res = runner.invoke(app, path)
        assert res.exit_code == 2 and "Usage: xerotrial" in res.output


def test_python_m_xerotrial() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "xerotrial", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout == f"xerotrial {xerotrial.__version__}\n"
    done = subprocess.run(
        [sys.executable, "-m", "xerotrial", "fit", "-h"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.startswith("Usage: xerotrial fit")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "xerotrial",
            "fit",
            "x.csv",
            "--subject",
            "s",
            "--formula",
            "y ~ 1",
            "--covariance",
            "banded",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "'banded' is not one of" in done.stderr


def test_choices_are_shown_as_choices_and_flags_without_a_type() -> None:
    fit = runner.invoke(app, ["fit", "-h"]).stdout
    assert (
        "--covariance [random-intercept|un|cs|csh|ar1|arh1|toep|toeph|adh|diag|sp-exp|sp-gau|"
        "sp-pow]"
    ) in fit
    assert "--vcov [model|empirical|empirical-jackknife|empirical-bias-reduced]" in fit
    assert (
        "--df [containment|between-within|residual|satterthwaite|kenward-roger|"
        "kenward-roger-linear]"
    ) in fit
    assert "--kr-information [observed|expected]" in fit
    assert "[default: kenward-roger]" in " ".join(fit.split())
    power = runner.invoke(app, ["power", "-h"]).stdout
    assert "--covariance [random-intercept|un|cs|csh|ar1|arh1|toep|toeph|adh|diag]" in power
    report = runner.invoke(app, ["report", "-h"]).stdout
    for text in (fit, power, report):
        assert "bool" not in text.lower()
    assert "--json  " in " ".join(fit.split("\n"))  # a bare flag: no metavar after it
    assert "--synthetic / --not-synthetic" in report


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_script(shell: str) -> None:
    res = runner.invoke(app, ["completion", shell])
    assert res.exit_code == 0, res.output
    assert "_XEROTRIAL_COMPLETE" in res.stdout and f"{shell}_complete" in res.stdout


def test_unknown_shell_exits_2() -> None:
    res = runner.invoke(app, ["completion", "tcsh"])
    assert res.exit_code == 2 and "'tcsh' is not one of" in res.output


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("xerotrial fi", 1, {"fit"}),
        ("xerotrial fit data.csv --cov", 3, {"--covariance"}),
        ("xerotrial fit data.csv --kr-information ", 4, {"observed", "expected"}),
        ("xerotrial fit data.csv --method ", 4, {"REML", "ML"}),
        ("xerotrial audit ", 2, {"verify", "show", "keygen", "checkpoint"}),
    ],
)
def test_completion_protocol(words: str, cword: int, expected: set[str]) -> None:
    """What the bash script asks the command: the real entry point in a fresh process."""
    done = _python(
        "from xerotrial.cli import main\nmain()",
        _XEROTRIAL_COMPLETE="bash_complete",
        COMP_WORDS=words,
        COMP_CWORD=str(cword),
    )
    assert done.returncode == 0, done.stderr
    got = {line.split(",", 1)[1] for line in done.stdout.splitlines()}
    assert got == expected
