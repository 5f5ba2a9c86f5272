"""The cell product: batch release against the trial's criteria, and one donor per patient.

``batches``: one row per batch (certificate of analysis) with the columns

================== ============================================================================
``batch``          batch id
``donor``          the donor whose cells the batch holds
``viability``      viable cells, % (0-100)
``cd90``           ``cd105``, ``cd73``: positive markers, % of cells (0-100)
``cd45``           ``hla_dr``: negative markers, % of cells (0-100)
``sterility``      ``mycoplasma``, ``endotoxin``, ``donor_serology``: "negative" or "positive"
================== ============================================================================

Release criteria (the paper's Methods; ``/work/shared/spec/domain.md`` section 6), all strict:
viability > 80 %; CD90, CD105 and CD73 each > 80 %; CD45 < 3 %; HLA-DR < 5 %; sterility
(bacteria, fungi), mycoplasma and endotoxin tests negative; donor serology/NAT (HIV, hepatitis
B and C, syphilis, HTLV I/II) negative. The limits are arguments (:class:`ReleaseLimits`),
with the paper's values as defaults.

* Every criterion is checked; a batch fails with the list of **all** criteria it misses, each
  with its value and limit. An empty cell fails its criterion ("not reported"): a batch cannot
  be released on a missing result.
* A value that is not a number (or outside 0-100 %), or a test result other than
  negative / positive, is an input error (:class:`~xerotrial.stats.errors.DataValidationError`
  naming source, row, column, value and rule), not a failed criterion.

Example
-------
>>> import pandas as pd
>>> b = pd.DataFrame([{"batch": "B1", "donor": "D1", "viability": 92.0, "cd90": 99.1,
...                    "cd105": 97.5, "cd73": 99.8, "cd45": 0.4, "hla_dr": 5.0,
...                    "sterility": "negative", "mycoplasma": "negative",
...                    "endotoxin": "negative", "donor_serology": "negative"}])
>>> r = evaluate_release(b)
>>> r["passed"].tolist(), [str(f) for f in r["failures"].iloc[0]]
([False], ['hla_dr: 5.0 is not < 5.0 %'])
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ._checks import cell_error, first_repeat, ids, is_blank, number, require_all

__all__ = [
    "BATCH_COLUMNS",
    "PERCENT_COLUMNS",
    "TEST_COLUMNS",
    "FailedCriterion",
    "ReleaseLimits",
    "check_one_donor",
    "evaluate_release",
]

#: Percent columns, in the order the criteria are checked.
PERCENT_COLUMNS: tuple[str, ...] = ("viability", "cd90", "cd105", "cd73", "cd45", "hla_dr")
#: Qualitative tests that must be negative.
TEST_COLUMNS: tuple[str, ...] = ("sterility", "mycoplasma", "endotoxin", "donor_serology")
#: Columns a batch table must have.
BATCH_COLUMNS: tuple[str, ...] = ("batch", "donor", *PERCENT_COLUMNS, *TEST_COLUMNS)

_RESULTS = {
    "negative": False,
    "neg": False,
    "not detected": False,
    "positive": True,
    "pos": True,
    "detected": True,
}


@dataclass(frozen=True)
class ReleaseLimits:
    """Release limits in %; ``*_min`` are strict lower limits, ``*_max`` strict upper limits.
    Defaults: the paper's release criteria."""

    viability_min: float = 80.0
    cd90_min: float = 80.0
    cd105_min: float = 80.0
    cd73_min: float = 80.0
    cd45_max: float = 3.0
    hla_dr_max: float = 5.0

    def rule(self, column: str) -> tuple[str, float]:
        """(operator, limit) for a percent column, e.g. ``('>', 80.0)``."""
        if hasattr(self, f"{column}_min"):
            return ">", float(getattr(self, f"{column}_min"))
        return "<", float(getattr(self, f"{column}_max"))


@dataclass(frozen=True)
class FailedCriterion:
    """One release criterion a batch misses: the column, the value found (None = not
    reported) and the requirement (``operator`` and ``limit``, or ``"negative"``)."""

    criterion: str
    value: float | str | None
    operator: str
    limit: float | str

    def __str__(self) -> str:
        required = self.limit if isinstance(self.limit, str) else f"{self.operator} {self.limit} %"
        if self.value is None:
            return f"{self.criterion}: not reported (required {required})"
        if isinstance(self.limit, str):
            return f"{self.criterion}: {self.value}, required {required}"
        return f"{self.criterion}: {self.value} is not {required}"


# --------------------------------------------------------------------------- cell checks


def _percent(value: object, pos: int, column: str, source: str) -> float | None:
    if is_blank(value, nat=False):
        return None
    x = number(value.strip().removesuffix("%") if isinstance(value, str) else value)
    if x is None or not 0 <= x <= 100:
        raise cell_error(source, pos, column, value, "a percentage is a number 0-100")
    return x


def _test(value: object, pos: int, column: str, source: str) -> str | None:
    if is_blank(value, nat=False):
        return None
    key = value.strip().casefold() if isinstance(value, str) else None
    if key not in _RESULTS:
        raise cell_error(source, pos, column, value, "a test result is 'negative' or 'positive'")
    return "positive" if _RESULTS[key] else "negative"


# --------------------------------------------------------------------------- release


def evaluate_release(
    batches: pd.DataFrame, *, limits: ReleaseLimits | None = None, source: str = "data"
) -> pd.DataFrame:
    """Check every batch against every release criterion.

    Returns one row per batch, in input order, with ``batch``, ``donor``, ``passed`` (bool)
    and ``failures``: a tuple of :class:`FailedCriterion`, in the order viability, CD90,
    CD105, CD73, CD45, HLA-DR, sterility, mycoplasma, endotoxin, donor serology (empty when
    the batch passes). Batch ids must be unique.

    >>> import pandas as pd
    >>> b = pd.DataFrame([{"batch": "B2", "donor": "D1", "viability": "79.9%", "cd90": 80,
    ...                    "cd105": 95, "cd73": 96, "cd45": 3.2, "hla_dr": 1.0,
    ...                    "sterility": "negative", "mycoplasma": None,
    ...                    "endotoxin": "Negative", "donor_serology": "positive"}])
    >>> for f in evaluate_release(b)["failures"].iloc[0]:
    ...     print(f)
    viability: 79.9 is not > 80.0 %
    cd90: 80.0 is not > 80.0 %
    cd45: 3.2 is not < 3.0 %
    mycoplasma: not reported (required negative)
    donor_serology: positive, required negative
    """
    limits = limits or ReleaseLimits()
    require_all(batches, BATCH_COLUMNS, source)
    batch_ids = ids(batches, "batch", source)
    donors = ids(batches, "donor", source)
    repeat = first_repeat(batch_ids)
    if repeat is not None:
        first, pos = repeat
        raise cell_error(
            source, pos, "batch", batch_ids[pos], f"batch id already on row {first + 1}"
        )
    rows = []
    for pos, rec in enumerate(batches[list(BATCH_COLUMNS)].itertuples(index=False, name=None)):
        values = dict(zip(BATCH_COLUMNS, rec, strict=True))
        failures: list[FailedCriterion] = []
        for col in PERCENT_COLUMNS:
            op, limit = limits.rule(col)
            x = _percent(values[col], pos, col, source)
            if x is None:
                failures.append(FailedCriterion(col, None, op, limit))
            elif not (x > limit if op == ">" else x < limit):
                failures.append(FailedCriterion(col, x, op, limit))
        for col in TEST_COLUMNS:
            result = _test(values[col], pos, col, source)
            if result != "negative":
                failures.append(FailedCriterion(col, result, "=", "negative"))
        rows.append(
            {
                "batch": batch_ids[pos],
                "donor": donors[pos],
                "passed": not failures,
                "failures": tuple(failures),
            }
        )
    return pd.DataFrame(rows, columns=["batch", "donor", "passed", "failures"])


# --------------------------------------------------------------------------- donors


def check_one_donor(
    batches: pd.DataFrame, administrations: pd.DataFrame, source: str = "data"
) -> pd.DataFrame:
    """Check that each batch holds one donor's cells and each patient got one donor's cells.

    ``batches`` needs ``batch`` and ``donor`` (a batch may be listed more than once, always
    with the same donor); ``administrations`` needs ``subject`` and ``batch`` (one row per
    injection or per vial). Raises :class:`DataValidationError` naming the batch and both
    donors, an unknown batch, or the patient, both donors and the batches involved. Returns
    the patient -> donor table (``subject``, ``donor``, ``batches``), ready for
    :func:`xerotrial.trial.immunology.derive_dsa`.

    >>> import pandas as pd
    >>> b = pd.DataFrame({"batch": ["B1", "B2"], "donor": ["D1", "D2"]})
    >>> a = pd.DataFrame({"subject": ["P1", "P1"], "batch": ["B1", "B2"]})
    >>> check_one_donor(b, a)
    Traceback (most recent call last):
    ...
    xerotrial.stats.errors.DataValidationError: data (administrations): row 2, column 'batch', \
value 'B2': patient P1 received cells from two donors: D1 (batch B1) and D2 (batch B2); each \
patient receives cells from one donor
    """
    bsrc, asrc = f"{source} (batches)", f"{source} (administrations)"
    require_all(batches, ("batch", "donor"), bsrc)
    require_all(administrations, ("subject", "batch"), asrc)
    donor_of: dict[str, tuple[str, int]] = {}
    for pos, (b, d) in enumerate(
        zip(ids(batches, "batch", bsrc), ids(batches, "donor", bsrc), strict=True)
    ):
        if b in donor_of and donor_of[b][0] != d:
            first, row = donor_of[b]
            raise cell_error(
                bsrc,
                pos,
                "donor",
                d,
                f"batch {b} is listed with donors {first} (row {row + 1}) and {d}; "
                "each batch holds cells from one donor",
            )
        donor_of.setdefault(b, (d, pos))
    given: dict[str, tuple[str, str]] = {}
    used: dict[str, list[str]] = {}
    subjects = ids(administrations, "subject", asrc)
    for pos, (s, b) in enumerate(zip(subjects, ids(administrations, "batch", asrc), strict=True)):
        if b not in donor_of:
            raise cell_error(asrc, pos, "batch", b, "batch not in the batch table")
        d = donor_of[b][0]
        if s in given and given[s][0] != d:
            d0, b0 = given[s]
            raise cell_error(
                asrc,
                pos,
                "batch",
                b,
                f"patient {s} received cells from two donors: {d0} (batch {b0}) and "
                f"{d} (batch {b}); each patient receives cells from one donor",
            )
        given.setdefault(s, (d, b))
        if b not in used.setdefault(s, []):
            used[s].append(b)
    order = list(dict.fromkeys(subjects))
    return pd.DataFrame(
        {
            "subject": order,
            "donor": [given[s][0] for s in order],
            "batches": [tuple(used[s]) for s in order],
        }
    )
