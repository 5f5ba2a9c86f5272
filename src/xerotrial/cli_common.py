"""What every ``xerotrial`` command shares: the error console and the exit-2 failure.

Example
-------
>>> import typer
>>> try:
...     fail("data.csv: no such file")
... except typer.Exit as exc:
...     exc.exit_code
2
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from .stats.errors import XerotrialError

T = TypeVar("T")

__all__ = ["err", "fail", "run_or_fail"]

err = Console(stderr=True, soft_wrap=True, highlight=False)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` to standard error and exit with status 2 (no traceback)."""
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code=2)


def run_or_fail(fn: Callable[[], T]) -> T:
    """Call ``fn``; a user-facing error (bad data, a database or file problem) exits 2 with
    its message instead of a traceback."""
    try:
        return fn()
    except XerotrialError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"database error: {getattr(exc, 'orig', None) or exc}")
    except OSError as exc:
        fail(str(exc))
