"""Render an analysed trial into a report folder (HTML, CSV tables, figures, datasets).

The report knows nothing of REML or of the store: it receives finished tables and datasets
(:class:`ReportData`) and renders them.

* :mod:`.data` - the input dataclasses :class:`ReportData` and :class:`Section`;
* :mod:`.fmt` - the paper's rounding (half away from zero), p-values as a study report prints them;
* :mod:`.figures` - Figure 2 (trajectories and LS means), deterministic SVG / PNG;
* :mod:`.consort` - the CONSORT-style flow diagram;
* :mod:`.html` - one self-contained ``report.html`` (jinja2 template, autoescaped);
* :mod:`.write` - :func:`write_report`, the whole folder.

Example
-------
>>> from xerotrial.report import format_p, format_number
>>> format_p(0.00094), format_number(-22.64, 1)
('<.001', '−22.6')
"""

from .consort import consort_figure, consort_png, consort_svg
from .data import TABLE3_COLUMNS, ReportData, Section
from .figures import SYNTHETIC_MARK, figure2, png_bytes, svg_text
from .fmt import format_ci, format_number, format_p, round_half_up
from .html import render_html
from .write import write_report

__all__ = [
    "SYNTHETIC_MARK",
    "TABLE3_COLUMNS",
    "ReportData",
    "Section",
    "consort_figure",
    "consort_png",
    "consort_svg",
    "figure2",
    "format_ci",
    "format_number",
    "format_p",
    "png_bytes",
    "render_html",
    "round_half_up",
    "svg_text",
    "write_report",
]
