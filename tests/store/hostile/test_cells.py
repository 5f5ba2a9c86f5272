"""Every form x every column x every kind of cell rule: each bad cell is refused with its
file, row, line, column and rule, every one of them in one report, and nothing is written.

The bad rows are the sample's first row of the form with one cell changed; a file holds one
row per mutation, so one import proves that every bad row of a file is reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from xerotrial.store.errors import ImportRejectedError
from xerotrial.store.forms import FORMS, INT_MAX, Field
from xerotrial.store.importer import import_file

from .conftest import base_row, csv_text


def _g(x: float) -> str:
    return f"{x:g}"


def mutations(f: Field) -> list[tuple[str, str]]:
    """``(bad text, words of the rule)`` for every rule of field ``f``."""
    out: list[tuple[str, str]] = []
    if f.required:
        out += [("", "required"), ("   ", "required")]
    if f.kind in ("int", "float"):
        whole = "whole " if f.kind == "int" else ""
        out += [
            ("ten", f"must be a {whole}number"),
            ("1_0", f"must be a {whole}number"),  # float() reads 10
            ("\u0661\u0662", f"must be a {whole}number"),  # Arabic-Indic 12: float() reads 12
            ("1,5", f"must be a {whole}number"),
            ("0x10", f"must be a {whole}number"),
            ("inf", "finite"),
            ("-Infinity", "finite"),
            ("nan", "finite"),
            ("1e300", "magnitude"),
            ("12345678901234567890", "magnitude"),  # 20 digits: an OverflowError before
        ]
        if f.lo is not None:
            out.append((_g(f.lo - 1), f">= {_g(f.lo)}"))
        if f.hi is not None:
            out.append((_g(f.hi + 1), f"<= {_g(f.hi)}"))
    if f.kind == "int":
        out.append(("1.5", "whole number"))
        if f.hi is None:
            out.append((str(INT_MAX + 1), "SQL INTEGER"))
    if f.kind == "bool":
        out += [("maybe", "yes or no"), ("2", "yes or no")]
    if f.kind == "date":
        out += [
            ("2019-02-30", "YYYY-MM-DD"),
            ("30/01/2019", "YYYY-MM-DD"),
            ("2999-01-01", "future"),
        ]
    if f.kind == "text":
        if f.choices is not None:
            out.append(("zzz", "one of"))
        if f.max_length is not None:
            out.append(("x" * (f.max_length + 1), f"at most {f.max_length} characters"))
    return out


CASES = [
    (form, f.name, bad, rule)
    for form in FORMS
    for f in FORMS[form].fields
    for bad, rule in mutations(f)
]


def test_the_corpus_is_broad() -> None:
    kinds = {(FORMS[form].field(col).kind, rule) for form, col, _, rule in CASES}
    assert len(CASES) > 400 and len({c[0] for c in CASES}) == len(FORMS)
    assert {k for k, _ in kinds} == {"text", "int", "float", "bool", "date"}


@pytest.mark.parametrize("form", list(FORMS))
def test_every_bad_cell_of_a_form_is_refused(form: str, unchanged: Engine, tmp_path: Path) -> None:
    base = base_row(form)
    header = list(FORMS[form].columns)
    cases = [c for c in CASES if c[0] == form]
    rows = [{**{c: base.get(c, "") for c in header}, col: bad} for _, col, bad, _ in cases]
    path = tmp_path / f"{form}.csv"
    path.write_text(csv_text(header, rows), encoding="utf-8")
    with pytest.raises(ImportRejectedError) as info:
        import_file(unchanged, form, path, user="hostile")
    got = {(p.row, p.column): p for p in info.value.problems}
    assert len(info.value.problems) == len(cases), info.value
    for i, (_, col, bad, rule) in enumerate(cases, start=1):
        p = got[(i, col)]
        assert rule in p.rule, (col, bad, p.rule)
        assert (p.file, p.line, p.value) == (str(path), i + 1, bad if bad.strip() else None)


def test_the_largest_integer_fits_on_every_backend(store: Engine, tmp_path: Path) -> None:
    # SQL INTEGER is 32 bits on PostgreSQL: one more is refused, not an overflow traceback
    sites = tmp_path / "sites.csv"
    sites.write_text("site,name,country\nS1,,\n", encoding="utf-8")
    import_file(store, "sites", sites)
    header = "subject,site,group,sex,age_years,race,education,matched_to,enrolment_order\n"
    path = tmp_path / "p.csv"
    path.write_text(header + f"P01,S1,patient,F,61,,,,{INT_MAX}\n", encoding="utf-8")
    assert import_file(store, "participants", path).inserted == 1
    path.write_text(header + f"P02,S1,patient,F,61,,,,{INT_MAX + 1}\n", encoding="utf-8")
    with pytest.raises(ImportRejectedError, match="SQL INTEGER"):
        import_file(store, "participants", path)
