"""Permuted blocks within strata (issue 14): the list's properties, simulated over many
seeds, and its reproducibility from the seed; the convergence guess rate against Blackwell
and Hodges (1957)."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from math import comb

import pytest

from xerotrial.randomize.blocks import block_list, list_csv
from xerotrial.randomize.design import parse_design

STRATA = [
    {"name": "site", "levels": ["RH", "OUH"]},
    {"name": "baseline_uws", "levels": ["low", "high"]},
]


def _design(ratio=(1, 1), sizes=(2, 4, 6), strata=STRATA):  # noqa: ANN001, ANN202
    arms = [{"code": "ASC", "label": "AT-MSC"}, {"code": "PBO", "label": "Placebo"}]
    return parse_design(
        {"method": "permuted-blocks", "arms": arms, "ratio": list(ratio),
         "block_sizes": list(sizes), "strata": strata}
    )  # fmt: skip


def _by_stratum(slots):  # noqa: ANN001, ANN202
    out: dict[str, list] = {}
    for s in slots:
        out.setdefault(s.stratum, []).append(s)
    return out


@pytest.mark.parametrize("seed", range(25))
def test_imbalance_within_every_stratum_is_at_most_half_the_largest_block(seed: int) -> None:
    slots = block_list(_design(), seed=seed, per_stratum=120)
    strata = _by_stratum(slots)
    assert list(strata) == [
        "site=RH;baseline_uws=low", "site=RH;baseline_uws=high",
        "site=OUH;baseline_uws=low", "site=OUH;baseline_uws=high",
    ]  # fmt: skip
    for rows in strata.values():
        assert [s.sequence for s in rows] == list(range(1, 121))
        diff = 0
        for s in rows:
            diff += 1 if s.arm == "ASC" else -1
            assert abs(diff) <= 6 // 2


@pytest.mark.parametrize(("ratio", "sizes"), [((1, 1), (2, 4, 6)), ((2, 1), (3, 6, 9))])
def test_the_ratio_holds_at_every_blocks_end_and_block_sizes_vary(ratio, sizes) -> None:  # noqa: ANN001
    slots = block_list(_design(ratio, sizes, strata=[]), seed=11, per_stratum=3000)
    seen: Counter = Counter()
    for _, rows in itertools.groupby(slots, key=lambda s: s.block):
        rows = list(rows)
        if len(rows) < rows[0].block_size:  # the last block, cut short
            continue
        counts = Counter(s.arm for s in rows)
        unit = rows[0].block_size // sum(ratio)
        assert counts == {"ASC": ratio[0] * unit, "PBO": ratio[1] * unit}
        seen[rows[0].block_size] += 1
    blocks = sum(seen.values())
    assert set(seen) == set(sizes)  # each size is drawn, each about a third of the blocks
    for size in sizes:
        assert abs(seen[size] / blocks - 1 / 3) < 0.05, seen


def test_the_same_seed_gives_the_same_bytes_and_another_seed_another_list() -> None:
    a = list_csv(block_list(_design(), seed=20261201, per_stratum=40))
    assert a == list_csv(block_list(_design(), seed=20261201, per_stratum=40))
    assert a != list_csv(block_list(_design(), seed=20261202, per_stratum=40))
    # the stream is SHA-256 in counter mode: these bytes on every machine and version
    assert hashlib.sha256(a).hexdigest() == PINNED
    assert a.splitlines()[0] == b"stratum,sequence,block,block_size,arm"
    assert a.splitlines()[1].startswith(b"site=RH;baseline_uws=low,1,1,")


PINNED = "f8b4b3ee64b6da5a89f72496098e1a026ff25bd8ce4d894e51b8a00f93ccc01d"


def _blackwell_hodges(size: int) -> float:
    """Expected correct guesses in a block of ``size`` (1:1) under the convergence strategy
    (guess the arm given less so far in the block; a tie is a coin): m + 2^(2m-1)/C(2m,m) - 1/2."""
    m = size // 2
    return m + 2 ** (2 * m - 1) / comb(2 * m, m) - 0.5


def test_how_often_the_next_assignment_can_be_guessed() -> None:
    """A guesser who knows the block boundaries and the arms so far in the block guesses the
    arm given less (a coin at a tie): right 75% of the time in blocks of 2, 70.8% in 4, 68.3%
    in 6; with the three sizes equally likely, (1.5 + 2.833 + 4.1) / 12 = 70.3% of slots."""
    sizes = (2, 4, 6)
    slots = block_list(_design(sizes=sizes, strata=[]), seed=5, per_stratum=60000)
    expected_right, n = 0.0, 0
    for _, rows in itertools.groupby(slots, key=lambda s: s.block):
        rows = list(rows)
        if len(rows) < rows[0].block_size:
            continue
        given = Counter()
        for s in rows:
            a, b = given["ASC"], given["PBO"]
            expected_right += 0.5 if a == b else float(s.arm == ("ASC" if a < b else "PBO"))
            given[s.arm] += 1
            n += 1
    theory = sum(_blackwell_hodges(b) for b in sizes) / sum(sizes)
    assert theory == pytest.approx(0.70278, abs=1e-5)
    assert expected_right / n == pytest.approx(theory, abs=0.006)
