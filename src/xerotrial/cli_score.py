"""``xerotrial score``: questionnaire scores from an item file, as CSV.

    xerotrial score qlq-hn35 ITEMS.csv [-o SCORES.csv]
    xerotrial score xq ITEMS.csv [-o SCORES.csv]

Input: a comma-separated file with a header row, an ``id`` column and the item columns
(``hn31`` ... ``hn65`` or ``xq1`` ... ``xq8``); other columns are ignored. Every cell is read
as text, so ids such as ``007`` come back unchanged; an empty cell is a missing answer.
Output: ``id`` and the scores at full precision, an empty cell where a score is missing;
to standard output unless ``-o`` is given. Any data problem (a value out of range, a
non-integer, text, a missing column) prints ``error: FILE: line L (data row R), column C:
...`` to standard error and exits with status 2. The rules are those of
:mod:`xerotrial.trial.questionnaires`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .cli_common import Group, fail, fail_error
from .errors import XerotrialError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["score_group"]


@click.group("score", cls=Group, short_help="Score questionnaires (QLQ-H&N35, XQ) from item files")
def score_group() -> None:
    """Score questionnaires (EORTC QLQ-H&N35, Xerostomia Questionnaire) from item CSV files."""


def _io(fn):
    """The ITEMS.csv argument and the -o/--output option of both scorers."""
    fn = click.option(
        "-o",
        "--output",
        metavar="SCORES.csv",
        type=click.Path(path_type=Path),
        help="Write here, not to stdout",
    )(fn)
    return click.argument("items", metavar="ITEMS.csv", type=click.Path(path_type=Path))(fn)


def _read_items(path: Path) -> pd.DataFrame:
    """Every cell as text (empty = missing), so that the scorer sees what was typed; read by
    the strict reader (:mod:`xerotrial.tables`) that every command shares."""
    from .tables import read_table

    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        return read_table(path)
    except XerotrialError as exc:
        fail_error(exc)
    raise AssertionError  # unreachable


def _run(scorer: str, items: Path, output: Path | None) -> None:
    """Score ``items`` with ``xerotrial.trial.questionnaires.<scorer>`` (imported here: the
    scorers need pandas and numpy, which ``xerotrial --help`` should not load)."""
    from .trial import questionnaires

    frame = _read_items(items)
    try:
        scores = getattr(questionnaires, scorer)(frame, source=str(items))
    except XerotrialError as exc:
        fail_error(exc)
    if output is None:
        sys.stdout.write(scores.to_csv(index=False, na_rep=""))
        return
    try:
        scores.to_csv(output, index=False, na_rep="")
    except OSError as exc:
        fail(f"{output}: cannot write it ({exc.strerror or exc})")


@score_group.command("qlq-hn35")
@_io
def qlq_hn35_command(items: Path, output: Path | None) -> None:
    """EORTC QLQ-H&N35: columns id, hn31..hn65 -> id, HNPA, ..., HNWG (0-100)."""
    _run("score_qlq_hn35", items, output)


@score_group.command("xq")
@_io
def xq_command(items: Path, output: Path | None) -> None:
    """Xerostomia Questionnaire: id, xq1..xq8 -> id, xq_summary, xq_eating, xq_non_eating."""
    _run("score_xq", items, output)
