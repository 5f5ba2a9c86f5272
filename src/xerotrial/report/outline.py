"""A report page as its printed outline: headings, paragraphs and tables, from the HTML.

The HTML report is the one rendering of a report; its PDF, Word (DOCX) and RTF forms are made
from it. :func:`outline` reads what the page prints (the print stylesheet's choices): it
leaves out the contents (``nav``), scripts and styles, the dataset listings (``details``),
anything marked ``screen-only`` and the screen-only lineage cells (``td.lin``/``th.lin``), and
keeps what is marked ``print-only``. A table keeps its caption, its header rows and its body
rows as cell texts.

Example
-------
>>> blocks = outline("<h2>Table 1. X</h2><table><caption>Note.</caption><thead><tr><th>a</th>"
...                  "<th class='lin'>Data</th></tr></thead><tbody><tr><td>1</td>"
...                  "<td class='lin'>link</td></tr></tbody></table>")
>>> blocks[0], blocks[1].head, blocks[1].body, blocks[1].caption
(Heading(level=2, text='Table 1. X'), [['a']], [['1']], 'Note.')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["Heading", "Paragraph", "Table", "outline"]

_SKIP_TAGS = {"nav", "script", "style", "details", "title", "head"}
_SKIP_CLASSES = {"screen-only", "lin"}
_VOID = {"br", "img", "meta", "link", "hr", "input", "col", "wbr"}


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass
class Table:
    """A table's caption, header rows and body rows (cell texts)."""

    caption: str = ""
    head: list[list[str]] = field(default_factory=list)
    body: list[list[str]] = field(default_factory=list)

    @property
    def columns(self) -> int:
        return max((len(r) for r in (*self.head, *self.body)), default=0)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list = []
        self.stack: list[tuple[str, bool]] = []  # (tag, skipped)
        self.text: list[str] | None = None
        self.kind: tuple | None = None
        self.table: Table | None = None
        self.section: str | None = None
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.caption: list[str] | None = None

    @property
    def skipping(self) -> bool:
        return any(skipped for _, skipped in self.stack)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        skip = tag in _SKIP_TAGS or bool(classes & _SKIP_CLASSES)
        if tag not in _VOID:
            self.stack.append((tag, skip))
        if self.skipping:
            return
        if tag in ("h1", "h2", "h3", "h4"):
            self.kind, self.text = ("h", int(tag[1])), []
        elif tag == "p" and self.table is None:
            self.kind, self.text = ("p",), []
        elif tag == "table":
            self.table = Table()
        elif tag in ("thead", "tbody", "tfoot"):
            self.section = tag
        elif tag == "caption":
            self.caption = []
        elif tag == "tr" and self.table is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []
        elif tag == "br" and self.cell is not None:
            self.cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        was_skipping = self.skipping
        while self.stack:
            top, _ = self.stack.pop()
            if top == tag:
                break
        if was_skipping:
            return
        if tag in ("h1", "h2", "h3", "h4") and self.kind and self.kind[0] == "h":
            self.blocks.append(Heading(self.kind[1], _clean("".join(self.text or []))))
            self.kind = self.text = None
        elif tag == "p" and self.kind == ("p",):
            text = _clean("".join(self.text or []))
            if text:
                self.blocks.append(Paragraph(text))
            self.kind = self.text = None
        elif tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append(_clean("".join(self.cell)))
            self.cell = None
        elif tag == "tr" and self.row is not None and self.table is not None:
            (self.table.head if self.section == "thead" else self.table.body).append(self.row)
            self.row = None
        elif tag == "caption" and self.caption is not None and self.table is not None:
            self.table.caption = _clean("".join(self.caption))
            self.caption = None
        elif tag == "table" and self.table is not None:
            self.blocks.append(self.table)
            self.table = self.section = None

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        for sink in (self.cell, self.caption, self.text):
            if sink is not None:
                sink.append(data)
                return


def outline(html: str) -> list[Heading | Paragraph | Table]:
    """The printed headings, paragraphs and tables of ``html``, in order."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.blocks
