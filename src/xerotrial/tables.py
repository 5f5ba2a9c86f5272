"""Reading a CSV or Excel file as a table, strictly: every cell lands in its column or the
file is refused, naming the line and the rule.

One reader for every command that takes a table (``import``, ``score``, ``fit``, ``power
--from-data``), so that they all refuse the same files:

* **CSV**: UTF-8 (a BOM is allowed), comma-separated, quotes as RFC 4180. A file in another
  encoding, a binary file, a header separated by ``;`` or tabs, a header with a repeated or
  empty name, a line with more or fewer values than the header, or a line that repeats the
  header (two exports pasted together) is refused. A separator at the end of every line (common
  in spreadsheet exports) only adds empty cells, which are dropped; a value there is refused.
  Blank lines are skipped.
* **Excel (.xlsx, .xlsm)**: the header is the first non-blank row of the one sheet that holds
  data; a second sheet with data, a hidden row or column with data and merged cells (whose
  value would land in their first cell only) are refused. Cells keep their native values
  (numbers, dates); formulas are never evaluated (their last saved value is read).

The frame has one row per data row and ``frame.attrs``: ``file``, ``lines`` (the file's line,
or the sheet's row, of each data row, 1-based), ``header_line`` and ``sheet``. With
``numeric=True`` columns whose every filled cell is a number become numbers (as
``pandas.read_csv`` does, with its missing-value words ``NA``, ``NaN``, ``NULL``, ...), but
a number is only a plain decimal (``1_0`` and ``١٢`` are text) and ``inf`` in a numeric
column is refused.

Example
-------
>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "a.csv")
>>> _ = open(path, "w").write("id,score,\\nP1,3,\\n\\nP2,4,\\n")
>>> frame = read_table(path)
>>> frame.values.tolist(), frame.attrs["lines"]
([['P1', '3'], ['P2', '4']], [2, 4])
>>> parse_number("1_0") is None, parse_number(" 2.5e1 ")
(True, 25.0)
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import DataValidationError, Problem

if TYPE_CHECKING:  # pandas is imported when a table is read
    import pandas as pd

__all__ = ["EXCEL_SUFFIXES", "MISSING_WORDS", "TableError", "parse_number", "read_table"]

#: File suffixes read as Excel workbooks.
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
#: Words that mean a missing value in ``numeric`` mode (``pandas.read_csv``'s defaults, less
#: the infinities, which are refused).
MISSING_WORDS = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND"}
    | {"1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_INFINITE = re.compile(r"[+-]?(?:inf|infinity)", re.ASCII | re.IGNORECASE)
_MAX_PROBLEMS = 50


class TableError(DataValidationError):
    """A file that cannot be read as a table: ``problems`` names each line and rule."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        n = len(problems)
        head = f"{file}: cannot be read as a table ({n} problem{'s' * (n != 1)}):"
        super().__init__(
            "\n".join([head, *(f"  {p}" for p in problems)]), file=file, problems=problems
        )
        self.summary = head


def parse_number(text: Any) -> float | None:
    """A plain decimal number (``12``, ``-0.5``, ``1e-3``), or None for anything else.

    ``float()`` would also take ``1_0`` (10), ``١٢`` (12), ``inf`` and ``nan``; a CRF's number
    is none of those.

    >>> [parse_number(t) for t in ("12", "-0.5", "1e-3", "1_0", "inf", "1,5")]
    [12.0, -0.5, 0.001, None, None, None]
    """
    s = str(text).strip()
    return float(s) if _NUMBER.fullmatch(s) else None


@dataclass
class _Rows:
    header: list[str]
    rows: list[list[Any]]
    lines: list[int]
    head_line: int = 1
    sheet: str | None = None


def _problem(file: str, line: int | None, column: str | None, value: Any, rule: str) -> Problem:
    return Problem(file, None, column, value, rule, line=line)


def _decode(path: Path, data: bytes) -> str:
    name = str(path)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise TableError(name, [_problem(name, 1, None, None, "UTF-16 text: save it as UTF-8")])
    if b"\x00" in data:
        raise TableError(name, [_problem(name, None, None, None, "a binary file, not a CSV")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise TableError(
            name,
            [_problem(name, line, None, f"0x{bad}", "not UTF-8 text: save the file as UTF-8")],
        ) from None


def _csv_rows(path: Path) -> _Rows:
    name = str(path)
    text = _decode(path, path.read_bytes())
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    end = 0
    try:
        for record in reader:
            start, end = end + 1, reader.line_num
            records.append((start, record))
    except csv.Error as exc:
        raise TableError(
            name, [_problem(name, end + 1, None, None, f"bad CSV quoting ({exc})")]
        ) from None
    filled = [(line, r) for line, r in records if any(c.strip() for c in r)]
    if not filled:
        raise TableError(name, [_problem(name, None, None, None, "the file holds no table")])
    (head_line, header), body = filled[0], filled[1:]
    return _Rows([c.strip() for c in header], [r for _, r in body], [n for n, _ in body], head_line)


def _check_header(name: str, t: _Rows, head_line: int) -> list[Problem]:
    """Drop trailing unnamed columns that hold nothing; refuse other unnamed or repeated names."""
    problems: list[Problem] = []
    while t.header and not t.header[-1]:
        k = len(t.header) - 1
        values = [(line, r[k]) for line, r in zip(t.lines, t.rows, strict=True) if len(r) > k]
        filled = [(line, v) for line, v in values if str(v).strip()]
        if filled:
            line, v = filled[0]
            problems.append(
                _problem(name, line, f"column {k + 1}", v, "a value in a column with no header")
            )
            break
        t.header.pop()
        t.rows = [r[:k] for r in t.rows]
    if len(t.header) == 1 and (";" in t.header[0] or "\t" in t.header[0]):
        sep = "';'" if ";" in t.header[0] else "tabs"
        problems.append(
            _problem(
                name,
                head_line,
                None,
                t.header[0][:60],
                f"the header is separated by {sep}: save the file as comma-separated values",
            )
        )
    seen: dict[str, int] = {}
    for k, c in enumerate(t.header, start=1):
        if not c:
            problems.append(_problem(name, head_line, f"column {k}", "", "a column with no name"))
        elif c in seen:
            problems.append(
                _problem(
                    name,
                    head_line,
                    c,
                    c,
                    f"the header names {c!r} twice (columns {seen[c]} and {k})",
                )
            )
        else:
            seen[c] = k
    return problems


def _check_rows(name: str, t: _Rows) -> list[Problem]:
    problems: list[Problem] = []
    width = len(t.header)
    folded = [c.casefold() for c in t.header]
    rows: list[list[Any]] = []
    lines: list[int] = []
    for line, r in zip(t.lines, t.rows, strict=True):
        if not any(str(c).strip() for c in r if c is not None):
            continue
        if len(r) > width:
            extra = [c for c in r[width:] if c is not None and str(c).strip()]
            if extra:
                problems.append(
                    _problem(
                        name,
                        line,
                        None,
                        extra[0],
                        f"{len(r)} values but the header has {width} columns "
                        "(a separator too many, or a missing column name?)",
                    )
                )
                continue
            r = r[:width]
        elif len(r) < width:
            problems.append(
                _problem(
                    name,
                    line,
                    t.header[len(r)],
                    None,
                    f"{len(r)} values but the header has {width} columns",
                )
            )
            continue
        if [str(c).strip().casefold() if c is not None else "" for c in r] == folded:
            problems.append(
                _problem(name, line, None, None, "repeats the header (two files pasted together?)")
            )
            continue
        rows.append(r)
        lines.append(line)
        if len(problems) >= _MAX_PROBLEMS:
            break
    t.rows, t.lines = rows, lines
    return problems


def _excel_rows(path: Path) -> _Rows:
    import openpyxl
    from openpyxl.utils import get_column_letter

    name = str(path)
    try:
        wb = openpyxl.load_workbook(path, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a user error here
        raise TableError(
            name, [_problem(name, None, None, None, f"not a workbook ({exc})")]
        ) from None
    problems: list[Problem] = []
    used = []
    for ws in wb.worksheets:
        cells = [c for row in ws.iter_rows() for c in row if not _blank(c.value)]
        if cells:
            used.append((ws, cells))
    if not used:
        raise TableError(name, [_problem(name, None, None, None, "the workbook holds no table")])
    if len(used) > 1:
        names = ", ".join(repr(ws.title) for ws, _ in used)
        raise TableError(
            name,
            [
                _problem(
                    name,
                    None,
                    None,
                    names,
                    f"{len(used)} sheets hold data ({names}): give one sheet per file",
                )
            ],
        )
    ws, cells = used[0]
    where = f"{name} [{ws.title}]"
    if ws.sheet_state != "visible":
        problems.append(_problem(where, None, None, ws.title, "the sheet holding data is hidden"))
    for rng in ws.merged_cells.ranges:
        problems.append(
            _problem(
                where,
                rng.min_row,
                get_column_letter(rng.min_col),
                rng.coord,
                f"cells {rng.coord} are merged: a merged cell's value is in its first cell only "
                "(unmerge them and fill every cell)",
            )
        )
    hidden_rows = {r for r, d in ws.row_dimensions.items() if d.hidden}
    hidden_cols: set[int] = set()
    for d in ws.column_dimensions.values():
        if d.hidden and d.min is not None:
            hidden_cols.update(range(d.min, (d.max or d.min) + 1))
    for c in cells:
        if c.row in hidden_rows or c.column in hidden_cols:
            what = "row" if c.row in hidden_rows else "column"
            problems.append(
                _problem(
                    where,
                    c.row,
                    get_column_letter(c.column),
                    c.value,
                    f"a value in a hidden {what} (unhide it or delete it)",
                )
            )
            if len(problems) >= _MAX_PROBLEMS:
                break
    if problems:
        raise TableError(name, problems)
    grid = [(i, list(row)) for i, row in enumerate(ws.iter_rows(values_only=True), start=1)]
    filled = [(i, r) for i, r in grid if any(not _blank(v) for v in r)]
    (head_line, header), body = filled[0], filled[1:]
    names = ["" if _blank(v) else str(v).strip() for v in header]
    return _Rows(names, [r for _, r in body], [i for i, _ in body], head_line, ws.title)


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _numeric(name: str, frame: pd.DataFrame, lines: list[int]) -> pd.DataFrame:
    import pandas as pd

    problems: list[Problem] = []
    for col in frame.columns:
        values = [
            None if isinstance(v, str) and v.strip() in MISSING_WORDS else v for v in frame[col]
        ]
        numbers: list[float | None] = []
        infinite: list[tuple[int, Any]] = []
        for line, v in zip(lines, values, strict=True):
            if v is None:
                numbers.append(None)
            elif isinstance(v, bool):
                break
            elif isinstance(v, int | float):
                if not math.isfinite(v):
                    infinite.append((line, v))
                numbers.append(v)
            elif _INFINITE.fullmatch(str(v).strip()):
                infinite.append((line, v))
                numbers.append(None)
            else:
                x = parse_number(v)
                if x is None:
                    break
                numbers.append(v)
        else:
            if infinite:
                for line, v in infinite[:_MAX_PROBLEMS]:
                    problems.append(_problem(name, line, str(col), v, "not a finite number"))
                continue
            frame[col] = pd.to_numeric(pd.Series(numbers, index=frame.index, dtype=object))
            continue
        frame[col] = pd.Series(values, index=frame.index, dtype=object)
    if problems:
        raise TableError(name, problems)
    return frame


def read_table(path: str | Path, *, numeric: bool = False) -> pd.DataFrame:
    """The data rows of a CSV or Excel file (see the module docstring).

    Cells are text (CSV) or native values (Excel), None where empty; ``numeric=True`` makes
    numeric columns numbers. Raises :class:`TableError` naming every problem, or
    :class:`DataValidationError` for a missing file.
    """
    import pandas as pd

    p = Path(path)
    name = str(p)
    if not p.is_file():
        raise DataValidationError(f"{name}: no such file", file=name)
    suffix = p.suffix.lower()
    if suffix == ".xls":
        raise DataValidationError(
            f"{name}: an Excel 97-2003 workbook (.xls): save it as .xlsx or CSV", file=name
        )
    t = _excel_rows(p) if suffix in EXCEL_SUFFIXES else _csv_rows(p)
    problems = _check_header(name, t, t.head_line)
    problems += _check_rows(name, t)
    if problems:
        raise TableError(name, problems)
    rows = [[None if _blank(v) else v for v in r] for r in t.rows]
    frame = pd.DataFrame(rows, columns=t.header, dtype=object)
    if numeric:
        frame = _numeric(name, frame, t.lines)
    frame.attrs.update(file=name, lines=list(t.lines), header_line=t.head_line, sheet=t.sheet)
    return frame
