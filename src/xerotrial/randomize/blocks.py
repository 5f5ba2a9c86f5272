"""Permuted blocks within strata: the allocation list (``xerotrial randomize list``).

For each stratum (each combination of the strata's levels, in order) the stratum's own
:class:`~.stream.Stream` draws a block size from ``block_sizes`` (each equally likely),
fills the block with the arms in the ratio and shuffles it; blocks follow until the stratum
has ``per_stratum`` slots (the last block may be cut short). Within a stratum the imbalance
is never more than half the largest block, and the ratio holds exactly at every block's end.

Example
-------
>>> from .design import parse_design
>>> d = parse_design({"method": "permuted-blocks", "arms": [{"code": "A"}, {"code": "B"}],
...                   "block_sizes": [2, 4]})
>>> [(s.block, s.block_size, s.arm) for s in block_list(d, seed=1, per_stratum=6)]
[(1, 4, 'B'), (1, 4, 'A'), (1, 4, 'A'), (1, 4, 'B'), (2, 4, 'B'), (2, 4, 'A')]
"""

from __future__ import annotations

import csv
import io
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .design import AllocationDesign
from .stream import Stream

__all__ = ["COLUMNS", "Slot", "block_list", "list_csv"]

#: the list's columns (issue 14's contract)
COLUMNS = ("stratum", "sequence", "block", "block_size", "arm")
_ROW = operator.attrgetter(*COLUMNS)


@dataclass(frozen=True)
class Slot:
    """One slot of the list: its stratum, its place in the stratum (from 1), its block (from
    1) and that block's size, and the arm's code."""

    stratum: str
    sequence: int
    block: int
    block_size: int
    arm: str


def _stratum_slots(design: AllocationDesign, seed: int, label: str, k: int) -> Iterator[Slot]:
    stream = Stream(seed, label)
    parts = sum(design.ratio)
    sequence = block = 0
    while sequence < k:
        block += 1
        size = design.block_sizes[stream.below(len(design.block_sizes))]
        content = [
            code
            for code, r in zip(design.arm_codes, design.ratio, strict=True)
            for _ in range(r * size // parts)
        ]
        for arm in stream.shuffled(content):
            if sequence == k:
                return
            sequence += 1
            yield Slot(label, sequence, block, size, arm)


def block_list(design: AllocationDesign, *, seed: int, per_stratum: int) -> list[Slot]:
    """The list: ``per_stratum`` slots for every stratum, strata in order."""
    if per_stratum < 1:
        raise ValueError(f"per_stratum must be at least 1, not {per_stratum}")
    if not design.block_sizes:
        raise ValueError("the design has no block sizes")
    return [
        slot
        for cell in design.strata_cells()
        for slot in _stratum_slots(design, seed, cell.label, per_stratum)
    ]


def list_csv(slots: Iterable[Slot]) -> bytes:
    """The list as CSV (UTF-8, ``\\n`` line ends): the same bytes for the same list."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(map(_ROW, slots))
    return out.getvalue().encode("utf-8")
