"""The demo report printed: the PDF (WeasyPrint) holds the last column of every printed table,
on A4 pages, the wide tables landscape, with a title page; the Word and RTF forms hold every
table with its header row repeated. The PDF's text is read back by pypdf."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xerotrial.report.formats import WIDE, rtf_text, write_docx, write_pdf
from xerotrial.report.outline import Heading, Table, outline


def _squeeze(text: str) -> str:
    """Text without whitespace (the PDF breaks a cell's text over lines)."""
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="session")
def html(demo_output: Path) -> str:
    return (demo_output / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def tables(html: str) -> list[Table]:
    return [b for b in outline(html) if isinstance(b, Table)]


@pytest.fixture(scope="session")
def pdf(demo_output: Path, tmp_path_factory: pytest.TempPathFactory):
    pypdf = pytest.importorskip("pypdf")
    out = write_pdf(demo_output / "report.html", tmp_path_factory.mktemp("pdf") / "report.pdf")
    return pypdf.PdfReader(str(out))


def test_every_printed_table_has_its_last_column_in_the_pdf(pdf, tables) -> None:
    text = _squeeze("".join(page.extract_text() for page in pdf.pages))
    assert len(tables) == 13  # the title page and Tables 1-12
    for t in tables:
        last = [row[-1] for row in (*t.head, *t.body) if row and row[-1]]
        assert last, t
        missing = [cell for cell in last if _squeeze(cell) not in text]
        assert not missing, (t.head, missing[:5])


def test_pages_title_and_landscape(pdf, html) -> None:
    pages = [page.extract_text() for page in pdf.pages]
    first = pages[0]
    for label in ("Identifiers", "NCT03874572", "EudraCT 2018-003856-19", "Protocol",
                  "Statistical analysis plan", "Data cut-off", "Database", "not locked",
                  "Analysis sets", "intent-to-treat 10", "Software", "xerotrial"):  # fmt: skip
        assert label in first, label
    assert "Table 1." not in first  # the title page stands alone
    sizes = [(float(p.mediabox.width), float(p.mediabox.height)) for p in pdf.pages]
    portrait, landscape = (595.28, 841.89), (841.89, 595.28)
    assert all(min(abs(w - a) + abs(h - b) for a, b in (portrait, landscape)) < 1 for w, h in sizes)
    table3 = next(i for i, t in enumerate(pages) if "Table 3. Summary" in t)
    assert sizes[table3][0] > sizes[table3][1]  # Table 3 on a landscape page
    assert sizes[0][0] < sizes[0][1]
    assert re.search(r"Page 1 of \d+", first)
    # a table that runs over a page repeats its header: Table 2's continues on the next page
    t2 = next(i for i, t in enumerate(pages) if "Table 2. Safety" in t)
    if "Death" not in pages[t2]:
        assert "Adverse events (AEs)" in pages[t2 + 1]
    assert "Analysis datasets" in pages[-1] and "data/adeff.csv" in pages[-1]


def test_word_and_rtf_hold_every_table(html: str, tables: list[Table], tmp_path: Path,
                                       demo_output: Path) -> None:  # fmt: skip
    docx = pytest.importorskip("docx")
    path = write_docx(demo_output / "report.html", tmp_path / "report.docx")
    doc = docx.Document(str(path))
    assert len(doc.tables) == len(tables)
    for got, want in zip(doc.tables, tables, strict=True):
        assert len(got.rows) == len(want.head) + len(want.body)
        assert got.rows[-1].cells[-1].text == (want.body or want.head)[-1][-1]
        if want.head:
            assert got.rows[0]._tr.trPr.xml.count("tblHeader") == 1  # repeated on each page
    landscape = [s for s in doc.sections if s.page_width > s.page_height]
    assert landscape and len(doc.sections) > 2
    headings = [b.text for b in outline(html) if isinstance(b, Heading)]
    assert [p.text for p in doc.paragraphs if p.style.name.startswith("Heading")] == headings
    rtf = rtf_text(html)
    assert rtf.startswith("{\\rtf1") and rtf.rstrip().endswith("}")
    assert rtf.count("\\row") == sum(len(t.head) + len(t.body) for t in tables)
    assert rtf.count("\\trhdr") == sum(len(t.head) for t in tables)
    wide = sum(1 for t in tables if t.columns > WIDE)
    assert wide and rtf.count("\\lndscpsxn") >= 1
    assert "\\u8722?" in rtf  # the minus sign, as RTF's Unicode escape
    depth = 0
    for ch in re.sub(r"\\[{}\\]", "", rtf):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0


def test_the_report_command_takes_the_formats(demo_output: Path, tmp_path: Path) -> None:
    # the blinded report of tests/randomize/test_blinding_and_dmc.py is written with
    # --format rtf (and its RTF checked for arms); here the option's contract
    from click.testing import CliRunner

    from xerotrial.cli import cli

    db = f"sqlite:///{demo_output / 'trial.db'}"
    r = CliRunner().invoke(cli, ["report", "--db", db, "--out", str(tmp_path), "--format", "odt"])
    assert r.exit_code == 2 and "'odt' is not one of 'html', 'pdf', 'docx', 'rtf'" in r.output
    assert "--format [html|pdf|docx|rtf]" in CliRunner().invoke(cli, ["report", "-h"]).output
