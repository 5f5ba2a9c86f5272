"""Corrections through edit: validated, with a reason, traced; deletes refused while referred to."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from xerotrial.store.audit import show, verify
from xerotrial.store.edit import delete_row, edit_row
from xerotrial.store.errors import ImportRejectedError, StoreError
from xerotrial.store.export import read_form

SIAL = {"subject": "P01", "visit": "day0", "kind": "UWS"}


def test_edit_changes_and_traces(full_store: Engine) -> None:
    res = edit_row(
        full_store, "sialometry", SIAL, {"cup_after_g": "12.95"}, reason="re-weighed", user="ana"
    )
    assert res.changed == {"cup_after_g": (12.9, 12.95)}
    sial = read_form(full_store, "sialometry")
    row = (sial.subject == "P01") & (sial.visit == "day0") & (sial.kind == "UWS")
    assert sial.loc[row, "cup_after_g"].item() == 12.95
    again = edit_row(full_store, "sialometry", SIAL, {"cup_after_g": "12.95"}, reason="again")
    assert again.changed == {}
    assert len(show(full_store)) == 40 and verify(full_store).ok


@pytest.mark.parametrize(
    ("key", "changes", "reason", "error", "match"),
    [
        (SIAL, {"cup_after_g": "11"}, "x", ImportRejectedError, "less after collection"),
        (SIAL, {"cup_after_g": "abc"}, "x", ImportRejectedError, "must be a number"),
        (SIAL, {"cup_after_g": "13"}, " ", StoreError, "needs a reason"),
        (SIAL, {"kind": "SWS"}, "x", StoreError, "part of the key"),
        (SIAL, {"colour": "red"}, "x", StoreError, "no column"),
        ({"subject": "P01", "visit": "day0"}, {"minutes": "5"}, "x", StoreError, "missing"),
        ({**SIAL, "visit": "day5"}, {"minutes": "5"}, "x", StoreError, "no sialometry row"),
    ],
)
def test_bad_edits_change_nothing(full_store, key, changes, reason, error, match) -> None:
    before = read_form(full_store, "sialometry")
    with pytest.raises(error, match=match):
        edit_row(full_store, "sialometry", key, changes, reason=reason)
    assert read_form(full_store, "sialometry").equals(before)
    assert len(show(full_store)) == 39


def test_edit_checks_references(full_store: Engine) -> None:
    with pytest.raises(ImportRejectedError, match="unknown in the batches form"):
        edit_row(
            full_store,
            "administrations",
            {"subject": "P01", "gland": "left_parotid"},
            {"batch": "B9"},
            reason="x",
        )
    with pytest.raises(ImportRejectedError, match="matched to a patient"):
        edit_row(full_store, "participants", {"subject": "C01"}, {"matched_to": "C01"}, reason="x")


def test_delete(full_store: Engine) -> None:
    with pytest.raises(StoreError, match="other rows refer to it"):
        delete_row(full_store, "participants", {"subject": "P02"}, reason="withdrawn")
    with pytest.raises(StoreError, match="1 participants row"):
        delete_row(full_store, "participants", {"subject": "P01"}, reason="x")
    with pytest.raises(StoreError, match="batches row"):
        delete_row(full_store, "donors", {"donor": "D1"}, reason="x")
    res = delete_row(
        full_store,
        "hla_antibodies",
        {"subject": "P01", "study_day": "30", "specificity": "A*02:01"},
        reason="sample mix-up",
        user="ana",
    )
    assert res.changed["mfi"] == (5200.0, None)
    last = show(full_store, limit=1).iloc[0]
    assert last["action"] == "delete" and last["new_values"] is None
    assert len(read_form(full_store, "hla_antibodies")) == 1
    assert verify(full_store).ok
