from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from xerotrial.report.fmt import MINUS, format_ci, format_number, format_p, round_half_up


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.00094, "<.001"),
        (0.0005, "<.001"),
        (0.000999, "<.001"),
        (0.001, ".001"),
        (0.00149, ".001"),
        (0.0015, ".002"),  # half away from zero
        (0.017, ".017"),
        (0.0099, ".010"),
        (0.013, ".013"),
        (0.34, ".340"),
        (0.52, ".520"),
        (0.7, ".700"),
        (0.99, ".990"),
        (0.041, ".041"),
        (0.0016, ".002"),
        (1e-12, "<.001"),
        (0.0, "<.001"),
        (0.0995, ".100"),
        (0.0125, ".013"),
        (0.9994, ".999"),
        (0.9995, ">.999"),
        (1.0, ">.999"),
    ],
)
def test_format_p_as_a_study_report_prints_it(p, text):
    assert format_p(p) == text


@pytest.mark.parametrize("missing", [None, float("nan"), np.nan, pd.NA])
def test_missing_values_print_empty(missing):
    assert format_p(missing) == ""
    assert format_number(missing) == ""
    assert format_number(missing, 2) == ""
    assert format_ci(missing, missing, 2) == ""


@pytest.mark.parametrize(
    ("x", "decimals", "text"),
    [
        (0.125, 2, "0.13"),
        (0.135, 2, "0.14"),
        (2.675, 2, "2.68"),
        (1.005, 2, "1.01"),
        (-0.125, 2, f"{MINUS}0.13"),
        (-22.65, 1, f"{MINUS}22.7"),
        (0.5, 0, "1"),
        (-0.5, 0, f"{MINUS}1"),
        (0.0249999999999, 2, "0.03"),  # rounded to 9 decimals first (binary noise)
        (-0.001, 2, "0.00"),
        (10, 1, "10.0"),
        (np.float64(46.6666), 1, "46.7"),
        (np.int64(12), None, "12"),
    ],
)
def test_format_number_decimals_half_away_from_zero(x, decimals, text):
    assert format_number(x, decimals) == text


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (0.13125, "0.131"),
        (12.4449, "12.4"),
        (0.0199, "0.0199"),
        (0.0, "0"),
        (50.2049, "50.2"),
        (-26.6666667, f"{MINUS}26.7"),
        (0.99951, "1.00"),
        (99.96, "100"),
        (1234.56, "1235"),
        (10.0, "10"),
        (0.000123456, "0.000123"),
        (math.inf, "∞"),
    ],
)
def test_format_number_three_significant_digits(x, text):
    assert format_number(x) == text


def test_round_half_up_and_ci():
    assert str(round_half_up(0.045, 2)) == "0.05"
    assert str(round_half_up(-0.045, 2)) == "-0.05"
    assert format_ci(-33.567, -11.684, 2) == f"{MINUS}33.57 to {MINUS}11.68"
    assert format_ci(0.0281, 0.0915) == "0.0281 to 0.0915"


def test_non_numbers_pass_through():
    assert format_number("61 (45-70)") == "61 (45-70)"
    assert format_number(True) == "True"
