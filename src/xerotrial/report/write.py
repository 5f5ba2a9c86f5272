"""Write the report folder: ``report.html`` plus tables, figures and datasets as files.

Layout of ``out`` (other files there, such as ``trial.db``, are left alone)::

    report.html
    tables/table1.csv .. table4.csv, tables/<section key>.csv     (unrounded)
    tables/not_run.csv                     (the planned analyses not run yet, when given)
    figures/figure2.png, figure2.svg, consort.png, consort.svg
    data/<dataset name>.csv                                      (unrounded)

Example
-------
>>> from xerotrial.report.write import STEPS
>>> STEPS[0], STEPS[-1]
('tables', 'report.html')
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path

import pandas as pd

from .consort import consort_figure
from .data import TABLE3_COLUMNS, ReportData
from .figures import figure2, png_bytes, svg_text
from .html import render_html

__all__ = ["STEPS", "write_report"]

#: The steps shown by the progress bar, in order.
STEPS = ("tables", "datasets", "figure 2", "CONSORT diagram", "report.html")


def _csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, lineterminator="\n")


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def write_report(data: ReportData, out: Path, progress: bool = False) -> Path:
    """Write the report folder ``out`` (created if needed) and return ``out/report.html``.

    ``progress=True`` shows a rich progress bar over :data:`STEPS` on stderr.
    """
    out = Path(out)
    dirs = {name: out / name for name in ("tables", "figures", "data")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    bar = _progress() if progress else nullcontext()
    with bar as p:
        task = p.add_task("report", total=len(STEPS)) if p else None

        def step(name: str) -> None:
            if p is not None:
                p.update(task, description=f"report: {name}")

        def done() -> None:
            if p is not None:
                p.advance(task)

        step(STEPS[0])
        tables = {
            "table1": data.table1,
            "table2": data.table2,
            "table3": data.table3.loc[:, list(TABLE3_COLUMNS)],
            "table4": data.table4,
        }
        if data.not_run is not None:
            tables["not_run"] = data.not_run
        tables.update({s.key: s.table for s in data.sections})
        for key, df in tables.items():
            _csv(df, dirs["tables"] / f"{key}.csv")
        done()
        step(STEPS[1])
        for name, df in data.datasets.items():
            _csv(df, dirs["data"] / f"{name}.csv")
        done()
        step(STEPS[2])
        fig2 = figure2(data)
        fig2_svg = svg_text(fig2)
        _write_text(dirs["figures"] / "figure2.svg", fig2_svg)
        (dirs["figures"] / "figure2.png").write_bytes(png_bytes(fig2))
        done()
        step(STEPS[3])
        cons = consort_figure(data.consort, data.synthetic)
        cons_svg = svg_text(cons)
        _write_text(dirs["figures"] / "consort.svg", cons_svg)
        (dirs["figures"] / "consort.png").write_bytes(png_bytes(cons))
        done()
        step(STEPS[4])
        html = out / "report.html"
        _write_text(html, render_html(data, figure2_svg=fig2_svg, consort_svg=cons_svg))
        done()
    return html


def _progress():
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(file=sys.stderr),
        transient=False,
    )
