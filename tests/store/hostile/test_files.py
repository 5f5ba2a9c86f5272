"""Odd files: encodings, separators, trailing separators, short and long lines, repeated
headers, blank lines, quoting, and Excel workbooks with extra or hidden sheets, hidden rows
and columns, merged cells. Each is refused with the file's line, or read exactly right."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine

from xerotrial.errors import DataValidationError
from xerotrial.store.errors import ImportRejectedError
from xerotrial.store.export import read_form
from xerotrial.store.importer import import_file
from xerotrial.tables import TableError, read_table

SITES = "site,name,country\n"


def _write(tmp_path: Path, data: str | bytes, name: str = "sites.csv") -> Path:
    path = tmp_path / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def _refused(engine: Engine, path: Path, form: str = "sites") -> list[tuple]:
    with pytest.raises(DataValidationError) as info:
        import_file(engine, form, path, user="hostile")
    assert isinstance(info.value, TableError | ImportRejectedError)
    return [(p.line, p.column, p.rule) for p in info.value.problems]


# (file bytes or text, the line named, words of the rule)
REFUSED = [
    ("site;name;country\nS9;Herlev;DK\n", 1, "separated by ';'"),
    ("site\tname\tcountry\nS9\tHerlev\tDK\n", 1, "separated by tabs"),
    (SITES + "S9,Herlev,DK,extra\n", 2, "4 values but the header has 3"),
    (SITES + "S9,Herlev\n", 2, "2 values but the header has 3"),
    (SITES + "S9,Herlev,DK\nsite,name,country\nS8,Odense,DK\n", 3, "repeats the header"),
    (SITES + "S9,Herlev,DK\n SITE , Name,COUNTRY\n", 3, "repeats the header"),
    ("site,name,site\nS9,Herlev,DK\n", 1, "names 'site' twice"),
    ("site,,country\nS9,Herlev,DK\n", 1, "a column with no name"),
    ("site,name,country,\nS9,Herlev,DK,oops\n", 2, "a column with no header"),
    ((SITES + "S9,Herl\xe9v,DK\n").encode("latin-1"), 2, "not UTF-8"),
    ((SITES + "S9,\u201cHerlev\u201d,DK\n").encode("cp1252"), 2, "not UTF-8"),
    ((SITES + "S9,Herlev,DK\n").encode("utf-16"), 1, "UTF-16"),
    (b"PK\x03\x04\x00\x00binary", None, "binary file"),
    ("", None, "holds no table"),
    ("\n\n  \n", None, "holds no table"),
    (SITES + 'S9,"Herlev,DK\n', 2, "bad CSV quoting"),
]


@pytest.mark.parametrize(("data", "line", "rule"), REFUSED)
def test_odd_csv_files_are_refused(data, line, rule, unchanged: Engine, tmp_path: Path) -> None:
    problems = _refused(unchanged, _write(tmp_path, data))
    assert any(p[0] == line and rule in p[2] for p in problems), problems


@pytest.mark.parametrize(
    "text",
    [
        "site,name,country,\nS9,Herlev,DK,\nS8,Odense,DK,\n",  # a separator ends every line
        "site,name,country\nS9,Herlev,DK,\nS8,Odense,DK,,\n",  # ... or only the data lines
        "\ufeffsite,name,country\r\nS9,Herlev,DK\r\n\r\nS8,Odense,DK\r\n",  # BOM, CRLF, blank
        'site,name,country\nS9,"Herlev"\nS8,Odense,DK\n'.replace('"Herlev"\n', '"Herlev",DK\n'),
    ],
)
def test_trailing_separators_and_blank_lines_read_right(text: str, scratch: Engine, tmp_path):
    assert import_file(scratch, "sites", _write(tmp_path, text)).inserted == 2
    sites = read_form(scratch, "sites").set_index("site")
    assert sites.loc["S9", ["name", "country"]].tolist() == ["Herlev", "DK"]
    assert sites.loc["S8", ["name", "country"]].tolist() == ["Odense", "DK"]


def test_lines_are_the_files_lines_after_blank_lines_and_quoted_newlines(
    unchanged: Engine, tmp_path: Path
) -> None:
    text = SITES + '\n\nS9,"Herlev\nHospital",DK\n\nS8,Odense,' + "D" * 201 + "\n"
    problems = _refused(unchanged, _write(tmp_path, text))
    assert problems == [(7, "country", "must be at most 200 characters")]


def test_formulas_are_text_never_run(scratch: Engine, tmp_path: Path) -> None:
    text = SITES + 'S9,"=HYPERLINK(""http://x"",""y"")",+DK\nS8,@SUM(1+1),-1+2\n'
    import_file(scratch, "sites", _write(tmp_path, text))
    sites = read_form(scratch, "sites").set_index("site")
    assert sites.loc["S9", "name"] == '=HYPERLINK("http://x","y")'
    assert sites.loc["S8", ["name", "country"]].tolist() == ["@SUM(1+1)", "-1+2"]


def test_a_header_only_file_imports_nothing(scratch: Engine, tmp_path: Path) -> None:
    assert import_file(scratch, "sites", _write(tmp_path, SITES + "\n")).inserted == 0


# ------------------------------------------------------------------------------------- Excel


def _book(tmp_path: Path, rows: list[list], setup=None) -> Path:  # noqa: ANN001
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "sites"
    for r in rows:
        ws.append(r)
    if setup is not None:
        setup(wb, ws)
    path = tmp_path / "sites.xlsx"
    wb.save(path)
    return path


ROWS = [["site", "name", "country"], ["S9", "Herlev", "DK"], ["S8", "Odense", "DK"]]


def _second_sheet(wb, ws) -> None:  # noqa: ANN001
    wb.create_sheet("more").append(["S7", "Aarhus", "DK"])


def _hidden_sheet(wb, ws) -> None:  # noqa: ANN001
    extra = wb.create_sheet("old")
    extra.append(["S7"])
    extra.sheet_state = "hidden"


def _hidden_row(wb, ws) -> None:  # noqa: ANN001
    ws.row_dimensions[3].hidden = True


def _hidden_column(wb, ws) -> None:  # noqa: ANN001
    ws.column_dimensions["B"].hidden = True


def _merged(wb, ws) -> None:  # noqa: ANN001
    ws.merge_cells("C2:C3")


@pytest.mark.parametrize(
    ("setup", "line", "rule"),
    [
        (_second_sheet, None, "2 sheets hold data ('sites', 'more')"),
        (_hidden_sheet, None, "2 sheets hold data ('sites', 'old')"),
        (_hidden_row, 3, "a value in a hidden row"),
        (_hidden_column, 2, "a value in a hidden column"),
        (_merged, 2, "cells C2:C3 are merged"),
    ],
)
def test_odd_workbooks_are_refused(setup, line, rule, unchanged: Engine, tmp_path: Path) -> None:
    problems = _refused(unchanged, _book(tmp_path, ROWS, setup))
    assert any(p[0] == line and rule in p[2] for p in problems), problems


def test_a_workbook_reads_right_and_names_sheet_rows(scratch: Engine, tmp_path: Path) -> None:
    path = _book(tmp_path, [[None], [None], *ROWS[:2], [None, None], ["S8", "Odense", "D" * 201]])
    problems = _refused(scratch, path)
    assert problems == [(6, "country", "must be at most 200 characters")]
    frame = read_table(_book(tmp_path, [[None], *ROWS]))
    assert frame.attrs["lines"] == [3, 4] and frame.attrs["header_line"] == 2
    assert import_file(scratch, "sites", tmp_path / "sites.xlsx").inserted == 2


def test_excel_numbers_dates_and_text_numbers(scratch: Engine, tmp_path: Path) -> None:
    import datetime as dt

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["screening_id", "subject", "screening_date", "eligible", "failed_criteria"])
    ws.append(["SCR9", None, dt.datetime(2024, 1, 5), False, "age"])
    ws.append(["SCR8", None, "2024-01-06", "no", 1_0])  # a number in a text column is text
    path = tmp_path / "screening.xlsx"
    wb.save(path)
    assert import_file(scratch, "screening", path).inserted == 2
    got = read_form(scratch, "screening").set_index("screening_id")
    assert got.loc["SCR9", "screening_date"] == dt.date(2024, 1, 5)
    assert got.loc["SCR8", "failed_criteria"] == "10"


def test_old_excel_files_are_refused_with_advice(unchanged: Engine, tmp_path: Path) -> None:
    path = _write(tmp_path, b"\xd0\xcf\x11\xe0", "sites.xls")
    with pytest.raises(DataValidationError, match="save it as .xlsx or CSV"):
        import_file(unchanged, "sites", path)


def test_a_missing_optional_column_is_named(unchanged: Engine, tmp_path: Path) -> None:
    problems = _refused(unchanged, _write(tmp_path, "site,name\nS9,Herlev\n"))
    assert (
        problems == [(1, "country", problems[0][2])]
        and "optional column missing" in (problems[0][2])
    )
