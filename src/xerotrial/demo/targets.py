"""The seed paper's printed Table 3 and 1-month results, as the targets of the synthetic demo.

Every number is kept as the printed text, so that its number of decimals is part of the
target (``"0.13"`` means a value that rounds, half away from zero as SAS prints, to 0.13).
Source: Lynggaard et al., Stem Cells Transl Med 2022 (doi:10.1093/stcltm/szac011), Table 3
and the Results text. Where the text prints a different p-value from the table, both are
kept (``p_alt``); either may be met.

>>> TABLE3["uws_ml_min"].follow_up.estimate
'0.18'
>>> decimals("0.13"), decimals("-22.6"), decimals(".0009")
(2, 1, 4)
>>> rounds_to(2.35, "2.4"), rounds_to(2.349, "2.4")
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ..report.fmt import round_half_up

__all__ = [
    "Estimate",
    "Row",
    "TABLE3",
    "TEXT_1_MONTH",
    "PAPER_INCONSISTENCIES",
    "RESPONDERS",
    "decimals",
    "rounds_to",
    "p_close",
    "mismatches",
]


def decimals(printed: str) -> int:
    """Number of decimals of a printed number.

    >>> decimals("50.2"), decimals("0")
    (1, 0)
    """
    return len(printed.split(".")[1]) if "." in printed else 0


def rounds_to(value: float, printed: str) -> bool:
    """Whether ``value`` prints as ``printed`` (round half away from zero, as SAS formats).

    ``value`` is first rounded to 9 decimals to remove binary floating-point noise.

    >>> rounds_to(-0.05, "-0.1"), rounds_to(0.0449, "0.0")
    (True, True)
    """
    q = round_half_up(value, decimals(printed))
    return q == Decimal(printed) or (q == 0 and Decimal(printed) == 0)


def p_close(p: float, printed: str, rel: float = 0.30) -> bool:
    """Whether a p-value is within ``rel`` (relative) of the printed one.

    >>> p_close(0.0011, ".0009"), p_close(0.0013, ".0009")
    (True, False)
    """
    target = float(printed)
    return abs(p - target) <= rel * target


@dataclass(frozen=True)
class Estimate:
    """A printed LS mean and its standard error."""

    estimate: str
    se: str


@dataclass(frozen=True)
class Row:
    """One row of Table 3: outcome, n, baseline and 120-day LS means, difference, CI, p."""

    paramcd: str
    label: str
    n: int
    baseline: Estimate
    follow_up: Estimate
    difference: str
    lower: str
    upper: str
    p: str
    p_alt: tuple[str, ...] = field(default=())


def _r(
    code: str,
    label: str,
    n: int,
    b: str,
    bse: str,
    f: str,
    fse: str,
    d: str,
    lo: str,
    hi: str,
    p: str,
    *alt: str,
) -> Row:
    return Row(code, label, n, Estimate(b, bse), Estimate(f, fse), d, lo, hi, p, tuple(alt))


#: Table 3, keyed by PARAMCD (the text's p-values as ``p_alt``).
TABLE3: dict[str, Row] = {
    r.paramcd: r
    for r in (
        _r(
            "uws_ml_min",
            "UWS FR, mL/minute",
            10,
            "0.13",
            "0.02",
            "0.18",
            "0.02",
            "0.06",
            "0.03",
            "0.09",
            ".0009",
        ),
        _r(
            "uws_pct_change",
            "UWS FR, % change from baseline",
            10,
            "0",
            "12.4",
            "50.2",
            "12.4",
            "50.2",
            "23.97",
            "76.44",
            ".0005",
        ),
        _r(
            "sws_ml_min",
            "SWS FR, mL/minute",
            10,
            "0.66",
            "0.11",
            "0.75",
            "0.1",
            "0.09",
            "0.02",
            "0.16",
            ".017",
        ),
        _r(
            "sws_pct_change",
            "SWS FR, % change from baseline",
            10,
            "0",
            "6.5",
            "20.2",
            "6.5",
            "20.2",
            "5.14",
            "35.22",
            ".0099",
            ".004",
        ),
        _r(
            "xq_summary",
            "XQ summary score (0-100)",
            10,
            "53.5",
            "6.7",
            "30.9",
            "6.7",
            "-22.6",
            "-33.57",
            "-11.68",
            ".0004",
        ),
        _r(
            "HNDR",
            "EORTC QLQ-H&N35 dry mouth",
            10,
            "73.3",
            "7.2",
            "46.7",
            "7.2",
            "-26.7",
            "-46.93",
            "-6.41",
            ".013",
            ".0013",
        ),
        _r(
            "HNSS",
            "EORTC QLQ-H&N35 sticky saliva",
            10,
            "46.7",
            "8.3",
            "23.3",
            "8.3",
            "-23.3",
            "-41.52",
            "-5.15",
            ".015",
            ".0015",
        ),
        _r(
            "HNSW",
            "EORTC QLQ-H&N35 swallowing",
            10,
            "26.7",
            "4.8",
            "16.7",
            "4.8",
            "-10.0",
            "-17.87",
            "-2.12",
            ".016",
            ".0016",
        ),
        _r(
            "scint_uptake_all",
            "Scintigraphic uptake score, all glands",
            10,
            "1.7",
            "0.2",
            "1.8",
            "0.2",
            "0.1",
            "-0.06",
            "0.16",
            ".34",
        ),
        _r(
            "scint_uptake_pg",
            "Scintigraphic uptake score, PG",
            10,
            "2.3",
            "0.2",
            "2.4",
            "0.2",
            "0.1",
            "-0.06",
            "0.16",
            ".34",
        ),
        _r(
            "scint_uptake_smg",
            "Scintigraphic uptake score, SMG",
            10,
            "0.9",
            "0.2",
            "0.9",
            "0.2",
            "-0.1",
            "-0.16",
            "0.06",
            ".34",
        ),
        _r(
            "scint_excretion_all",
            "Scintigraphic excretion fraction %, all glands",
            10,
            "53.3",
            "4.8",
            "55.3",
            "4.8",
            "2.0",
            "-4.75",
            "8.76",
            ".52",
        ),
        _r(
            "scint_excretion_pg",
            "Scintigraphic excretion fraction %, PG",
            10,
            "59.3",
            "6.0",
            "60.8",
            "6.0",
            "1.4",
            "-6.85",
            "9.94",
            ".70",
        ),
        _r(
            "scint_excretion_smg",
            "Scintigraphic excretion fraction %, SMG",
            10,
            "40.3",
            "5.0",
            "44.3",
            "5.0",
            "4.0",
            "-4.16",
            "12.06",
            ".28",
        ),
        _r(
            "uws_chloride",
            "UWS chloride, mmol/L",
            8,
            "21.7",
            "2.3",
            "19.0",
            "2.4",
            "-2.68",
            "-7.46",
            "2.09",
            ".23",
        ),
        _r(
            "sws_chloride",
            "SWS chloride, mmol/L",
            9,
            "26.5",
            "3.4",
            "25.9",
            "3.4",
            "-0.61",
            "-3.41",
            "2.18",
            ".63",
        ),
        _r(
            "uws_phosphate",
            "UWS phosphate, mmol/L",
            8,
            "4.7",
            "0.4",
            "4.4",
            "0.4",
            "-0.28",
            "-1.44",
            "0.88",
            ".55",
        ),
        _r(
            "sws_phosphate",
            "SWS phosphate, mmol/L",
            9,
            "3.8",
            "0.2",
            "3.6",
            "0.2",
            "-0.22",
            "-0.88",
            "0.44",
            ".47",
        ),
        _r(
            "uws_potassium",
            "UWS potassium, mmol/L",
            8,
            "19.1",
            "1.4",
            "18.2",
            "1.6",
            "-0.91",
            "-4.57",
            "2.74",
            ".54",
        ),
        _r(
            "sws_potassium",
            "SWS potassium, mmol/L",
            9,
            "19.4",
            "1.1",
            "19.4",
            "1.2",
            "0.02",
            "-2.85",
            "2.81",
            ".99",
        ),
        _r(
            "uws_sodium",
            "UWS sodium, mmol/L",
            8,
            "8.4",
            "1.4",
            "7.2",
            "1.5",
            "-1.17",
            "-3.80",
            "1.46",
            ".32",
        ),
        _r(
            "sws_sodium",
            "SWS sodium, mmol/L",
            9,
            "14.7",
            "3.3",
            "15.7",
            "3.4",
            "1.02",
            "-3.57",
            "5.62",
            ".62",
        ),
    )
}

#: The Results text at 1 month (day 30): LS mean, change from baseline, 95% CI and p.
TEXT_1_MONTH: dict[str, dict[str, str]] = {
    "uws_ml_min": {
        "estimate": "0.16",
        "difference": "0.03",
        "lower": "0.00",
        "upper": "0.07",
        "p": ".041",
    },
    "sws_ml_min": {"difference": "0.09", "lower": "0.02", "upper": "0.16", "p": ".019"},
}

#: Responders at 4 months (percent change from baseline > 30%), Results text.
RESPONDERS: dict[str, int] = {"uws_ml_min": 5, "sws_ml_min": 3}

#: Printed numbers that no data set can reproduce together with the rest of their row, with
#: the reason. (paramcd, field) -> reason. The calibration meets the others and skips these.
PAPER_INCONSISTENCIES: dict[tuple[str, str], str] = {
    ("HNSW", "upper"): (
        "the LS means 26.7 and 16.7 force the visit sums of (items 35-38 - 4) to 32 and 20 "
        "(the only whole numbers within rounding), and with all 10 patients scored at day 0 "
        "and 4 months the LS means are those visit means, so the difference is -10.000 "
        "exactly while the CI -17.87 to -2.12 is centred on -9.995: -17.87 needs a "
        "half-width h < 7.875 and -2.12 needs h > 7.875; the lower bound and the text's CI "
        "-17.9 to -2.1 are met"
    ),
    ("sws_potassium", "difference"): (
        "the CI -2.85 to 2.81 is centred on -0.02, so the difference cannot print as +0.02; "
        "the CI is met and the difference is -0.02"
    ),
    ("scint_excretion_pg", "difference"): (
        "the CI -6.85 to 9.94 is centred on 1.545 (and 60.8 - 59.3 = 1.5), so the difference "
        "cannot print as 1.4; the CI and the LS means are met and the difference is 1.5"
    ),
}


def mismatches(paramcd: str, computed: dict, skip: set[str] | frozenset = frozenset()) -> dict:
    """Which of a computed Table 3 row's numbers miss the printed ones: each LS mean, SE,
    difference and CI bound must round to the printed value, p be within 30% of the table's or
    the text's p. Fields in ``skip`` (and the row's known paper inconsistencies) are left out.

    >>> row = TABLE3["uws_ml_min"]
    >>> mismatches("uws_ml_min", {"baseline": 0.126, "baseline_se": 0.022, "follow_up": 0.184,
    ...     "follow_up_se": 0.022, "difference": 0.058, "lower": 0.026, "upper": 0.09,
    ...     "p": 0.0008})
    {}
    """
    row = TABLE3[paramcd]
    skip = set(skip) | {f for (c, f) in PAPER_INCONSISTENCIES if c == paramcd}
    printed = {
        "baseline": row.baseline.estimate,
        "baseline_se": row.baseline.se,
        "follow_up": row.follow_up.estimate,
        "follow_up_se": row.follow_up.se,
        "difference": row.difference,
        "lower": row.lower,
        "upper": row.upper,
    }
    bad = {
        k: (computed[k], v)
        for k, v in printed.items()
        if k not in skip and not rounds_to(computed[k], v)
    }
    if "p" not in skip and not any(p_close(computed["p"], q) for q in (row.p, *row.p_alt)):
        bad["p"] = (computed["p"], (row.p, *row.p_alt))
    return bad
