"""Batch release criteria and one donor per batch and per patient."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xerotrial.stats.errors import DataValidationError
from xerotrial.trial.product import (
    BATCH_COLUMNS,
    FailedCriterion,
    ReleaseLimits,
    check_one_donor,
    evaluate_release,
)

GOOD = {
    "batch": "B1",
    "donor": "D1",
    "viability": 92.0,
    "cd90": 99.0,
    "cd105": 97.0,
    "cd73": 99.5,
    "cd45": 0.5,
    "hla_dr": 0.8,
    "sterility": "negative",
    "mycoplasma": "negative",
    "endotoxin": "negative",
    "donor_serology": "negative",
}


def batch(**changes) -> dict:
    row = dict(GOOD)
    row.update(changes)
    return row


def test_good_batch_passes():
    r = evaluate_release(pd.DataFrame([GOOD]))
    assert r.columns.tolist() == ["batch", "donor", "passed", "failures"]
    assert r["passed"].tolist() == [True] and r["failures"].iloc[0] == ()


@pytest.mark.parametrize(
    ("column", "value", "passes"),
    [
        ("viability", 80.0, False),
        ("viability", 80.0001, True),
        ("cd90", 80, False),
        ("cd105", 80, False),
        ("cd73", 80, False),
        ("cd73", 80.5, True),
        ("cd45", 3.0, False),
        ("cd45", 2.99, True),
        ("hla_dr", 5.0, False),
        ("hla_dr", 4.99, True),
        ("viability", 100, True),
        ("cd45", 0, True),
    ],
)
def test_strict_boundaries(column, value, passes):
    r = evaluate_release(pd.DataFrame([batch(**{column: value})]))
    assert r["passed"].item() is passes
    if not passes:
        (f,) = r["failures"].item()
        op = "<" if column in ("cd45", "hla_dr") else ">"
        limit = {"cd45": 3.0, "hla_dr": 5.0}.get(column, 80.0)
        assert f == FailedCriterion(column, float(value), op, limit)


def test_every_failed_criterion_is_listed_with_value_and_limit():
    bad = batch(
        batch="B9",
        viability=70,
        cd90=60,
        cd105=79,
        cd73=50,
        cd45=10,
        hla_dr=20,
        sterility="positive",
        mycoplasma="Positive",
        endotoxin="detected",
        donor_serology="pos",
    )
    (fails,) = evaluate_release(pd.DataFrame([GOOD, bad]))["failures"].iloc[1:]
    assert [(f.criterion, f.value, f.operator, f.limit) for f in fails] == [
        ("viability", 70.0, ">", 80.0),
        ("cd90", 60.0, ">", 80.0),
        ("cd105", 79.0, ">", 80.0),
        ("cd73", 50.0, ">", 80.0),
        ("cd45", 10.0, "<", 3.0),
        ("hla_dr", 20.0, "<", 5.0),
        ("sterility", "positive", "=", "negative"),
        ("mycoplasma", "positive", "=", "negative"),
        ("endotoxin", "positive", "=", "negative"),
        ("donor_serology", "positive", "=", "negative"),
    ]


def test_missing_results_fail_their_criterion():
    r = evaluate_release(pd.DataFrame([batch(cd105=None, endotoxin="")]))
    fails = r["failures"].item()
    assert [str(f) for f in fails] == [
        "cd105: not reported (required > 80.0 %)",
        "endotoxin: not reported (required negative)",
    ]


def test_text_inputs_are_read():
    r = evaluate_release(
        pd.DataFrame(
            [batch(viability="85,0".replace(",", "."), cd90="90%", sterility=" Not detected ")]
        )
    )
    assert r["passed"].item()


def test_limits_are_arguments():
    strict = ReleaseLimits(cd90_min=95, cd45_max=2)  # e.g. ISCT-like
    r = evaluate_release(pd.DataFrame([batch(cd90=94, cd45=2.5)]), limits=strict)
    assert [f.criterion for f in r["failures"].item()] == ["cd90", "cd45"]
    assert ReleaseLimits().rule("hla_dr") == ("<", 5.0)


@pytest.mark.parametrize(
    ("changes", "column", "message"),
    [
        ({"viability": "high"}, "viability", "number 0-100"),
        ({"cd45": -1}, "cd45", "number 0-100"),
        ({"cd73": 100.5}, "cd73", "number 0-100"),
        ({"hla_dr": True}, "hla_dr", "number 0-100"),
        ({"sterility": "sterile"}, "sterility", "'negative' or 'positive'"),
        ({"mycoplasma": 0}, "mycoplasma", "'negative' or 'positive'"),
        ({"batch": None}, "batch", "id is required"),
        ({"donor": " "}, "donor", "id is required"),
    ],
)
def test_release_input_errors(changes, column, message):
    with pytest.raises(DataValidationError, match=message) as err:
        evaluate_release(
            pd.DataFrame([GOOD, batch(**{"batch": "B2", **changes})]), source="coa.csv"
        )
    assert f"coa.csv: line 3 (data row 2), column '{column}'" in str(err.value)


def test_release_structure_errors():
    with pytest.raises(DataValidationError, match=r"\['endotoxin'\] not found"):
        evaluate_release(pd.DataFrame([GOOD]).drop(columns="endotoxin"))
    with pytest.raises(DataValidationError, match="already on row 1"):
        evaluate_release(pd.DataFrame([GOOD, GOOD]))
    with pytest.raises(DataValidationError, match="expected a DataFrame"):
        evaluate_release(GOOD)  # type: ignore[arg-type]


_value = st.one_of(st.none(), st.floats(0, 100, allow_nan=False))
_test = st.sampled_from(["negative", "positive", None])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "viability": _value,
                "cd90": _value,
                "cd105": _value,
                "cd73": _value,
                "cd45": _value,
                "hla_dr": _value,
                "sterility": _test,
                "mycoplasma": _test,
                "endotoxin": _test,
                "donor_serology": _test,
            }
        ),
        min_size=1,
        max_size=6,
    ),
    st.permutations(list(BATCH_COLUMNS)),
)
def test_release_properties(records, columns):
    rows = [{"batch": f"B{i}", "donor": "D1", **r} for i, r in enumerate(records)]
    frame = pd.DataFrame(rows)
    result = evaluate_release(frame)
    # independent of column order
    pd.testing.assert_frame_equal(evaluate_release(frame[columns]), result)
    for row, passed, fails in zip(rows, result["passed"], result["failures"], strict=True):
        assert passed == (len(fails) == 0)
        expected = {
            c for c in ("viability", "cd90", "cd105", "cd73") if row[c] is None or not row[c] > 80
        }
        expected |= {
            c for c, lim in (("cd45", 3), ("hla_dr", 5)) if row[c] is None or not row[c] < lim
        }
        expected |= {
            c
            for c in ("sterility", "mycoplasma", "endotoxin", "donor_serology")
            if row[c] != "negative"
        }
        assert {f.criterion for f in fails} == expected


# ----------------------------------------------------------------------------- donors

BATCHES = pd.DataFrame({"batch": ["B1", "B2", "B3", "B1"], "donor": ["D1", "D2", "D3", "D1"]})


def test_one_donor_per_patient_mapping():
    adm = pd.DataFrame(
        {
            "subject": ["P1"] * 4 + ["P2"] * 2 + [6],
            "batch": ["B1", "B1", "B1", "B1", "B2", "B2", "B3"],
        }
    )
    out = check_one_donor(BATCHES, adm)
    assert out.values.tolist() == [
        ["P1", "D1", ("B1",)],
        ["P2", "D2", ("B2",)],
        ["6", "D3", ("B3",)],
    ]


def test_two_batches_of_one_donor_are_fine():
    b = pd.DataFrame({"batch": ["B1", "B4"], "donor": ["D1", "D1"]})
    adm = pd.DataFrame({"subject": ["P1", "P1"], "batch": ["B1", "B4"]})
    assert check_one_donor(b, adm)["batches"].item() == ("B1", "B4")


def test_patient_with_two_donors_names_both():
    adm = pd.DataFrame({"subject": ["P1", "P1", "P1"], "batch": ["B1", "B1", "B3"]})
    with pytest.raises(
        DataValidationError,
        match=r"patient P1 received cells from two donors: D1 \(batch B1\) "
        r"and D3 \(batch B3\)",
    ):
        check_one_donor(BATCHES, adm)


def test_batch_with_two_donors():
    b = pd.DataFrame({"batch": ["B1", "B1"], "donor": ["D1", "D2"]})
    with pytest.raises(
        DataValidationError,
        match=r"data \(batches\): row 2, column 'donor', value 'D2': batch B1 "
        r"is listed with donors D1 \(row 1\) and D2",
    ):
        check_one_donor(b, pd.DataFrame({"subject": ["P1"], "batch": ["B1"]}))


def test_unknown_batch_and_missing_columns():
    with pytest.raises(DataValidationError, match="batch not in the batch table"):
        check_one_donor(BATCHES, pd.DataFrame({"subject": ["P1"], "batch": ["B7"]}))
    with pytest.raises(DataValidationError, match=r"\(administrations\).*not found"):
        check_one_donor(BATCHES, pd.DataFrame({"patient": ["P1"], "batch": ["B1"]}))
    with pytest.raises(DataValidationError, match=r"\(batches\).*not found"):
        check_one_donor(BATCHES[["batch"]], pd.DataFrame({"subject": ["P1"], "batch": ["B1"]}))
    with pytest.raises(DataValidationError, match="id is required"):
        check_one_donor(BATCHES, pd.DataFrame({"subject": [None], "batch": ["B1"]}))


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["P1", "P2", "P3"]), st.sampled_from(["B1", "B2", "B3"])),
        min_size=1,
        max_size=12,
    )
)
def test_one_donor_property(pairs):
    adm = pd.DataFrame(pairs, columns=["subject", "batch"])
    donor = {"B1": "D1", "B2": "D2", "B3": "D3"}
    donors_per_patient = adm.assign(d=adm["batch"].map(donor)).groupby("subject")["d"].nunique()
    if (donors_per_patient > 1).any():
        with pytest.raises(DataValidationError, match="two donors"):
            check_one_donor(BATCHES, adm)
    else:
        out = check_one_donor(BATCHES, adm)
        assert set(out["subject"]) == set(adm["subject"])
        for s, d in zip(out["subject"], out["donor"], strict=True):
            assert {donor[b] for b in adm.loc[adm["subject"] == s, "batch"]} == {d}
