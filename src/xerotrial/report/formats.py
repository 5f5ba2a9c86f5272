"""A report in the formats people print and edit: PDF, Word (DOCX) and RTF, from its HTML.

* **PDF**: the HTML page laid out by WeasyPrint with the page's print stylesheet (A4, wide
  tables on landscape pages, table headers repeated on each page, page numbers).
* **DOCX** (python-docx) and **RTF** (written here: RTF 1.9 tables): the page's printed
  outline (:func:`.outline.outline`): headings, paragraphs and tables, each table's header row
  repeated on every page, a table of more than :data:`WIDE` columns on a landscape section.
  These are for medical writers, who paste the tables into a study report.

Example
-------
>>> rtf_text("<h1>Report</h1><table><thead><tr><th>n (%)</th></tr></thead>"
...          "<tbody><tr><td>1 (10.0) \u2212</td></tr></tbody></table>").count("\\\\row")
2
"""

from __future__ import annotations

from pathlib import Path

from .outline import Heading, Paragraph, Table, outline

__all__ = ["REPORT_FORMATS", "WIDE", "rtf_text", "write_docx", "write_pdf", "write_rtf"]

#: ``xerotrial report --format``: the HTML folder, and with it one of the others.
REPORT_FORMATS = ("html", "pdf", "docx", "rtf")
#: A table with more columns than this prints on a landscape page.
WIDE = 6
# A4 in twips (1/1440 inch) and its margins
_A4 = (11906, 16838)
_MARGIN = 1000


def write_pdf(html: Path, out: Path) -> Path:
    """``out`` (a PDF) from the report page ``html`` (its images are inline)."""
    try:
        from weasyprint import HTML
    except OSError as exc:  # the Pango library is missing
        from xerotrial.errors import XerotrialError

        raise XerotrialError(
            f"report --format pdf needs the Pango library (Debian: libpango-1.0-0 "
            f"libpangoft2-1.0-0): {exc}"
        ) from None
    HTML(filename=str(html)).write_pdf(str(out))
    return out


def _chunks(blocks: list) -> list[tuple[bool, list]]:
    """The blocks in runs that start at a heading, each with whether it holds a wide table
    (so that a wide table's heading goes on its landscape page with it)."""
    runs: list[list] = []
    for b in blocks:
        if isinstance(b, Heading) or not runs:
            runs.append([])
        runs[-1].append(b)
    return [(any(isinstance(b, Table) and b.columns > WIDE for b in r), r) for r in runs]


# ------------------------------------------------------------------------------------ DOCX


def _repeat_header(row) -> None:  # noqa: ANN001 - a python-docx row
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tr_pr = row._tr.get_or_add_trPr()
    el = OxmlElement("w:tblHeader")
    el.set(qn("w:val"), "true")
    tr_pr.append(el)


def _section(doc, landscape: bool) -> None:  # noqa: ANN001 - a python-docx Document
    from docx.enum.section import WD_ORIENT, WD_SECTION
    from docx.shared import Twips

    sec = doc.sections[-1]
    if (sec.orientation == WD_ORIENT.LANDSCAPE) == landscape:
        return
    sec = doc.add_section(WD_SECTION.NEW_PAGE)
    sec.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    w, h = _A4 if not landscape else _A4[::-1]
    sec.page_width, sec.page_height = Twips(w), Twips(h)


def write_docx(html: Path, out: Path) -> Path:
    """``out`` (a Word document) from the report page ``html``."""
    from docx import Document
    from docx.shared import Pt, Twips

    doc = Document()
    sec = doc.sections[0]
    sec.page_width, sec.page_height = Twips(_A4[0]), Twips(_A4[1])
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(sec, side, Twips(_MARGIN))
    doc.styles["Normal"].font.size = Pt(9)
    for wide, run in _chunks(outline(html.read_text(encoding="utf-8"))):
        _section(doc, wide)
        for block in run:
            if isinstance(block, Heading):
                doc.add_heading(block.text, level=min(block.level, 3))
            elif isinstance(block, Paragraph):
                doc.add_paragraph(block.text)
            else:
                _docx_table(doc, block)
    doc.save(str(out))
    return out


def _docx_table(doc, t: Table) -> None:  # noqa: ANN001
    from docx.shared import Pt

    if not t.columns:
        return
    table = doc.add_table(rows=0, cols=t.columns)
    table.style = "Table Grid"
    for i, cells in enumerate((*t.head, *t.body)):
        row = table.add_row()
        if i < len(t.head):
            _repeat_header(row)
        for j in range(t.columns):
            text = cells[j] if j < len(cells) else ""
            para = row.cells[j].paragraphs[0]
            run = para.add_run(text)
            run.font.size = Pt(7.5 if t.columns > WIDE else 8)
            run.bold = i < len(t.head)
    if t.caption:
        doc.add_paragraph(t.caption)


# ------------------------------------------------------------------------------------ RTF


def _rtf_escape(text: str) -> str:
    out = []
    for ch in text:
        if ch in "\\{}":
            out.append("\\" + ch)
        elif ord(ch) < 128:
            out.append(ch)
        else:  # RTF's \uN is a signed 16-bit number, with '?' for readers without Unicode
            n = ord(ch)
            out.append(f"\\u{n - 65536 if n > 32767 else n}?")
    return "".join(out)


def _rtf_table(t: Table, width: int) -> list[str]:
    n = t.columns
    if not n:
        return []
    size = 15 if n > WIDE else 16  # half-points
    lines = []
    for i, cells in enumerate((*t.head, *t.body)):
        head = i < len(t.head)
        row = ["\\trowd\\trgaph60\\trleft0" + ("\\trhdr" if head else "")]
        row += [f"\\clbrdrb\\brdrs\\cellx{width * (j + 1) // n}" if head else
                f"\\cellx{width * (j + 1) // n}" for j in range(n)]  # fmt: skip
        bold = "\\b" if head else ""
        for j in range(n):
            text = _rtf_escape(cells[j] if j < len(cells) else "")
            row.append(f"\\pard\\intbl\\fs{size}{bold} {text}\\b0\\cell")
        row.append("\\row")
        lines.append("".join(row))
    lines.append("\\pard\\par")
    if t.caption:
        lines.append(f"{{\\pard\\fs16 {_rtf_escape(t.caption)}\\par}}")
    return lines


def rtf_text(html: str) -> str:
    """The RTF document of a report page's printed outline."""
    portrait = f"\\sectd\\pgwsxn{_A4[0]}\\pghsxn{_A4[1]}"
    landscape = f"\\sectd\\lndscpsxn\\pgwsxn{_A4[1]}\\pghsxn{_A4[0]}"
    out = [
        "{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0\\fswiss Arial;}}",
        f"\\paperw{_A4[0]}\\paperh{_A4[1]}\\margl{_MARGIN}\\margr{_MARGIN}"
        f"\\margt{_MARGIN}\\margb{_MARGIN}",
        portrait,
    ]
    wide_now = False
    for wide, run in _chunks(outline(html)):
        if wide != wide_now:
            out.append("\\sect" + (landscape if wide else portrait))
            wide_now = wide
        page = (_A4[1] if wide else _A4[0]) - 2 * _MARGIN
        for block in run:
            if isinstance(block, Heading):
                size = {1: 32, 2: 26}.get(block.level, 22)
                text = _rtf_escape(block.text)
                out.append(f"{{\\pard\\sb240\\sa120\\keepn\\b\\fs{size} {text}\\par}}")
            elif isinstance(block, Paragraph):
                out.append(f"{{\\pard\\sa80\\fs18 {_rtf_escape(block.text)}\\par}}")
            else:
                out += _rtf_table(block, page)
    out.append("}")
    return "\n".join(out) + "\n"


def write_rtf(html: Path, out: Path) -> Path:
    """``out`` (an RTF document) from the report page ``html``."""
    out.write_text(rtf_text(html.read_text(encoding="utf-8")), encoding="ascii")
    return out


WRITERS = {"pdf": write_pdf, "docx": write_docx, "rtf": write_rtf}
