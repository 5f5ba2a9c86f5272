"""Optimal one-to-one matching of healthy controls to patients."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xerotrial.stats.errors import DataValidationError
from xerotrial.trial import matching
from xerotrial.trial.matching import match_controls


def people(prefix: str, ages, sex="M", race="white", education="secondary") -> pd.DataFrame:
    n = len(ages)

    def as_list(v):
        return v if isinstance(v, list) else [v] * n

    return pd.DataFrame(
        {
            "subject": [f"{prefix}{i + 1}" for i in range(n)],
            "age": ages,
            "sex": as_list(sex),
            "race": as_list(race),
            "education": as_list(education),
        }
    )


def pairs_of(result) -> list[tuple[str, str]]:
    return list(zip(result.pairs["patient"], result.pairs["control"], strict=True))


def test_paper_like_ten_pairs():
    sexes = ["M"] * 7 + ["F"] * 3
    edu = ["secondary", "university"] * 5
    p = people("P", [45, 52, 55, 58, 59, 60, 61, 64, 67, 70], sex=sexes, education=edu)
    c = people("C", [47, 50, 57, 60, 62, 58, 65, 61, 66, 72], sex=sexes, education=edu)
    m = match_controls(p, c)
    assert len(m.pairs) == 10 and m.unmatched.empty and m.unused_controls == ()
    assert (m.pairs["age_difference"] <= 5).all()
    assert m.pairs["patient"].tolist() == [f"P{i}" for i in range(1, 11)]  # natural order
    assert m.pairs.columns.tolist() == [
        "patient",
        "control",
        "patient_age",
        "control_age",
        "age_difference",
        "sex",
        "race",
        "education",
    ]


def test_optimal_beats_greedy_on_number_of_pairs():
    # greedy on the smallest difference takes P1-C1 (0) and leaves P2 without a control
    m = match_controls(people("P", [50, 45]), people("C", [50, 55]))
    assert pairs_of(m) == [("P1", "C2"), ("P2", "C1")]
    assert m.pairs["age_difference"].tolist() == [5.0, 5.0]


def test_smallest_total_age_difference():
    m = match_controls(people("P", [50, 52]), people("C", [51, 53]))
    assert pairs_of(m) == [("P1", "C1"), ("P2", "C2")]
    assert m.pairs["age_difference"].sum() == 2


def test_ties_do_not_depend_on_row_order():
    p = people("P", [50, 50, 50])
    c = people("C", [50, 50, 50, 50])
    ref = pairs_of(match_controls(p, c))
    for seed in range(5):
        got = match_controls(
            p.sample(frac=1, random_state=seed), c.sample(frac=1, random_state=seed + 7)
        )
        assert pairs_of(got) == ref


def test_age_window_is_inclusive_and_a_parameter():
    assert len(match_controls(people("P", [50]), people("C", [55])).pairs) == 1
    assert len(match_controls(people("P", [50]), people("C", [55.5])).pairs) == 0
    assert len(match_controls(people("P", [45.3]), people("C", [50.3])).pairs) == 1
    assert len(match_controls(people("P", [50]), people("C", [53]), age_tolerance=2).pairs) == 0
    assert len(match_controls(people("P", [50]), people("C", [50]), age_tolerance=0).pairs) == 1


def test_categories_ignore_case_and_spaces():
    p = people("P", [60], sex="Female", race="White", education="University ")
    c = people("C", [61], sex="female", race=" white", education="university")
    m = match_controls(p, c)
    assert pairs_of(m) == [("P1", "C1")]
    assert m.pairs.loc[0, ["sex", "education"]].tolist() == ["Female", "University"]


def test_unmatched_no_candidate_reason():
    p = people("P", [60, 48], sex=["F", "M"], education=["university", "primary"])
    c = people(
        "C", [61, 47, 49], sex=["M", "M", "M"], education=["university", "secondary", "secondary"]
    )
    m = match_controls(p, c)
    assert m.pairs.empty
    reasons = dict(zip(m.unmatched["patient"], m.unmatched["reason"], strict=True))
    assert reasons["P1"] == (
        "no control of the same sex, race and education within +-5 years "
        "(same sex: 0; also same race: 0; also same education: 0)"
    )
    assert reasons["P2"].endswith("(same sex: 3; also same race: 3; also same education: 0)")
    assert m.unmatched["n_candidates"].tolist() == [0, 0]
    assert m.unused_controls == ("C1", "C2", "C3")


def test_unmatched_because_candidates_taken():
    m = match_controls(people("P", [50, 51]), people("C", [50]))
    assert pairs_of(m) == [("P1", "C1")]
    assert m.unmatched.values.tolist() == [
        [
            "P2",
            "all 1 control(s) of the same sex, race and education within +-5 years (C1) "
            "are matched to other patients",
            1,
        ],
    ]


def test_no_controls():
    m = match_controls(people("P", [50, 60]), people("C", [])[list(matching.MATCH_COLUMNS)])
    assert m.pairs.empty and m.unmatched["patient"].tolist() == ["P1", "P2"]


def test_to_dict():
    d = match_controls(people("P", [50]), people("C", [52])).to_dict()
    assert d["pairs"][0]["control"] == "C1" and d["unmatched"] == []
    assert d["age_tolerance"] == 5.0


@pytest.mark.parametrize(
    ("which", "changes", "column", "message"),
    [
        ("patients", {"age": "old"}, "age", "number of years"),
        ("patients", {"age": -3}, "age", "number of years"),
        ("patients", {"age": None}, "age", "number of years"),
        ("controls", {"age": True}, "age", "number of years"),
        ("controls", {"sex": None}, "sex", "sex is required"),
        ("controls", {"race": ""}, "race", "race is required"),
        ("patients", {"education": float("nan")}, "education", "education is required"),
        ("patients", {"subject": None}, "subject", "id is required"),
        ("controls", {"subject": "C1"}, "subject", "id already on row 1"),
    ],
)
def test_input_errors(which, changes, column, message):
    frames = {
        "patients": people("P", [50, 51]).astype(object),
        "controls": people("C", [50, 52]).astype(object),
    }
    for k, v in changes.items():
        frames[which].loc[1, k] = v
    with pytest.raises(DataValidationError, match=message) as err:
        match_controls(frames["patients"], frames["controls"])
    assert f"data ({which}): row 2, column '{column}'" in str(err.value)


def test_structure_and_tolerance_errors():
    with pytest.raises(DataValidationError, match=r"\(controls\).*\['education'\] not found"):
        match_controls(people("P", [50]), people("C", [50]).drop(columns="education"))
    for bad in (-1, float("nan"), "5", True):
        with pytest.raises(DataValidationError, match="age_tolerance"):
            match_controls(people("P", [50]), people("C", [50]), age_tolerance=bad)


# ----------------------------------------------------------------------------- properties


def _max_matching(adj: dict[int, list[int]]) -> int:
    """Kuhn's augmenting paths: the size of a maximum bipartite matching."""
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j in adj[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(augment(i, set()) for i in adj)


def _best(cands: list[list[tuple[int, float]]], i: int = 0, used: frozenset = frozenset()):
    """(pairs, -total difference) of the best matching by brute force."""
    if i == len(cands):
        return (0, 0.0)
    best = _best(cands, i + 1, used)
    for j, d in cands[i]:
        if j not in used:
            n, neg = _best(cands, i + 1, used | {j})
            best = max(best, (n + 1, neg - d))
    return best


_person = st.tuples(
    st.integers(40, 75),
    st.sampled_from("MF"),
    st.sampled_from(["a", "b"]),
    st.sampled_from(["x", "y"]),
)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(_person, min_size=1, max_size=5), st.lists(_person, max_size=5), st.integers(0, 10**6)
)
def test_matching_properties(pat, con, seed):
    def frame(prefix, rows):
        return pd.DataFrame(
            [(f"{prefix}{i}", *r) for i, r in enumerate(rows)], columns=list(matching.MATCH_COLUMNS)
        )

    p, c = frame("P", pat), frame("C", con)
    m = match_controls(p, c)
    pa, ca = p.set_index("subject"), c.set_index("subject")
    for row in m.pairs.itertuples(index=False):
        a, b = pa.loc[row.patient], ca.loc[row.control]
        assert abs(a["age"] - b["age"]) <= 5
        assert (a["sex"], a["race"], a["education"]) == (b["sex"], b["race"], b["education"])
        assert row.age_difference == abs(a["age"] - b["age"])
    assert m.pairs["patient"].is_unique and m.pairs["control"].is_unique
    assert set(m.pairs["patient"]) | set(m.unmatched["patient"]) == set(p["subject"])
    assert set(m.pairs["control"]) | set(m.unused_controls) == set(c["subject"])
    cands = [
        [
            (j, abs(a[0] - b[0]))
            for j, b in enumerate(con)
            if a[1:] == b[1:] and abs(a[0] - b[0]) <= 5
        ]
        for a in pat
    ]
    assert len(m.pairs) == _max_matching({i: [j for j, _ in cs] for i, cs in enumerate(cands)})
    n, neg = _best(cands)
    assert (len(m.pairs), -m.pairs["age_difference"].sum()) == (n, pytest.approx(neg))
    shuffled = match_controls(
        p.sample(frac=1, random_state=seed), c.sample(frac=1, random_state=seed)
    )
    pd.testing.assert_frame_equal(shuffled.pairs, m.pairs)
    pd.testing.assert_frame_equal(shuffled.unmatched, m.unmatched)
