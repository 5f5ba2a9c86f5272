"""The calibration's own REML shortcuts give the engine's numbers to the bit."""

from __future__ import annotations

import numpy as np
import pytest
from demo_calibration import calibrate
from demo_calibration.ions import ION_PATTERNS

from xerotrial.stats.replicates import fit_visit_means

PATTERNS = {**ION_PATTERNS, "complete": np.ones((10, 3), dtype=bool)}


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
@pytest.mark.parametrize("replicates", [1, 2, 12])
def test_visit_means_is_fit_visit_means(pattern: str, replicates: int) -> None:
    """The search's fits (a design built once per shape) equal the engine's API's."""
    pat = PATTERNS[pattern]
    rng = np.random.default_rng(replicates)
    u = rng.normal(0, 3, (replicates, len(pat), 1))
    y = 20 + u + rng.normal(0, 2, (replicates, *pat.shape))
    y = np.where(pat, np.rint(y * 100) / 100, np.nan)
    got, want = calibrate.visit_means(y), fit_visit_means(y)
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def test_greedy_repair_stacked_chooses_as_one_by_one() -> None:
    """The stacked repair takes the same moves, ties going to the first candidate (every
    array summing to 4 has loss 0, so the result shows which of the tied moves was taken)."""
    cells = [(0, 0), (0, 1), (1, 0), (1, 1)]

    def loss(v: np.ndarray) -> float:
        return float(abs(v.sum() - 4))

    def losses(vs: np.ndarray) -> np.ndarray:
        return np.array([loss(v) for v in vs])

    found = 0
    for cap in (3, 10):  # +5 not allowed, then allowed

        def move(v: float, k: int, cap: int = cap) -> float | None:
            return None if v + k > cap else v + k

        for rounds in (1, 2, 3, 5, 40):
            one = calibrate.greedy_repair(np.zeros((2, 2)), loss, cells, move, rounds)
            many = calibrate.greedy_repair(
                np.zeros((2, 2)), loss, cells, move, rounds, losses=losses
            )
            assert (one is None) == (many is None), (cap, rounds)
            if one is not None:
                np.testing.assert_array_equal(one, many)
                found += 1
    assert found
