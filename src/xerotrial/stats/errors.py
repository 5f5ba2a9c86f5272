"""Exceptions of the statistics engine: each says what is wrong and what to change.

The root of xerotrial's one family of exceptions (:mod:`xerotrial.errors` gathers the family,
the store's errors included): defined here so that the engine stands alone.

``str(error)`` is the message, for people; where the problem is in a file or table, keyword
fields say it for programs, so that no caller parses a message:

* ``file``: the file or source (``"data.csv"``; ``"data"`` for an in-memory table),
* ``row``: the 1-based data row (or a table's index label), ``line``: the file's line if known,
* ``column``, ``value`` (the value found there) and ``rule`` (what it breaks, without the
  location).

``problems`` lists the problems as :class:`Problem` records: the one of a located error, or
every problem of a rejected file (``xerotrial.errors.ImportRejectedError``). The message stays
the first positional argument: ``DataValidationError("data.csv: ...")`` works as it always did
(with no fields); :meth:`XerotrialError.at` writes the message from the fields.

Example
-------
>>> raise DataValidationError("data.csv: column 'uws' not found")
Traceback (most recent call last):
...
xerotrial.stats.errors.DataValidationError: data.csv: column 'uws' not found
>>> e = DataValidationError.at("items.csv", 2, "xq1", "11", "must be 0 to 10", line=3)
>>> print(e)
items.csv: line 3 (data row 2), column 'xq1', value '11': must be 0 to 10
>>> e.file, e.row, e.line, e.column, e.value, e.rule
('items.csv', 2, 3, 'xq1', '11', 'must be 0 to 10')
>>> e.problems
[Problem(file='items.csv', row=2, column='xq1', value='11', rule='must be 0 to 10', line=3)]
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Self

__all__ = [
    "ConvergenceError",
    "ConvergenceWarning",
    "DataValidationError",
    "DataWarning",
    "Problem",
    "XerotrialError",
]


@dataclass(frozen=True)
class Problem:
    """One validation problem: where (file, 1-based data row, column), the value and the rule.

    Row 0 is the header (a missing or unknown column).

    >>> str(Problem("a.csv", 3, "grade", "7", "must be <= 5"))
    "a.csv: row 3, column 'grade', value '7': must be <= 5"
    >>> str(Problem("a.csv", 3, "grade", "7", "must be <= 5", line=5))
    "a.csv: line 5 (data row 3), column 'grade', value '7': must be <= 5"
    """

    file: str | None
    row: int | Hashable | None
    column: str | None
    value: Any
    rule: str
    #: The file's line (or a sheet's row), where known.
    line: int | None = None

    def __str__(self) -> str:
        if self.line is None and self.row is None:
            if self.column is None:
                return f"{self.file}: {self.rule}"
            return f"{self.file}: column {self.column!r}, value {self.value!r}: {self.rule}"
        if self.line is None:
            return (
                f"{self.file}: row {self.row}, column {self.column!r}, value {self.value!r}: "
                + (self.rule)
            )
        where = f"line {self.line}" + (f" (data row {self.row})" if self.row else "")
        if self.column is not None:
            where += f", column {self.column!r}"
        if self.value is not None:
            where += f", value {self.value!r}"
        return f"{self.file}: {where}: {self.rule}"


def _restore(cls: type[XerotrialError], args: tuple, state: dict[str, Any]) -> XerotrialError:
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class XerotrialError(Exception):
    """Base class of the errors xerotrial reports to its users (see the module docstring for
    the fields)."""

    #: One line over a list of problems (a rejected file); None for a single message.
    summary: str | None = None

    def __init__(
        self,
        message: str = "",
        *,
        file: str | None = None,
        row: int | Hashable | None = None,
        line: int | None = None,
        column: str | None = None,
        value: Any = None,
        rule: str | None = None,
        problems: Iterable[Problem] | None = None,
    ) -> None:
        super().__init__(message)
        self.file, self.row, self.line = file, row, line
        self.column, self.value, self.rule = column, value, rule
        if problems is None:
            located = row is not None or column is not None or line is not None
            problems = (
                [Problem(file, row, column, value, rule or message, line=line)] if located else []
            )
        self.problems: list[Problem] = list(problems)

    @classmethod
    def at(
        cls,
        file: str,
        row: int | Hashable,
        column: str,
        value: Any,
        rule: str,
        *,
        line: int | None = None,
    ) -> Self:
        """The error for one bad cell, its message written from the fields:
        ``file: row R, column 'c', value 'v': rule``, or ``line L (data row R)`` when the
        file's line is known."""
        if line is not None:
            where = f"line {line} (data row {row})"
        else:
            where = f"row {row}" if isinstance(row, int) else f"row {row!r}"
        return cls(
            f"{file}: {where}, column {column!r}, value {value!r}: {rule}",
            file=file,
            row=row,
            line=line,
            column=column,
            value=value,
            rule=rule,
        )

    @property
    def message(self) -> str:
        """The message (the first positional argument)."""
        return str(self.args[0]) if self.args else ""

    def to_dict(self) -> dict[str, Any]:
        """The error as plain data (for JSON): type, message, the fields, the problems.

        >>> XerotrialError("x.csv: empty", file="x.csv").to_dict()["file"]
        'x.csv'
        """
        return {
            "type": type(self).__name__,
            "message": str(self),
            "summary": self.summary,
            "file": self.file,
            "row": self.row,
            "line": self.line,
            "column": self.column,
            "value": self.value,
            "rule": self.rule,
            "problems": [asdict(p) for p in self.problems],
        }

    def __reduce__(self) -> tuple:
        # Keyword fields survive pickling (errors cross process pools and Dask workers).
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class DataValidationError(XerotrialError, ValueError):
    """The input data or model specification cannot be used as given."""


class ConvergenceError(XerotrialError, ArithmeticError):
    """The optimiser could not find a valid estimate at all."""


class ConvergenceWarning(UserWarning):
    """The fit finished but did not meet the convergence criterion, or an estimate is on its
    boundary (for example a random-effect variance of zero)."""


class DataWarning(UserWarning):
    """The data were used, but not all of them: rows left out of a fit (an empty subject, time
    or response), named by their file lines."""
