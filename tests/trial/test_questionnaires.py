"""QLQ-H&N35 and XQ scoring: the spec's worked values, the half rule, every error path."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xerotrial.stats.errors import DataValidationError
from xerotrial.trial.questionnaires import (
    HN35_ITEMS,
    HN35_SCALES,
    XQ_ITEMS,
    XQ_SCALES,
    count_imputed,
    imputation_summary,
    score_qlq_hn35,
    score_xq,
)

HN35_ORDER = [
    "HNPA",
    "HNSW",
    "HNSE",
    "HNSP",
    "HNSO",
    "HNSC",
    "HNSX",
    "HNTE",
    "HNOM",
    "HNDR",
    "HNSS",
    "HNCO",
    "HNFI",
    "HNPK",
    "HNNU",
    "HNFE",
    "HNWL",
    "HNWG",
]
YES_NO = ("HNPK", "HNNU", "HNFE", "HNWL", "HNWG")
NEEDED = {5: 3, 4: 2, 3: 2, 2: 1, 1: 1}  # spec 1.5 table: scale size -> minimum answered


def hn35(**values) -> pd.DataFrame:
    """One questionnaire, every item 1 ("Not at all" / "No") unless given."""
    row = {"id": "P01"} | {c: 1 for c in HN35_ITEMS} | values
    return pd.DataFrame([row])


def xq(*values, ident="P01") -> pd.DataFrame:
    return pd.DataFrame([{"id": ident} | dict(zip(XQ_ITEMS, values, strict=True))])


# --- structure ---------------------------------------------------------------------------


def test_scale_table_matches_spec_1_3():
    assert list(HN35_SCALES) == HN35_ORDER
    members = sorted(i for items in HN35_SCALES.values() for i in items)
    assert members == list(range(31, 66))  # every item in exactly one score
    assert HN35_SCALES["HNSW"] == (35, 36, 37, 38)
    assert HN35_SCALES["HNSP"] == (46, 53, 54)
    assert HN35_SCALES["HNSC"] == (48, 55, 56, 57, 58)
    assert HN35_SCALES["HNDR"] == (41,) and HN35_SCALES["HNSS"] == (42,)
    assert XQ_SCALES["xq_eating"] == (2, 3, 4, 6)
    assert XQ_SCALES["xq_non_eating"] == (1, 5, 7, 8)


def test_output_columns_and_index():
    items = pd.concat([hn35(), hn35()], ignore_index=True)
    items.index = [10, 20]
    out = score_qlq_hn35(items)
    assert list(out.columns) == ["id", *HN35_ORDER]
    assert list(out.index) == [10, 20]
    items.index = [7, 7]  # duplicate labels are kept as they are
    assert list(score_qlq_hn35(items).index) == [7, 7]
    assert score_qlq_hn35(items.astype({"id": "string"}))["id"].dtype == "string"
    assert all(out[c].dtype == float for c in HN35_ORDER)
    assert list(score_xq(xq(*[0] * 8)).columns) == [
        "id",
        "xq_summary",
        "xq_eating",
        "xq_non_eating",
    ]


def test_custom_id_column_and_extra_columns_ignored():
    items = hn35().rename(columns={"id": "subject"}).assign(visit="day0", note="x")
    out = score_qlq_hn35(items, id_column="subject")
    assert list(out.columns) == ["subject", *HN35_ORDER]
    assert out.loc[0, "subject"] == "P01"


# --- hand-worked values (spec 1.4, 2.2) ----------------------------------------------------


def test_hndr_item_41_equals_3():
    assert score_qlq_hn35(hn35(hn41=3)).loc[0, "HNDR"] == pytest.approx(200 / 3, rel=1e-15)


def test_hnsw_with_one_missing_item():
    out = score_qlq_hn35(hn35(hn35=2, hn36=3, hn37=np.nan, hn38=1))
    assert out.loc[0, "HNSW"] == pytest.approx(100 / 3, rel=1e-15)


@pytest.mark.parametrize(("answer", "expected"), [(2, 100.0), (1, 0.0)])
def test_yes_no_items_use_range_1(answer, expected):
    out = score_qlq_hn35(hn35(**{f"hn{i}": answer for i in range(61, 66)}))
    assert list(out.loc[0, list(YES_NO)]) == [expected] * 5


def test_all_lowest_and_all_highest():
    assert (score_qlq_hn35(hn35()).loc[0, HN35_ORDER] == 0.0).all()
    worst = hn35(**{f"hn{i}": 4 for i in range(31, 61)}, **{f"hn{i}": 2 for i in range(61, 66)})
    assert (score_qlq_hn35(worst).loc[0, HN35_ORDER] == 100.0).all()


def test_xq_worked_example():
    out = score_xq(xq(5, 6, 7, 8, 2, 3, 4, 5))
    assert out.loc[0, "xq_summary"] == 50.0
    assert out.loc[0, "xq_eating"] == 60.0  # items 2, 3, 4, 6: 24 / 40 * 100
    assert out.loc[0, "xq_non_eating"] == 40.0  # items 1, 5, 7, 8: 16 / 40 * 100


def test_xq_extremes():
    assert score_xq(xq(*[0] * 8)).iloc[0, 1:].tolist() == [0.0, 0.0, 0.0]
    assert score_xq(xq(*[10] * 8)).iloc[0, 1:].tolist() == [100.0, 100.0, 100.0]


# --- half rule (spec 1.5, 2.3) -------------------------------------------------------------


@pytest.mark.parametrize("scale", HN35_ORDER)
def test_half_rule_threshold_for_every_scale(scale):
    members = HN35_SCALES[scale]
    k = len(members)
    for answered in range(k + 1):
        values = {f"hn{i}": (2 if n < answered else np.nan) for n, i in enumerate(members)}
        score = score_qlq_hn35(hn35(**values)).loc[0, scale]
        if answered >= NEEDED[k]:
            assert score == pytest.approx(100.0 if scale in YES_NO else 100 / 3), answered
        else:
            assert math.isnan(score), answered


def test_half_rule_threshold_sizes_cover_the_spec_table():
    assert {len(m) for m in HN35_SCALES.values()} == set(NEEDED)


@pytest.mark.parametrize(
    ("scale", "needed"), [("xq_summary", 4), ("xq_eating", 2), ("xq_non_eating", 2)]
)
def test_xq_half_rule_threshold(scale, needed):
    members = XQ_SCALES[scale]
    for answered in range(len(members) + 1):
        keep = set(members[:answered])
        out = score_xq(xq(*[(7 if i in keep else None) for i in range(1, 9)]))
        if answered >= needed:
            assert out.loc[0, scale] == 70.0
        else:
            assert math.isnan(out.loc[0, scale])


def test_missing_single_item_is_missing_not_imputed():
    out = score_qlq_hn35(hn35(hn41=np.nan, hn42=None, hn61=""))
    assert out.loc[0, ["HNDR", "HNSS", "HNPK"]].isna().all()
    assert out.loc[0, "HNTE"] == 0.0


def test_imputation_counts():
    items = pd.concat(
        [
            hn35(),  # complete
            hn35(hn31=np.nan),  # HNPA imputed
            hn35(hn41=np.nan),  # single item missing: not imputed
            hn35(hn31=np.nan, hn32=np.nan, hn33=np.nan),  # HNPA missing (1 of 4)
        ],
        ignore_index=True,
    )
    assert count_imputed(items, "qlq-hn35") == 1
    summary = imputation_summary(items, "qlq-hn35").set_index("score")
    assert summary.loc["HNPA"].to_dict() == {
        "n_items": 4,
        "min_answered": 2,
        "n_complete": 2,
        "n_imputed": 1,
        "n_missing": 1,
    }
    assert summary.loc["HNDR", ["n_complete", "n_imputed", "n_missing"]].tolist() == [3, 0, 1]
    assert summary.loc["HNSC", "min_answered"] == 3
    xq_items = pd.concat([xq(*[1] * 8), xq(None, *[1] * 7), xq(*[None] * 8)])
    assert count_imputed(xq_items, "xq") == 1
    with pytest.raises(DataValidationError, match="kind"):
        count_imputed(xq_items, "hn43")  # type: ignore[arg-type]


# --- input forms ---------------------------------------------------------------------------


def test_text_cells_as_read_from_a_csv():
    items = pd.DataFrame([{"id": "007"} | {c: "1" for c in HN35_ITEMS}])
    items[["hn41", "hn42", "hn43"]] = [[" 3 ", "", "2.0"]]
    out = score_qlq_hn35(items)
    assert out.loc[0, "id"] == "007"
    assert out.loc[0, "HNDR"] == pytest.approx(200 / 3)
    assert math.isnan(out.loc[0, "HNSS"])
    assert out.loc[0, "HNSE"] == pytest.approx(100 / 6)  # (2 + 1) / 2 = 1.5 -> 16.67


def test_nullable_integer_columns():
    items = xq(5, 6, 7, 8, 2, 3, 4, 5).astype({c: "Int64" for c in XQ_ITEMS})
    items.loc[0, "xq1"] = pd.NA
    assert score_xq(items).loc[0, "xq_non_eating"] == pytest.approx(110 / 3)


def test_header_only_gives_empty_output_with_header():
    empty = pd.DataFrame({c: pd.Series([], dtype=str) for c in ["id", *XQ_ITEMS]})
    out = score_xq(empty)
    assert out.empty and list(out.columns) == ["id", "xq_summary", "xq_eating", "xq_non_eating"]
    assert score_qlq_hn35(hn35().iloc[:0]).empty


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("hn41", 0, "value 0 is out of range"),
        ("hn41", 5, "value 5 is out of range"),
        ("hn41", -1, "value -1 is out of range"),
        ("hn61", 3, "value 3 is out of range"),
        ("hn65", 4, "value 4 is out of range"),
        ("hn35", 2.5, "value 2.5 is not a whole number"),
        ("hn35", "2.5", "value 2.5 is not a whole number"),
        ("hn35", "abc", "'abc' is not a number"),
        ("hn35", "NA", "'NA' is not a number"),
        ("hn35", "1_0", "'1_0' is not a number"),
        ("hn35", True, "True is not a number"),
        ("hn35", float("inf"), "is not a whole number"),
    ],
)
def test_hn35_bad_values(column, value, expected):
    items = pd.concat([hn35(), hn35()], ignore_index=True).astype(object)
    items.loc[1, column] = value
    with pytest.raises(DataValidationError) as info:
        score_qlq_hn35(items, source="items.csv")
    msg = str(info.value)
    assert msg.startswith(f"items.csv: line 3 (data row 2), column {column!r}: ")
    assert expected in msg


def test_yes_no_message_gives_the_coding():
    with pytest.raises(DataValidationError, match=r"1-2: 1 = No, 2 = Yes"):
        score_qlq_hn35(hn35(hn62=3))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (11, "value 11 is out of range"),
        (-1, "value -1 is out of range"),
        (0.5, "value 0.5 is not a whole number"),
        ("seven", "'seven' is not a number"),
    ],
)
def test_xq_bad_values(value, expected):
    items = xq(1, 2, 3, 4, 5, 6, 7, 8).astype(object)
    items.loc[0, "xq4"] = value
    with pytest.raises(DataValidationError, match=expected) as info:
        score_xq(items)
    assert str(info.value).startswith("data: row 1, column 'xq4': ")
    with pytest.raises(DataValidationError, match=expected):
        count_imputed(items, "xq")


def test_first_bad_cell_in_reading_order():
    items = pd.concat([hn35(), hn35(hn50=7), hn35(hn31=9)], ignore_index=True)
    with pytest.raises(DataValidationError, match=r"row 2, column 'hn50'"):
        score_qlq_hn35(items)
    items = pd.concat([hn35(), hn35(hn50=7, hn60=8)], ignore_index=True)
    with pytest.raises(DataValidationError, match=r"row 2, column 'hn50'"):
        score_qlq_hn35(items)
    items = pd.concat([hn35(hn41="x"), hn35(hn31=9)], ignore_index=True)
    with pytest.raises(DataValidationError, match=r"row 1, column 'hn41': 'x' is not"):
        score_qlq_hn35(items)
    items = pd.concat([hn35(hn41="9"), hn35(hn41="x")], ignore_index=True)
    with pytest.raises(DataValidationError, match=r"row 1, column 'hn41': value 9 is out"):
        score_qlq_hn35(items)


@pytest.mark.parametrize(
    ("drop", "pattern"),
    [
        ("hn48", r"items\.csv: column\(s\) \['hn48'\] not found"),
        ("id", r"items\.csv: id column 'id' not found"),
    ],
)
def test_missing_columns(drop, pattern):
    with pytest.raises(DataValidationError, match=pattern):
        score_qlq_hn35(hn35().drop(columns=drop), source="items.csv")
    with pytest.raises(DataValidationError, match=r"\['xq8'\] not found"):
        score_xq(xq(*[1] * 8).drop(columns="xq8"))


def test_duplicate_item_column():
    items = pd.concat([xq(*[1] * 8), xq(*[1] * 8)[["xq1"]]], axis=1)
    with pytest.raises(DataValidationError, match="more than once"):
        score_xq(items)


# --- properties ----------------------------------------------------------------------------

xq_answer = st.one_of(st.none(), st.integers(0, 10))
hn_row = st.tuples(
    *[st.one_of(st.none(), st.integers(1, 4 if i < 61 else 2)) for i in range(31, 66)]
)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 10)] * 8), min_size=1, max_size=6))
def test_complete_xq_summary_is_sum_times_1_25(rows):
    items = pd.DataFrame(rows, columns=list(XQ_ITEMS)).assign(id=range(len(rows)))
    out = score_xq(items)
    sums = items[list(XQ_ITEMS)].sum(axis=1)
    assert (out["xq_summary"] == sums * 1.25).all()
    eating = items[[f"xq{i}" for i in (2, 3, 4, 6)]].sum(axis=1)
    assert (out["xq_eating"] == eating * 2.5).all()  # exact; = sum / 40 * 100 up to rounding
    assert np.allclose(out["xq_eating"], eating / 40 * 100, rtol=1e-15, atol=0)


@settings(max_examples=20, deadline=None)
@given(st.lists(hn_row, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_hn35_scores_in_range_and_follow_row_order(rows, rnd):
    items = pd.DataFrame(rows, columns=list(HN35_ITEMS), dtype=float)
    items.insert(0, "id", [f"P{i}" for i in range(len(rows))])
    out = score_qlq_hn35(items)
    values = out[HN35_ORDER].to_numpy()
    finite = values[~np.isnan(values)]
    assert ((finite >= 0) & (finite <= 100)).all()
    order = list(range(len(rows)))
    rnd.shuffle(order)
    permuted = score_qlq_hn35(items.iloc[order].reset_index(drop=True))
    pd.testing.assert_frame_equal(permuted, out.iloc[order].reset_index(drop=True))


@settings(max_examples=40, deadline=None)
@given(hn_row)
def test_half_rule_equals_mean_imputation(row):
    items = pd.DataFrame([row], columns=list(HN35_ITEMS), dtype=float).assign(id="P")
    out = score_qlq_hn35(items)
    for scale, members in HN35_SCALES.items():
        vals = items.loc[0, [f"hn{i}" for i in members]]
        item_range = 1 if scale in YES_NO else 3
        if 2 * vals.notna().sum() >= len(vals):
            filled = vals.fillna(vals.mean())  # impute the respondent's scale mean
            assert filled.notna().all()
            expected = (filled.sum() / len(filled) - 1) / item_range * 100
            assert out.loc[0, scale] == pytest.approx(expected, abs=1e-12)
        else:
            assert math.isnan(out.loc[0, scale])


@settings(max_examples=40, deadline=None)
@given(st.tuples(*[xq_answer] * 8))
def test_xq_half_rule_equals_mean_imputation(row):
    items = pd.DataFrame([row], columns=list(XQ_ITEMS), dtype=float).assign(id="P")
    out = score_xq(items)
    for scale, members in XQ_SCALES.items():
        cols = [f"xq{i}" for i in members]
        vals = items.loc[0, cols]
        if 2 * vals.notna().sum() >= len(cols):
            filled = vals.fillna(vals.mean())
            assert out.loc[0, scale] == pytest.approx(filled.sum() / (10 * len(cols)) * 100)
            assert 0 <= out.loc[0, scale] <= 100
        else:
            assert math.isnan(out.loc[0, scale])
