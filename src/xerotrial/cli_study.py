"""``xerotrial study``: check a study definition and compare two versions of one.

    xerotrial study check DEF          exit 0 and one summary line, or 2 and every problem
    xerotrial study diff OLD NEW       one line per change (+ added, - removed, ~ changed)

``DEF`` is a TOML (``.toml``) or YAML (``.yaml``, ``.yml``) file (:mod:`xerotrial.study`).
A problem is printed to standard error as ``FILE: line L: key.path: rule``, every one of them,
and the exit status is 2. The modules are imported inside the commands, so that
``xerotrial --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli_common import Group, fail, fail_error
from .errors import XerotrialError

__all__ = ["study_group"]

_DEF = click.Path(path_type=Path)


@click.group("study", cls=Group, short_help="Check and compare study definitions")
def study_group() -> None:
    """Study definitions (TOML or YAML): check one, compare two versions."""


def _load(path: Path):  # noqa: ANN202 - the type is imported only when the command runs
    from .study import load_study
    from .study.check import StudyDefinitionError

    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        return load_study(path)
    except StudyDefinitionError as exc:
        fail(str(exc))  # every problem as FILE: line L: key.path: rule
    except XerotrialError as exc:
        fail_error(exc)


@study_group.command("check")
@click.argument("definition", metavar="DEF", type=_DEF)
def check_command(definition: Path) -> None:
    """Check DEF: print its forms, fields and visits, or every problem (exit 2)."""
    study = _load(definition)
    click.echo(f"{definition}: ok, {study.summary()}")


@study_group.command("diff")
@click.argument("old", metavar="OLD", type=_DEF)
@click.argument("new", metavar="NEW", type=_DEF)
def diff_command(old: Path, new: Path) -> None:
    """The changes from OLD to NEW: visits, schedule, forms, fields and their attributes."""
    from .study.diff import diff_studies

    lines = diff_studies(_load(old), _load(new))
    click.echo("\n".join(lines) if lines else "no changes")
