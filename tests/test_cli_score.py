"""`xerotrial score qlq-hn35|xq`: the CSV contract and its errors (exit status 2)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from xerotrial.cli import app

runner = CliRunner()
HN_ITEMS = [f"hn{i}" for i in range(31, 66)]
XQ_ITEMS = [f"xq{i}" for i in range(1, 9)]
HN_SCORES = [
    "HNPA",
    "HNSW",
    "HNSE",
    "HNSP",
    "HNSO",
    "HNSC",
    "HNSX",
    "HNTE",
    "HNOM",
    "HNDR",
    "HNSS",
    "HNCO",
    "HNFI",
    "HNPK",
    "HNNU",
    "HNFE",
    "HNWL",
    "HNWG",
]


def write(tmp_path: Path, text: str, name: str = "items.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def hn_csv(*rows: dict[str, str]) -> str:
    """Header id, hn31..hn65, note; each row all "1" unless given."""
    lines = [",".join(["id", *HN_ITEMS, "note"])]
    for row in rows:
        cells = {"id": "P", "note": "free text"} | {c: "1" for c in HN_ITEMS} | row
        lines.append(",".join(cells[c] for c in ["id", *HN_ITEMS, "note"]))
    return "\n".join(lines) + "\n"


def xq_csv(*rows: str) -> str:
    return "id," + ",".join(XQ_ITEMS) + ",visit\n" + "".join(r + "\n" for r in rows)


def score(*args) -> object:
    return runner.invoke(app, ["score", *map(str, args)])


def test_xq_to_stdout(tmp_path):
    path = write(
        tmp_path,
        xq_csv(
            "007,5,6,7,8,2,3,4,5,day0",
            "P2,5,,,,2,3,4,5,day0",
            "P3,,,,,,,,,day0",
            "P4,1,,2,,,,,,day0",
        ),
    )
    res = score("xq", path)
    assert res.exit_code == 0, res.output
    assert res.stderr == ""
    assert res.stdout.splitlines() == [
        "id,xq_summary,xq_eating,xq_non_eating",
        "007,50.0,60.0,40.0",  # the id keeps its leading zeros; the extra column is ignored
        "P2,38.0,,40.0",
        "P3,,,",
        "P4,,,",
    ]


def test_qlq_hn35_to_file_full_precision(tmp_path):
    path = write(
        tmp_path,
        hn_csv(
            {
                "id": "A",
                "hn41": "3",
                "hn35": "2",
                "hn36": "3",
                "hn37": "",
                "hn38": "1",
                "hn61": "2",
            },
            {"id": "B", "hn42": "", "hn62": " 2 "},
        ),
    )
    out = tmp_path / "scores.csv"
    res = score("qlq-hn35", path, "-o", out)
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    text = out.read_text()
    lines = text.splitlines()
    assert lines[0] == ",".join(["id", *HN_SCORES])
    a = dict(zip(lines[0].split(","), lines[1].split(","), strict=True))
    assert a["HNDR"] == repr(200 / 3) == "66.66666666666667"  # not rounded
    assert a["HNSW"] == repr(100 / 3)
    assert a["HNPK"] == "100.0" and a["HNNU"] == "0.0"
    frame = pd.read_csv(io.StringIO(text), keep_default_na=True)
    assert pd.isna(frame.loc[1, "HNSS"]) and frame.loc[1, "HNNU"] == 100.0
    assert lines[2].split(",")[HN_SCORES.index("HNSS") + 1] == ""


def test_long_option_and_bom(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_text(xq_csv("1,0,0,0,0,0,0,0,0,x"), encoding="utf-8-sig")
    out = tmp_path / "o.csv"
    res = score("xq", path, "--output", out)
    assert res.exit_code == 0, res.output
    assert out.read_text().splitlines()[1] == "1,0.0,0.0,0.0"


@pytest.mark.parametrize(
    ("command", "text", "where"),
    [
        (
            "qlq-hn35",
            hn_csv({}, {"hn41": "5"}),
            "line 3 (data row 2), column 'hn41': value 5 is out",
        ),
        ("qlq-hn35", hn_csv({"hn31": "0"}), "line 2 (data row 1), column 'hn31': value 0 is out"),
        ("qlq-hn35", hn_csv({"hn63": "3"}), "column 'hn63': value 3 is out of range"),
        ("qlq-hn35", hn_csv({"hn40": "2.5"}), "column 'hn40': value 2.5 is not a whole number"),
        ("qlq-hn35", hn_csv({"hn40": "abc"}), "column 'hn40': 'abc' is not a number"),
        (
            "xq",
            xq_csv("1,0,0,0,0,0,0,0,0,x", "2,0,11,0,0,0,0,0,0,x"),
            "line 3 (data row 2), column 'xq2': value 11 is out of range",
        ),
        ("xq", xq_csv("1,0,0,0,0,0,0,0,NA,x"), "column 'xq8': 'NA' is not a number"),
        (
            "xq",
            "id,xq1,xq2\n1,2,3\n",
            "column(s) ['xq3', 'xq4', 'xq5', 'xq6', 'xq7', 'xq8'] not found",
        ),
        ("xq", "subject," + ",".join(XQ_ITEMS) + "\n", "id column 'id' not found"),
        ("qlq-hn35", xq_csv("1,0,0,0,0,0,0,0,0,x"), "column(s) ['hn31'"),
    ],
)
def test_data_errors_name_file_row_and_column(tmp_path, command, text, where):
    path = write(tmp_path, text)
    res = score(command, path)
    assert res.exit_code == 2
    assert res.stdout == ""
    assert res.stderr.startswith(f"error: {path}: ")
    assert where in res.stderr
    assert "Traceback" not in res.output


def test_error_writes_no_output_file(tmp_path):
    path = write(tmp_path, xq_csv("1,0,0,0,0,0,0,0,99,x"))
    out = tmp_path / "o.csv"
    assert score("xq", path, "-o", out).exit_code == 2
    assert not out.exists()


def test_header_only_gives_header_only(tmp_path):
    res = score("xq", write(tmp_path, xq_csv()))
    assert res.exit_code == 0, res.output
    assert res.stdout == "id,xq_summary,xq_eating,xq_non_eating\n"
    res = score("qlq-hn35", write(tmp_path, hn_csv(), "hn.csv"))
    assert res.stdout == ",".join(["id", *HN_SCORES]) + "\n"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d / "absent.csv", "no such file"),
        (lambda d: write(d, ""), "the file holds no table"),
        (lambda d: write(d, "id;xq1;xq2\n1;2;3\n"), "save the file as comma-separated"),
        # a separator at the end of each line used to shift every column (ids became scores)
        (lambda d: write(d, "id,xq1\n1,2,3\n"), "line 2, value '3': 3 values but the header has 2"),
        (lambda d: write(d, "id,xq1\nid,xq1\n"), "line 2: repeats the header"),
        (
            lambda d: d / "items.csv" if d.joinpath("items.csv").write_bytes(b"id\n\xe9\n") else 0,
            "not UTF-8",
        ),
    ],
)
def test_file_errors(tmp_path, setup, message):
    res = score("xq", setup(tmp_path))
    assert res.exit_code == 2
    assert res.stderr.startswith("error: ") and message in res.stderr
    assert "Traceback" not in res.output


def test_unwritable_output(tmp_path):
    path = write(tmp_path, xq_csv("1,0,0,0,0,0,0,0,0,x"))
    res = score("xq", path, "-o", tmp_path / "no" / "such" / "dir.csv")
    assert res.exit_code == 2 and "cannot write it" in res.stderr


def test_help_lists_both_commands():
    res = runner.invoke(app, ["score", "--help"])
    assert res.exit_code == 0
    assert "qlq-hn35" in res.stdout and "xq" in res.stdout


def test_installed_entry_point(tmp_path):
    exe = Path(sys.executable).with_name("xerotrial")
    if not exe.exists():
        pytest.skip("console script not installed next to this interpreter")
    path = write(tmp_path, xq_csv("P1,5,6,7,8,2,3,4,5,day0"))
    done = subprocess.run(
        [exe, "score", "xq", path], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "id,xq_summary,xq_eating,xq_non_eating",
        "P1,50.0,60.0,40.0",
    ]


def test_a_separator_at_the_end_of_every_line_changes_nothing(tmp_path):
    # spreadsheet exports end each line with a separator; pandas once took the ids for an index
    plain = xq_csv("P1,1,2,3,4,5,6,7,8,day0", "P2,0,0,0,0,10,10,10,10,day0")
    trailing = "".join(line + ",\n" for line in plain.splitlines())
    a = score("xq", write(tmp_path, plain, "a.csv"))
    b = score("xq", write(tmp_path, trailing, "b.csv"))
    assert a.exit_code == b.exit_code == 0, b.output
    assert a.stdout == b.stdout and a.stdout.splitlines()[1].startswith("P1,")
