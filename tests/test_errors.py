"""xerotrial's one family of exceptions: structured fields, the old import paths, pickling, and
the store and the command line reading fields rather than messages."""

from __future__ import annotations

import json
import pickle

import pytest

import xerotrial.errors as family
import xerotrial.stats.errors as stats_errors
import xerotrial.store.errors as store_errors
from xerotrial.errors import (
    ConvergenceError,
    DataValidationError,
    ImportRejectedError,
    Problem,
    StoreError,
    XerotrialError,
)


def test_one_family_under_the_old_names() -> None:
    for name in stats_errors.__all__:
        assert getattr(family, name) is getattr(stats_errors, name)
    for name in store_errors.__all__:
        assert getattr(family, name) is getattr(store_errors, name)
    from xerotrial.store import Problem as StoreProblem
    from xerotrial.store.forms import Problem as FormsProblem

    assert StoreProblem is FormsProblem is Problem
    assert issubclass(ImportRejectedError, DataValidationError)
    assert issubclass(DataValidationError, ValueError) and issubclass(StoreError, XerotrialError)
    assert issubclass(ConvergenceError, ArithmeticError)


def test_the_message_stays_the_first_argument() -> None:
    e = DataValidationError("data.csv: column 'uws' not found")
    assert str(e) == e.message == "data.csv: column 'uws' not found"
    assert e.args == ("data.csv: column 'uws' not found",)
    assert (e.file, e.row, e.column, e.value, e.rule, e.summary) == (None,) * 6
    assert e.problems == []
    with pytest.raises(ValueError, match="not found"):
        raise e


def test_fields_of_a_located_error() -> None:
    e = DataValidationError(
        "x.csv: bad grade", file="x.csv", row=4, column="grade", value=7, rule="must be <= 5"
    )
    assert e.problems == [Problem("x.csv", 4, "grade", 7, "must be <= 5")]
    assert str(e) == "x.csv: bad grade"
    e = DataValidationError.at("data", "r1", "kind", "XX", "must be one of ['UWS', 'SWS']")
    assert str(e) == "data: row 'r1', column 'kind', value 'XX': must be one of ['UWS', 'SWS']"
    assert e.row == "r1" and e.line is None
    e = StoreError.at("a.csv", 3, "age", None, "required")
    assert str(e) == "a.csv: row 3, column 'age', value None: required"


def test_to_dict_is_plain_json() -> None:
    e = ImportRejectedError(
        "a.csv",
        [
            Problem("a.csv", 2, "sex", "Q", "M or F"),
            Problem("a.csv", 3, "age_years", "x", "a whole number"),
        ],
    )
    d = json.loads(json.dumps(e.to_dict()))
    assert d["type"] == "ImportRejectedError" and d["file"] == "a.csv"
    assert d["summary"] == "a.csv: rejected, nothing was imported (2 problems):"
    assert [p["column"] for p in d["problems"]] == ["sex", "age_years"]


@pytest.mark.parametrize(
    "error",
    [
        DataValidationError.at("items.csv", 2, "xq1", "11", "0 to 10", line=3),
        ImportRejectedError("a.csv", [Problem("a.csv", 2, "grade", "9", "must be <= 5")]),
        StoreError("no store at trial.db", file="trial.db"),
        ConvergenceError("did not converge"),
    ],
)
def test_fields_survive_pickling(error: XerotrialError) -> None:
    """Errors cross process pools and Dask workers (xerotrial power)."""
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and str(back) == str(error)
    assert back.to_dict() == error.to_dict()


def test_store_reads_a_validators_fields_not_its_message() -> None:
    """A value that looks like the message's own punctuation cannot fool the store."""
    from xerotrial.store.forms import _trial

    tricky = "3', value 'x"

    def validator(frame, protocol):  # noqa: ANN001
        raise DataValidationError.at("data", 1, "grade", tricky, "a CTCAE grade is 1 to 5")

    assert _trial(validator, "grade")({"grade": tricky}, None) == [
        ("grade", tricky, "a CTCAE grade is 1 to 5")
    ]


def test_trial_validators_carry_fields_and_the_store_reads_them() -> None:
    from xerotrial.store.forms import _trial
    from xerotrial.trial._checks import cell_error, row_error

    e = cell_error("ae.csv", 3, "grade", 7, "must be <= 5")
    assert (e.file, e.row, e.line, e.column, e.value, e.rule) == (
        "ae.csv",
        4,
        5,
        "grade",
        7,
        "must be <= 5",
    )
    assert str(e) == "ae.csv: line 5 (data row 4), column 'grade', value 7: must be <= 5"
    e = row_error("data", "P01", "grade", 7, "must be <= 5")
    assert (e.row, e.line, e.column, e.rule) == ("P01", None, "grade", "must be <= 5")

    def validator(frame, protocol):  # noqa: ANN001
        raise row_error("data", 0, "grade", 7, "must be <= 5")

    assert _trial(validator, "grade")({"grade": 7}, None) == [("grade", 7, "must be <= 5")]

    def unlocated(frame, protocol):  # noqa: ANN001
        raise DataValidationError("the grade cannot be checked")  # no fields: the default

    assert _trial(unlocated, "grade")({"grade": 7}, None) == [
        ("grade", "", "the grade cannot be checked")
    ]


def test_command_line_prints_problems_from_their_fields() -> None:
    from xerotrial.cli_common import error_lines, run_or_fail

    problems = [Problem("a.csv", 2, "sex", "Q", "M or F"), Problem("a.csv", 5, "age", "", "req")]
    e = ImportRejectedError("a.csv", problems)
    assert error_lines(e) == [
        "a.csv: rejected, nothing was imported (2 problems):",
        "  a.csv: row 2, column 'sex', value 'Q': M or F",
        "  a.csv: row 5, column 'age', value '': req",
    ]
    e.problems = problems[:1]  # the lines follow the fields, whatever the message says
    assert error_lines(e)[1:] == ["  a.csv: row 2, column 'sex', value 'Q': M or F"]

    def boom() -> None:
        raise e

    with pytest.raises(SystemExit) as info:
        run_or_fail(boom)
    assert info.value.code == 2


def test_rejected_import_carries_every_problem(tmp_path) -> None:
    from xerotrial.store import import_file, init_store, open_store

    db = tmp_path / "trial.db"
    init_store(str(db))
    path = tmp_path / "sites.csv"
    path.write_text("site,name,country\nS1,A,DK\nS1,B,DK\n")
    with pytest.raises(ImportRejectedError) as info:
        import_file(open_store(str(db)), "sites", path)
    e = info.value
    assert e.file == str(path) and e.summary.startswith(f"{path}: rejected")
    assert [(p.row, p.column, p.value) for p in e.problems] == [(2, "site", "S1")]
    with pytest.raises(StoreError) as missing:
        import_file(open_store(str(db)), "sites", tmp_path / "none.csv")
    assert missing.value.file == str(tmp_path / "none.csv")
