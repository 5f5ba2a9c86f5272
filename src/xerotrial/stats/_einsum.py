"""``einsum`` with its contraction path computed once per (subscripts, shapes) and cached.

numpy's ``optimize=True`` searches for a path on every call, which costs more than the
contraction itself for the small per-pattern tensors of a mixed model.

Example
-------
>>> import numpy as np
>>> a = np.ones((2, 3)); b = np.ones((3, 4))
>>> einsum("ij,jk->ik", a, b).shape
(2, 4)
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["einsum"]


@lru_cache(maxsize=4096)
def _path(subscripts: str, shapes: tuple[tuple[int, ...], ...]):
    ops = [np.empty(s) for s in shapes]
    return np.einsum_path(subscripts, *ops, optimize="greedy")[0]


def einsum(subscripts: str, *operands: np.ndarray) -> np.ndarray:
    """``np.einsum`` with a cached greedy contraction path."""
    if len(operands) <= 2:
        return np.einsum(subscripts, *operands, optimize=False)
    path = _path(subscripts, tuple(np.shape(o) for o in operands))
    return np.einsum(subscripts, *operands, optimize=path)
