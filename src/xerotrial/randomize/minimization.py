"""Minimization (Pocock and Simon 1975): each new patient goes, with probability ``p_best``,
to the arm that leaves the factors' levels least imbalanced, otherwise to one of the others.

For a patient with levels ``(f: l)`` and each candidate arm, the counts of every arm at the
patient's level of every factor are taken as if the patient were on the candidate, divided by
the arm's ratio part, and summed over factors as their ``range`` (max - min) or ``variance``.
The candidate with the smallest sum is the best (a tie: one of the tied, each equally likely);
it is taken with probability ``p_best``, the others share the rest equally. The draws come
from a :class:`~.stream.Stream`, so a simulation is the same from the same seed.

:func:`simulate` runs it on ``n`` patients whose levels are drawn at random (each level of
each factor equally likely) and reports the imbalance per factor.

Example
-------
>>> from .design import parse_design
>>> d = parse_design({"method": "minimization", "arms": [{"code": "A"}, {"code": "B"}],
...                   "strata": [{"name": "site", "levels": ["X", "Y"]}], "p_best": 1.0})
>>> out = simulate(d, n=40, seed=3)
>>> out["arms"], out["factors"]["site"]["imbalance"]
({'A': 20, 'B': 20}, 1)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .design import AllocationDesign
from .stream import Stream

__all__ = ["Minimizer", "simulate"]


class Minimizer:
    """The running counts of one trial's minimization, and its next assignment."""

    def __init__(self, design: AllocationDesign, stream: Stream) -> None:
        self.design, self.stream = design, stream
        self.levels = {s.name: s.levels for s in design.strata if s.name in design.factors}
        self.counts: dict[tuple[str, str], dict[str, int]] = {
            (f, lv): dict.fromkeys(design.arm_codes, 0)
            for f in design.factors
            for lv in self.levels[f]
        }

    def _score(self, patient: Mapping[str, str], candidate: str) -> float:
        total = 0.0
        for f in self.design.factors:
            row = self.counts[(f, patient[f])]
            scaled = [
                (row[a] + (a == candidate)) / r
                for a, r in zip(self.design.arm_codes, self.design.ratio, strict=True)
            ]
            if self.design.imbalance == "range":
                total += max(scaled) - min(scaled)
            else:
                mean = sum(scaled) / len(scaled)
                total += sum((x - mean) ** 2 for x in scaled) / (len(scaled) - 1)
        return total

    def assign(self, patient: Mapping[str, str]) -> str:
        """The arm of the next patient (``factor -> level``), counted."""
        arms = self.design.arm_codes
        scores = {a: self._score(patient, a) for a in arms}
        low = min(scores.values())
        best = [a for a in arms if scores[a] == low]
        chosen = best[self.stream.below(len(best))]
        if len(best) < len(arms) and self.stream.uniform() >= self.design.p_best:
            others = [a for a in arms if a != chosen]
            chosen = others[self.stream.below(len(others))]
        for f in self.design.factors:
            self.counts[(f, patient[f])][chosen] += 1
        return chosen


def simulate(design: AllocationDesign, *, n: int, seed: int) -> dict[str, Any]:
    """Minimization of ``n`` random patients: the arms' totals, and per factor each level's
    counts by arm and the largest imbalance (max - min count over the arms) at any level."""
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    patients = Stream(seed, "patients")
    m = Minimizer(design, Stream(seed, "minimization"))
    totals = dict.fromkeys(design.arm_codes, 0)
    for _ in range(n):
        patient = {f: lv[patients.below(len(lv))] for f, lv in m.levels.items()}
        totals[m.assign(patient)] += 1
    factors = {}
    for f in design.factors:
        levels = {lv: dict(m.counts[(f, lv)]) for lv in m.levels[f]}
        worst = max(max(c.values()) - min(c.values()) for c in levels.values())
        factors[f] = {"levels": levels, "imbalance": worst}
    return {"method": "minimization", "n": n, "seed": seed, "arms": totals, "factors": factors}
