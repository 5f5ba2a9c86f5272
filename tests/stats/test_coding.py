"""The fast treatment-coding path builds exactly formulaic's model matrix, or steps aside."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from formulaic import Formula
from hypothesis import given, settings
from hypothesis import strategies as st

from xerotrial.stats.coding import model_matrix, parse_terms

FACTORS = {"a": list("xyz"), "b": list("pqr"), "c": list("mn")}
NUMERIC = ["u", "w"]


def _frame(seed: int = 0, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = {
        f: pd.Categorical(rng.choice(levels, n), categories=levels) for f, levels in FACTORS.items()
    }
    d.update({v: rng.normal(size=n) for v in NUMERIC})
    return pd.DataFrame(d)


def _check(rhs: str, frame: pd.DataFrame) -> bool:
    terms = parse_terms(rhs, FACTORS, NUMERIC)
    if terms is None:
        return False
    X, names, slices = model_matrix(frame, terms, FACTORS)
    mm = Formula(rhs).get_model_matrix(frame)
    assert names == list(mm.columns)
    np.testing.assert_array_equal(X, np.asarray(mm))
    assert slices == {
        str(k): list(range(v.start, v.stop)) for k, v in mm.model_spec.term_slices.items()
    }
    return True


@pytest.mark.parametrize(
    "rhs",
    [
        "a*b",
        "b*a + u",
        "a + u + a:u",
        "a:b + a + b",
        "u*a*b",
        "a*b*c",
        "1",
        "a",
        "u + w",
        "c + a:c + a",
        "w:u + u + w",
        "b",
        "a + 1",
    ],
)
def test_fast_path_equals_formulaic(rhs):
    assert _check(rhs, _frame())


@pytest.mark.parametrize(
    "rhs", ["a + b + u:a", "a - 1", "0 + a", "C(a)", "a + I(u**2)", "a:b", "log(u)"]
)
def test_outside_the_fast_path_returns_none(rhs):
    assert parse_terms(rhs, FACTORS, NUMERIC) is None


@settings(max_examples=40, deadline=None)
@given(
    vars_=st.lists(st.sampled_from(["a", "b", "c", "u", "w"]), min_size=1, max_size=3, unique=True),
    extra=st.lists(st.sampled_from(["a", "b", "c", "u", "w"]), max_size=2, unique=True),
    seed=st.integers(0, 1000),
)
def test_random_hierarchical_formulas(vars_, extra, seed):
    rhs = "*".join(vars_) + "".join(f" + {v}" for v in extra)
    assert _check(rhs, _frame(seed))
