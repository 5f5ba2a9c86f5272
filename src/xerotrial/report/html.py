"""Render :class:`ReportData` as ONE self-contained HTML page (jinja2, autoescaped).

The page opens offline: inline CSS, figures as ``data:`` SVG images, no external resource.
Every table links to its analysis dataset twice: ``data/<name>.csv`` (the file next to the
report) and ``#data-<name>`` (the dataset embedded in a collapsed ``<details>``; a BDS dataset
with PARAMCD gets one block per parameter, ``#data-<name>-<PARAMCD>``, and each Table 3 row
links to its parameter).

Example
-------
>>> dataset_anchor("adeff"), dataset_anchor("adeff", "uws_ml_min"), slug("a b/c")
('data-adeff', 'data-adeff-uws_ml_min', 'a-b-c')
>>> table3_row_cells({"n": 10, "baseline_lsmean": 0.1312, "baseline_se": 0.0199,
...                   "followup_lsmean": 0.184, "followup_se": 0.0201, "difference": 0.0562,
...                   "ci_lower": 0.0281, "ci_upper": 0.0915, "p_value": 0.00094}, {})
['10', '0.131 ± 0.0199', '0.184 ± 0.0201', '0.0562', '0.0281 to 0.0915', '<.001']
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

import jinja2
import markupsafe
import pandas as pd

from .data import ReportData, Section
from .fmt import column_header, format_number, format_p, is_missing

__all__ = [
    "DEFAULT_CAPTIONS",
    "dataset_anchor",
    "format_table",
    "n_percent",
    "render_html",
    "slug",
    "table3_row_cells",
]

#: Captions used when ``ReportData.captions`` has none for the key.
DEFAULT_CAPTIONS = {
    "table1": "Baseline characteristics of the patients and the healthy controls.",
    "table2": "N: patients at risk; n (%): patients with the event and their percentage of N.",
    "table3": "Values are least squares means \u00b1 standard errors, unless otherwise stated. "
    "Difference: follow-up minus baseline, with its 95% confidence interval and P-value.",
    "table4": "HLA antibodies: specificity, donor-specific antibodies (DSA) and mean "
    "fluorescence intensity (MFI) by study day.",
    "consort": "Flow of participants through the trial.",
}
_P_COLUMNS = {"p", "P", "p_value", "P-value", "p-value"}
_PARAM_IN_TEXT = re.compile(r"PARAMCD\s*(?:=|==)\s*['\"]([^'\"]+)['\"]")


def slug(text: str) -> str:
    """A string usable in an HTML id (letters, digits, ``_ . -``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-") or "x"


def dataset_anchor(name: str, paramcd: str | None = None) -> str:
    """The id of an embedded dataset (or of one PARAMCD block of it)."""
    return f"data-{slug(name)}" + (f"-{slug(paramcd)}" if paramcd is not None else "")


def _data_cell(x: Any) -> str:
    """A raw dataset value: 6 significant digits for floats (the CSV has them all)."""
    if is_missing(x):
        return ""
    if isinstance(x, float):
        return str(int(x)) if x == round(x) and abs(x) < 1e15 else format(x, ".6g")
    return str(x)


def format_table(
    df: pd.DataFrame, decimals: Mapping[str, int] | None = None
) -> tuple[list[str], list[list[dict[str, str]]]]:
    """Header and cells (``text``, ``cls``) of a table shown as is: the columns headed in
    words (``fmt.column_header``), numbers with ``decimals[column]`` places or 3 significant
    digits, p-value columns by ``fmt.format_p``, booleans as Yes / No.

    >>> head, rows = format_table(pd.DataFrame({"x": ["a"], "lsmean": [0.12345],
    ...                                         "p": [0.0123]}), {"lsmean": 2})
    >>> head, [c["text"] for c in rows[0]]
    (['X', 'LS mean', 'p'], ['a', '0.12', '.012'])
    >>> [c["text"] for c in format_table(pd.DataFrame({"dsa": [True], "n": [3]}))[1][0]]
    ['Yes', '3']
    """
    decimals = decimals or {}
    names = [str(c) for c in df.columns]
    rows = []
    for rec in df.itertuples(index=False, name=None):
        cells = []
        for col, v in zip(names, rec, strict=True):
            if pd.api.types.is_bool(v):
                cells.append({"text": "Yes" if v else "No", "cls": ""})
                continue
            numeric = not isinstance(v, str) and pd.api.types.is_number(v)
            if numeric and col in _P_COLUMNS and col not in decimals:
                text = format_p(v)
            else:
                text = format_number(v, decimals.get(col))
            cells.append({"text": text, "cls": "num" if numeric else ""})
        rows.append(cells)
    return [column_header(c) for c in names], rows


def table3_row_cells(row: Mapping[str, Any], decimals: Mapping[str, int]) -> list[str]:
    """The printed cells of one Table 3 row: n, baseline and follow-up "LS mean ± SE",
    difference, 95% CI "a to b", p."""

    def f(col: str) -> str:
        return format_number(row[col], decimals.get(col))

    return [
        format_number(row["n"]),
        f"{f('baseline_lsmean')} \u00b1 {f('baseline_se')}",
        f"{f('followup_lsmean')} \u00b1 {f('followup_se')}",
        f("difference"),
        ""
        if is_missing(row["ci_lower"]) and is_missing(row["ci_upper"])
        else f"{f('ci_lower')} to {f('ci_upper')}",
        format_p(row["p_value"]),
    ]


class _Lineage:
    """Builds lineage links (CSV file, embedded anchor, description) for table keys."""

    def __init__(self, data: ReportData):
        self.data = data
        self.codes = {
            name: set(df["PARAMCD"].astype(str)) if "PARAMCD" in df else set()
            for name, df in data.datasets.items()
        }

    def link(self, dataset: str | None, description: str = "", fallback: str | None = None):
        """Links for ``dataset``; the anchor is the PARAMCD block named in ``description``
        (``PARAMCD = 'x'``), else ``fallback``'s block, else the whole dataset."""
        if not dataset:
            return None
        present = dataset in self.data.datasets
        m = _PARAM_IN_TEXT.search(description)
        paramcd = m.group(1) if m else fallback
        code = paramcd if present and paramcd in self.codes.get(dataset, ()) else None
        return {
            "dataset": dataset,
            "present": present,
            "csv": f"data/{dataset}.csv" if present else None,
            "anchor": "#" + dataset_anchor(dataset, code) if present else None,
            "label": f"{dataset}: {code}" if code else dataset,
            "description": description,
        }

    def for_key(self, key: str, section: Section | None = None):
        if key in self.data.lineage:
            return self.link(*self.data.lineage[key])
        if section is not None and section.dataset:
            return self.link(section.dataset)
        return None


def _caption(data: ReportData, key: str, default: str = "") -> str:
    return data.captions.get(key, DEFAULT_CAPTIONS.get(key, default))


def _table1(data: ReportData) -> list[dict]:
    rows, current = [], None
    for r in data.table1.to_dict("records"):
        sec = "" if is_missing(r["section"]) else str(r["section"])
        if sec and sec != current:
            rows.append({"header": sec})
        current = sec
        rows.append(
            {
                "cls": "indent" if sec else "",
                "cells": [
                    {"text": format_number(r["characteristic"]), "cls": "label"},
                    {"text": format_number(r["statistic"]), "cls": ""},
                    {"text": format_number(r["patients"]), "cls": "num"},
                    {"text": format_number(r["controls"]), "cls": "num"},
                    {"text": format_p(r["p_value"]), "cls": "num"},
                ],
            }
        )
    return rows


def n_percent(n: Any, proportion: Any) -> str:
    """``n (%)`` with the percentage to one decimal, as safety tables print it.

    >>> n_percent(1, 0.1), n_percent(0, 0.0), n_percent(2, 2 / 3), n_percent(None, None)
    ('1 (10.0)', '0', '2 (66.7)', '')
    """
    if is_missing(n):
        return ""
    if is_missing(proportion) or float(n) == 0:
        return format_number(n, 0)
    return f"{format_number(n, 0)} ({format_number(100 * float(proportion), 1)})"


def _table2(data: ReportData) -> list[dict]:
    rows, current = [], None
    for r in data.table2.to_dict("records"):
        block = "" if is_missing(r["block"]) else str(r["block"])
        if block and block != current and block != str(r["label"]):
            rows.append({"header": block})
        current = block
        level = 0 if is_missing(r["level"]) else int(r["level"])
        rows.append(
            {
                "cls": f"lvl-{min(level, 3)}",
                "cells": [
                    {"text": format_number(r["label"]), "cls": "label"},
                    {"text": format_number(r["N"], 0), "cls": "num"},
                    {"text": n_percent(r["Sum"], r["Proportion"]), "cls": "num"},
                ],
            }
        )
    return rows


def _table3(data: ReportData, lin: _Lineage) -> list[dict]:
    rows, current = [], None
    for r in data.table3.to_dict("records"):
        outcome = str(r["outcome"])
        group = data.table3_groups.get(outcome)
        if group and group != current:
            rows.append({"header": group})
        current = group
        cells = table3_row_cells(r, data.table3_decimals.get(outcome, {}))
        lineage = data.lineage.get(f"table3:{outcome}")
        link = lin.link(*lineage, fallback=outcome) if lineage else None
        rows.append(
            {
                "cls": "indent" if group else "",
                "id": f"table3-{slug(outcome)}",
                "label": data.table3_labels.get(outcome, outcome),
                "outcome": outcome,
                "cells": cells,
                "lineage": link,
            }
        )
    return rows


def _table4(data: ReportData) -> tuple[list[str], list[list[dict[str, str]]]]:
    df = data.table4
    return format_table(
        df, {c: 0 for c in df.columns if c.startswith("mfi_day_") or c == "first_positive_day"}
    )


def _datasets(data: ReportData, max_rows: int) -> list[dict]:
    out = []
    for name, df in data.datasets.items():
        shown = df.head(max_rows)
        if "PARAMCD" in df.columns:
            parts = [
                (str(code), g)
                for code, g in shown.groupby(shown["PARAMCD"].astype(str), sort=False)
            ]
        else:
            parts = [(None, shown)]
        blocks = [
            {
                "id": dataset_anchor(name, code) if code is not None else None,
                "code": code,
                "n": len(g),
                "rows": [
                    [_data_cell(v) for v in rec] for rec in g.itertuples(index=False, name=None)
                ],
            }
            for code, g in parts
        ]
        out.append(
            {
                "name": name,
                "id": dataset_anchor(name),
                "csv": f"data/{name}.csv",
                "columns": [str(c) for c in df.columns],
                "n": len(df),
                "truncated": len(df) > max_rows,
                "max_rows": max_rows,
                "blocks": blocks,
            }
        )
    return out


def _svg_img(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _figure2_caption(data: ReportData) -> str:
    if "figure2" in data.captions:
        return data.captions["figure2"]
    parts = [f"{t} ({chr(65 + i)})" for i, (_, t, _) in enumerate(data.figure2_panels)]
    listed = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    n = data.figure2["USUBJID"].nunique()
    return (
        f"{listed}. Lines with colour represent the {n} patients and the black lines the "
        "least squares means with 95% confidence intervals."
    )


def css_text(text: str) -> markupsafe.Markup:
    """``text`` safe inside a CSS string in a ``<style>`` element (which HTML escaping does not
    reach): letters, digits, spaces and ``. , : · - /`` only (no quote, no angle bracket).

    >>> str(css_text('NCT1 · EudraCT 2018-1 "</style>'))
    'NCT1 · EudraCT 2018-1 /style'
    """
    return markupsafe.Markup(re.sub(r"[^A-Za-z0-9 .,:·/-]", "", text))


def templates_environment() -> jinja2.Environment:
    """The reports' templates (autoescaped; a missing value is an error)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("xerotrial.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(
    data: ReportData,
    figure2_svg: str | None = None,
    consort_svg: str | None = None,
    max_rows: int = 5000,
) -> str:
    """The report page. Figures are drawn here unless their SVG text is given; datasets are
    embedded with at most ``max_rows`` rows each (the CSV has all)."""
    if figure2_svg is None:
        from .figures import figure2, svg_text

        figure2_svg = svg_text(figure2(data))
    if consort_svg is None:
        from .consort import consort_svg as draw_consort

        consort_svg = draw_consort(data.consort, data.synthetic)
    lin = _Lineage(data)
    t4_head, t4_rows = _table4(data)
    sections = []
    for s in data.sections:
        head, rows = format_table(s.table if s.display is None else s.display, s.decimals)
        sections.append(
            {
                "key": s.key,
                "title": s.title,
                "note": s.note,
                "head": head,
                "rows": rows,
                "lineage": lin.for_key(s.key, s),
            }
        )
    not_run = None
    if data.not_run is not None and len(data.not_run):
        head, rows = format_table(data.not_run)
        not_run = {"head": [h.capitalize() for h in head], "rows": rows}
    ctx = {
        "d": data,
        "print_footer": css_text(dict(data.title_page).get("Identifiers", "")),
        "not_run": not_run,
        "caption": {
            k: _caption(data, k) for k in ("table1", "table2", "table3", "table4", "consort")
        },
        "figure2_caption": _figure2_caption(data),
        "lineage": {
            k: lin.for_key(k)
            for k in ("table1", "table2", "table3", "table4", "figure2", "consort")
        },
        "table1": _table1(data),
        "table2": _table2(data),
        "table3": _table3(data, lin),
        "table4_head": t4_head,
        "table4": t4_rows,
        "figure2_src": _svg_img(figure2_svg),
        "consort_src": _svg_img(consort_svg),
        "sections": sections,
        "datasets": _datasets(data, max_rows),
    }
    return templates_environment().get_template("report.html.j2").render(**ctx)
