"""What every ``xerotrial`` command shares: the command group, error and warning lines, exit 2.

Importing this module costs click and the standard library only (no rich, typer, pandas, numpy
or SQLAlchemy): every command starts from here, and ``xerotrial --help`` must answer at once.
Commands that draw tables or progress bars import rich inside the command
(:func:`stderr_console`).

Example
-------
>>> try:
...     fail("data.csv: no such file")
... except SystemExit as exc:
...     exc.code
2
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from .errors import XerotrialError

if TYPE_CHECKING:
    from rich.console import Console

T = TypeVar("T")

__all__ = [
    "CONTEXT_SETTINGS",
    "Group",
    "UpperChoice",
    "error_lines",
    "fail",
    "fail_error",
    "run_or_fail",
    "stderr_console",
    "styled",
    "warn",
]

#: Settings of the root command, inherited by every subcommand: ``-h`` as well as ``--help``,
#: defaults shown in the help.
CONTEXT_SETTINGS: dict[str, Any] = {
    "help_option_names": ["-h", "--help"],
    "show_default": True,
    "max_content_width": 100,
}

_SGR = {"bold": "1", "red": "31", "yellow": "33", "green": "32"}


class UpperChoice(click.Choice):
    """Upper-case choices (``REML``, ``ML``) that also accept lower case, and show and complete
    as written (click's ``case_sensitive=False`` would show them in lower case)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return super().convert(value.upper() if isinstance(value, str) else value, param, ctx)


class Group(click.Group):
    """A command group that lists its commands in the order they were added (the order of
    work: fit, score, power, then the store's), not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


def _colour(stream: IO[str]) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def styled(text: str, style: str, stream: IO[str] | None = None) -> str:
    """``text`` in ``style`` (words of ``bold red yellow green``) when ``stream`` (default
    standard error) is a terminal, else ``text`` unchanged.

    >>> import io
    >>> styled("error:", "bold red", io.StringIO())
    'error:'
    """
    if not _colour(stream if stream is not None else sys.stderr):
        return text
    codes = ";".join(_SGR[w] for w in style.split())
    return f"\x1b[{codes}m{text}\x1b[0m"


def json_safe(obj: Any) -> Any:
    """JSON-safe: NaN and infinities become null, in nested dicts and lists too.

    >>> json_safe({"a": [1.0, float("nan")], "b": float("inf")})
    {'a': [1.0, None], 'b': None}
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def warn(message: str) -> None:
    """Print ``warning: message`` to standard error."""
    sys.stderr.write(f"{styled('warning:', 'yellow')} {message}\n")


def fail(message: str) -> NoReturn:
    """Print ``error: message`` to standard error and exit with status 2 (no traceback)."""
    sys.stderr.write(f"{styled('error:', 'bold red')} {message}\n")
    raise SystemExit(2)


def error_lines(exc: XerotrialError) -> list[str]:
    """What the command line prints for ``exc``: its message; for a rejected file, the summary
    and then one line per problem, written from the problem's fields (file, row, column, value,
    rule), never by taking a message apart.

    >>> from xerotrial.errors import ImportRejectedError, Problem
    >>> for line in error_lines(ImportRejectedError("a.csv", [Problem("a.csv", 2, "sex", "Q",
    ...                                                                   "M or F")])):
    ...     print(line)
    a.csv: rejected, nothing was imported (1 problem):
      a.csv: row 2, column 'sex', value 'Q': M or F
    """
    if exc.summary is None:
        return [str(exc)]
    return [exc.summary, *(f"  {p}" for p in exc.problems)]


def fail_error(exc: XerotrialError) -> NoReturn:
    """:func:`fail` with the lines of :func:`error_lines`."""
    fail("\n".join(error_lines(exc)))


class _NotRaisedError(Exception):
    """Stands for a library's exception class while that library is not even imported."""


def _sqlalchemy_error() -> type[Exception]:
    """SQLAlchemy's base exception if SQLAlchemy is loaded (a command that never imported it
    cannot have raised it), without importing it here."""
    exc = sys.modules.get("sqlalchemy.exc")
    return exc.SQLAlchemyError if exc is not None else _NotRaisedError


def run_or_fail(fn: Callable[[], T]) -> T:
    """Call ``fn``; a user-facing error (bad data, a database or file problem) exits 2 with
    its message instead of a traceback."""
    try:
        return fn()
    except XerotrialError as exc:
        fail_error(exc)
    except OSError as exc:
        fail(str(exc))
    except Exception as exc:
        if isinstance(exc, _sqlalchemy_error()):
            fail(f"database error: {getattr(exc, 'orig', None) or exc}")
        raise


@cache
def stderr_console() -> Console:
    """The rich console on standard error, for progress bars (imports rich on first use)."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, highlight=False)


def read_password(path: Path | None, prompt: str = "Password") -> str:
    """A password from the first line of ``path`` (kept out of the shell's history and the
    process list), or typed at a hidden prompt."""
    if path is None:
        return click.prompt(prompt, hide_input=True)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read the password file ({exc})")
    lines = text.splitlines()
    if not lines or not lines[0]:
        fail(f"{path}: the first line is the password, and it is empty")
    return lines[0]


def actor_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--as NAME`` and ``--password-file FILE``: write under an account of the store (after
    its password) rather than as the operating-system account, marked local."""
    fn = click.option(
        "--password-file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="File whose first line is the --as account's password (else it is asked)",
    )(fn)
    return click.option(
        "--as",
        "as_name",
        metavar="NAME",
        help="Write as this account of the store (default: the OS account, marked local)",
    )(fn)


def actor_name(db: str | None, as_name: str | None, password_file: Path | None) -> str:
    """The identity the audit trail records for a command-line write: ``local:OSUSER``, or
    the account ``--as`` names once its password is checked."""
    return command_actor(db, as_name, password_file).audit_name


def command_actor(db: str | None, as_name: str | None, password_file: Path | None) -> Any:
    """The :class:`~xerotrial.store.accounts.Actor` of a command: the operating-system
    account (marked local), or the account ``--as`` names once its password is checked."""
    from .store.accounts import Actor, authenticate

    if as_name is None:
        if password_file is not None:
            fail("--password-file goes with --as NAME")
        return Actor.local()
    password = read_password(password_file, f"Password of {as_name}")
    return Actor.of(on_store(db, lambda engine: authenticate(engine, as_name, password)))


def on_store(db: str | None, fn: Callable[[Any], T]) -> T:
    """``fn(engine)`` on the store ``db`` (disposed after); a user-facing error exits 2."""
    from .store.engine import open_store

    engine = run_or_fail(lambda: open_store(db))
    try:
        return run_or_fail(lambda: fn(engine))
    finally:
        engine.dispose()
