from __future__ import annotations

import dataclasses

import matplotlib
import numpy as np

from xerotrial.report import SYNTHETIC_MARK, ReportData, consort_figure, figure2, svg_text
from xerotrial.report.consort import consort_lines


def _texts(fig) -> list[str]:
    out = [t.get_text() for t in fig.texts]
    if fig._suptitle is not None:
        out.append(fig._suptitle.get_text())
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts] + [ax.get_title(), ax.get_ylabel()]
    return out


def test_figure2_panels_lines_and_lsmeans(report_data: ReportData):
    fig = figure2(report_data)
    assert len(fig.axes) == 3
    texts = _texts(fig)
    for letter in "ABC":
        assert letter in texts
    for _, title, ylabel in report_data.figure2_panels:
        assert title in texts and ylabel in texts
    assert SYNTHETIC_MARK in texts
    n_subjects = report_data.figure2["USUBJID"].nunique()
    ax = fig.axes[0]
    colours = {
        matplotlib.colors.to_hex(line.get_color())
        for line in ax.lines
        if line.get_label().startswith("P")
    }
    assert len(colours) == n_subjects  # one colour per patient
    black = [line for line in ax.lines if line.get_color() == "black"]
    assert black and black[0].get_linewidth() > 2  # LS means: thick black line
    ls = report_data.figure2_lsmeans.query("PARAMCD == 'uws_ml_min'").sort_values("AVISITN")
    np.testing.assert_allclose(black[0].get_ydata(), ls["estimate"])
    np.testing.assert_allclose(black[0].get_xdata(), ls["AVISITN"])
    assert list(ax.get_xticks()) == [0, 30, 120]


def test_figure2_without_synthetic_mark(report_data: ReportData):
    fig = figure2(dataclasses.replace(report_data, synthetic=False))
    assert SYNTHETIC_MARK not in _texts(fig)


def test_svg_deterministic(report_data: ReportData):
    """Saving twice gives the same SVG (fresh figures across runs: test_write's rerun test)."""
    fig = figure2(report_data)
    a = svg_text(fig)
    assert a == svg_text(fig)  # the layout is frozen: saving again draws the same
    assert "<dc:date>" not in a and 'id="p' in a  # no date; clip-path ids from the fixed salt


def test_consort_boxes(report_data: ReportData):
    lines = consort_lines(report_data.consort)
    assert lines["screened"] == "Assessed for eligibility (n = 17)"
    assert lines["excluded"] == [
        "Excluded (n = 7)",
        "\u2022 smoking (n = 3)",
        "\u2022 previous cancer (n = 2)",
        "\u2022 other (n = 2)",
    ]
    assert lines["cohorts"] == [
        "CryoStor CS5 (5% DMSO)\n(n = 5)",
        "CryoStor CS10 (10% DMSO)\n(n = 5)",
    ]
    assert "(n = 10)" in lines["controls"] and "(n = 4)" in lines["long_term"]
    assert lines["followed_up"] == "Followed up 4 months (n = 10)"  # the label given
    assert consort_lines({"followed_up": 3})["followed_up"] == (
        "Followed up to the primary visit (n = 3)"
    )
    fig = consort_figure(report_data.consort, synthetic=True)
    texts = " ".join(_texts(fig))
    for key in ("screened", "enrolled", "followed_up", "analysed", "long_term"):
        assert lines[key] in texts
    assert SYNTHETIC_MARK in texts
    # missing counts do not fail
    assert consort_lines({})["screened"] == "Assessed for eligibility (n = ?)"
    consort_figure({"cohorts": {"A": 1, "B": 2, "C": 3}})
