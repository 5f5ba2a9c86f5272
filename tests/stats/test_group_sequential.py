"""Lan-DeMets group-sequential boundaries against R's rpact (getDesignGroupSequential).

Reference values: tests/data/rpact_boundaries.json, written by
validation/make_rpact_boundaries.R (rpact 3.3.4): O'Brien-Fleming-type ("asOF") and
Pocock-type ("asP") spending, one- and two-sided, 2 to 5 looks, equally and unequally spaced.
Critical values, nominal (one-sided) levels and cumulative alpha spent to 1e-6 absolute.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xerotrial.stats.errors import DataValidationError
from xerotrial.stats.group_sequential import (
    boundaries,
    look_boundary,
    obrien_fleming_spending,
    pocock_spending,
    spending_value,
)

REF = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "rpact_boundaries.json").read_text()
)
DESIGNS = REF["designs"]
SPENDING = {"asOF": "obrien-fleming", "asP": "pocock"}
TOL = 1e-6


def _ours(d: dict):
    return boundaries(d["informationRates"], d["alpha"], SPENDING[d["typeOfDesign"]], d["sided"])


def test_reference_file():
    assert REF["_meta"]["rpact_version"] == "3.3.4"
    assert len(DESIGNS) >= 32
    assert {d["kMax"] for d in DESIGNS} == {2, 3, 4, 5}
    assert {(d["typeOfDesign"], d["sided"]) for d in DESIGNS} == {
        ("asOF", 1),
        ("asOF", 2),
        ("asP", 1),
        ("asP", 2),
    }


@pytest.mark.parametrize("d", DESIGNS, ids=[d["name"] for d in DESIGNS])
def test_against_rpact(d):
    b = _ours(d)
    np.testing.assert_allclose(b.information_rates, d["informationRates"], rtol=0, atol=1e-14)
    np.testing.assert_allclose(b.critical_values, d["criticalValues"], rtol=0, atol=TOL)
    np.testing.assert_allclose(b.nominal_levels, d["stageLevels"], rtol=0, atol=TOL)
    np.testing.assert_allclose(b.alpha_spent, d["alphaSpent"], rtol=0, atol=TOL)
    spent = spending_value(np.array(d["informationRates"]), d["alpha"], b.spending, b.sided)
    # rpact takes 1 - pnorm(x) for the upper tail: 1e-11 relative where the spending is ~1e-6
    np.testing.assert_allclose(spent, d["spendingValues"], rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("spending", ["obrien-fleming", "pocock"])
@pytest.mark.parametrize(("alpha", "sided"), [(0.025, 1), (0.05, 2), (0.1, 2)])
def test_all_alpha_spent_at_the_last_look(spending, alpha, sided):
    for rates in ([0.5, 1], [0.2, 0.45, 0.7, 1], [0.2, 0.4, 0.6, 0.8, 1]):
        b = boundaries(rates, alpha, spending, sided)
        assert b.alpha_spent[-1] == pytest.approx(alpha, abs=1e-12)
        # and the crossing probabilities follow the spending function at every look
        np.testing.assert_allclose(
            b.alpha_spent, spending_value(np.array(rates), alpha, spending, sided), atol=1e-12
        )
        assert all(np.diff(b.alpha_spent) > 0)


@pytest.mark.parametrize(("alpha", "sided"), [(0.025, 1), (0.05, 2)])
def test_obrien_fleming_starts_higher_than_pocock(alpha, sided):
    for rates in ([0.5, 1], [1 / 3, 2 / 3, 1], [0.2, 0.45, 0.7, 1]):
        obf = boundaries(rates, alpha, "obrien-fleming", sided).critical_values
        poc = boundaries(rates, alpha, "pocock", sided).critical_values
        assert obf[0] > poc[0] + 0.5
        assert obf[-1] < poc[-1]  # and O'Brien-Fleming keeps more alpha for the end
        assert list(obf) == sorted(obf, reverse=True)


def test_published_values():
    # Lan-DeMets O'Brien-Fleming type, 2 looks at t = 0.5, 1, alpha 0.025 one-sided
    b = boundaries([0.5, 1.0], alpha=0.025, spending="obrien-fleming")
    assert [round(c, 3) for c in b.critical_values] == [2.963, 1.969]
    # 5 equally spaced looks, alpha 0.05 two-sided (DeMets & Lan 1994, Stat Med 13:1341)
    b = boundaries([0.2, 0.4, 0.6, 0.8, 1.0], alpha=0.05, spending="obrien-fleming", sided=2)
    assert [round(c, 2) for c in b.critical_values] == [4.88, 3.36, 2.68, 2.29, 2.03]
    # the spending functions at t = 1 spend all of alpha
    assert float(obrien_fleming_spending(1.0, 0.025)) == pytest.approx(0.025, rel=1e-14)
    assert float(obrien_fleming_spending(1.0, 0.05, sided=2)) == pytest.approx(0.05, rel=1e-14)
    assert float(pocock_spending(1.0, 0.025)) == pytest.approx(0.025, rel=1e-14)


def test_boundary_at_a_look_depends_on_earlier_looks_only():
    rates = [0.37, 0.81, 1.0]
    for spending in ("obrien-fleming", "pocock"):
        for alpha, sided in ((0.025, 1), (0.05, 2)):
            full = boundaries(rates, alpha, spending, sided).critical_values
            for k in range(1, len(rates) + 1):
                assert boundaries(rates[:k], alpha, spending, sided).critical_values == full[:k]
                assert (
                    look_boundary(rates[: k - 1], rates[k - 1], alpha, spending, sided)
                    == (full[k - 1])
                )
    # a later look moved from the plan changes nothing before it
    planned = boundaries([0.37, 0.81, 1.0]).critical_values
    moved = boundaries([0.37, 0.9, 1.0]).critical_values
    assert moved[0] == planned[0] and moved[1] != planned[1]


def test_close_looks_get_a_finer_grid(monkeypatch):
    import xerotrial.stats.group_sequential as gs

    rates = [0.3, 0.303, 1.0]  # the second look adds 1%: a narrow step from the first
    ours = boundaries(rates, 0.05, "obrien-fleming", 2).critical_values
    monkeypatch.setattr(gs, "GRID_R", 96)
    finer = boundaries(rates, 0.05, "obrien-fleming", 2).critical_values
    np.testing.assert_allclose(ours, finer, rtol=0, atol=1e-7)


def test_a_look_with_nothing_to_spend():
    # O'Brien-Fleming type at t = 0.001 spends ~1e-1090: no finite boundary, nothing spent
    b = boundaries([0.001, 1.0])
    assert b.critical_values[0] == np.inf and b.nominal_levels[0] == 0.0
    assert b.critical_values[1] == pytest.approx(1.959964, abs=1e-6)
    assert b.alpha_spent[-1] == pytest.approx(0.025, abs=1e-12)


def test_deterministic():
    b1 = boundaries([0.2, 0.45, 0.7, 1.0], 0.05, "pocock", 2)
    b2 = boundaries(np.array([0.2, 0.45, 0.7, 1.0]), 0.05, "pocock", 2)
    assert repr(b1) == repr(b2)


@pytest.mark.parametrize(
    ("kwargs", "rule", "says"),
    [
        ({"information_rates": [0.5, 0.5, 1.0]}, "strictly increasing", "[0.5, 0.5, 1.0]"),
        ({"information_rates": [0.7, 0.4, 1.0]}, "strictly increasing", "strictly increasing"),
        ({"information_rates": [0.0, 0.5, 1.0]}, "must be in (0, 1]", "must be in (0, 1]"),
        ({"information_rates": [0.5, 1.2]}, "must be in (0, 1]", "cap an over-running"),
        (
            {"information_rates": [0.5, 0.5004, 1.0]},
            "at least 0.1% to the information of the look before",
            "treat looks closer than that as one look",
        ),
        ({"information_rates": [0.5, float("nan")]}, "must be in (0, 1]", "nan"),
        ({"information_rates": []}, "non-empty", "one information fraction per look"),
        ({"information_rates": [0.5, 1.0], "alpha": 0.6}, "alpha must be in (0, 0.5)", "0.6"),
        ({"information_rates": [0.5, 1.0], "alpha": 0.0}, "alpha must be in (0, 0.5)", "(0, 0.5)"),
        ({"information_rates": [0.5, 1.0], "sided": 3}, "sided must be 1 or 2", "sided = 3"),
        (
            {"information_rates": [0.5, 1.0], "spending": "haybittle"},
            "spending must be 'obrien-fleming' or 'pocock'",
            "'haybittle' is not known",
        ),
    ],
)
def test_bad_input(kwargs, rule, says):
    with pytest.raises(DataValidationError) as info:
        boundaries(**kwargs)
    assert rule in info.value.rule
    assert says in str(info.value)
    assert isinstance(info.value, ValueError)
