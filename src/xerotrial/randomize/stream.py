"""The random numbers of an allocation list: SHA-256 in counter mode, from the seed.

A list must come out the same, byte for byte, from the same seed on any machine and any
version of Python or NumPy, and must not be guessable from the slots already used. Neither
NumPy's generators nor Python's ``random`` promise the first across versions. This stream is
fully specified: the ``k``-th 64-bit number of stream ``label`` is the first 8 bytes
(big-endian) of ``SHA-256("xerotrial-randomize/1:{seed}:{label}:{k}")``. Whole numbers below
``n`` are drawn by rejection (no modulo bias), and a shuffle is Fisher-Yates from the last
place down.

Example
-------
>>> s = Stream(7, "site=RH")
>>> [s.below(6) for _ in range(5)]
[4, 3, 3, 4, 1]
>>> Stream(7, "site=RH").shuffled("AABB")
['B', 'A', 'B', 'A']
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TypeVar

__all__ = ["Stream"]

T = TypeVar("T")
_SPAN = 1 << 64


class Stream:
    """The numbers of one seed and label (a stratum), in order."""

    def __init__(self, seed: int, label: str) -> None:
        self.seed, self.label, self.count = int(seed), label, 0

    def next64(self) -> int:
        """The next 64-bit number."""
        text = f"xerotrial-randomize/1:{self.seed}:{self.label}:{self.count}"
        self.count += 1
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")

    def below(self, n: int) -> int:
        """A whole number in ``0 .. n-1``, each equally likely."""
        if n < 1:
            raise ValueError(f"below({n}): n must be at least 1")
        limit = _SPAN - _SPAN % n
        while True:
            x = self.next64()
            if x < limit:
                return x % n

    def uniform(self) -> float:
        """A number in [0, 1) (53 bits)."""
        return (self.next64() >> 11) / (1 << 53)

    def shuffled(self, items: Iterable[T]) -> list[T]:
        """The items in a random order (Fisher-Yates)."""
        out = list(items)
        for i in range(len(out) - 1, 0, -1):
            j = self.below(i + 1)
            out[i], out[j] = out[j], out[i]
        return out
