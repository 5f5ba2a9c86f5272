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

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["err", "fail"]

err = Console(stderr=True, soft_wrap=True, highlight=False)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` to standard error and exit with status 2 (no traceback)."""
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code=2)
