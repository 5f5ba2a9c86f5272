"""``xerotrial study check`` and ``xerotrial study diff``: the command-line contracts."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from xerotrial.cli import app
from xerotrial.study import SEED_STUDY

from .definitions import GOOD, line_of

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def _write(tmp: Path, text: str, name: str = "study.toml") -> str:
    (tmp / name).write_text(text, encoding="utf-8")
    return str(tmp / name)


def test_check_ok_prints_one_summary_line() -> None:
    res = run("study", "check", str(SEED_STUDY))
    assert res.exit_code == 0, res.output
    assert (
        res.output
        == f"{SEED_STUDY}: ok, study NCT03874572 version 1.0: 15 forms, 146 fields, 6 visits\n"
    )


def test_check_bad_exits_2_listing_every_problem_located(tmp_path: Path) -> None:
    text = GOOD.replace('type = "yesno"', 'type = "boolean"').replace("day = 30", "day = 99")
    path = _write(tmp_path, text)
    res = run("study", "check", path)
    assert res.exit_code == 2 and "Traceback" not in res.output
    lines = res.output.splitlines()
    assert lines[0] == f"error: {path}: 2 problems in the study definition:"
    assert lines[1].startswith(
        f"  {path}: line {line_of(text, 'serious = ')}: forms.adverse_events.fields.serious.type:"
        " unknown type 'boolean'"
    )
    assert lines[2] == (
        f"  {path}: line {line_of(text, 'day = 99')}: visits.month1.day: "
        "target day 99 is outside the window [20, 40]"
    )


def test_check_missing_file_exits_2(tmp_path: Path) -> None:
    res = run("study", "check", str(tmp_path / "none.toml"))
    assert res.exit_code == 2 and "no such file" in res.output


def test_diff_lists_each_change_on_one_line(tmp_path: Path) -> None:
    old = _write(tmp_path, GOOD, "old.toml")
    new_text = (
        GOOD.replace("hi = 60", "hi = 90")
        .replace('note = {type = "text", show_if = "minutes > 11"}\n', "")
        .replace(
            "[visits.month1]",
            "[visits.month3]\nlabel = 'M3'\nday = 90\nwindow = [80, 100]\n\n[visits.month1]",
        )
        .replace(
            'sialometry = ["baseline", "month1"]', 'sialometry = ["baseline", "month1", "month3"]'
        )
        .replace('version = "1"', 'version = "2"')
        + '\n[forms.saliva]\ntitle = "Saliva"\nkey = ["subject"]\n[forms.saliva.fields]\n'
        'subject = {type = "text"}\n'
    )
    new = _write(tmp_path, new_text, "new.toml")
    res = run("study", "diff", old, new)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == [
        "~ version: '1' -> '2'",
        "+ visit month3",
        "~ schedule sialometry: ['baseline', 'month1'] -> ['baseline', 'month1', 'month3']",
        "+ form saliva",
        "- field sialometry.note",
        "~ field sialometry.minutes: hi 60.0 -> 90.0",
    ]
    same = run("study", "diff", old, old)
    assert same.exit_code == 0 and same.output == "no changes\n"


def test_diff_of_a_bad_definition_exits_2(tmp_path: Path) -> None:
    old = _write(tmp_path, GOOD, "old.toml")
    bad = _write(tmp_path, GOOD.replace('"block"', '"coin"'), "bad.toml")
    res = run("study", "diff", old, bad)
    assert (
        res.exit_code == 2 and "allocation.method: unknown allocation method 'coin'" in res.output
    )
