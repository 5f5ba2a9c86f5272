"""A CONSORT-style flow diagram of the trial (matplotlib boxes and arrows).

Screened -> excluded (with reasons) -> enrolled -> allocated by cohort (CS5 / CS10) ->
followed up to the primary visit (``followed_up_label``, e.g. "4 months") -> analysed ->
long-term follow-up; healthy controls in a side box. Missing counts print as "n = ?" rather
than failing.

Example
-------
>>> flow = {"screened": 17, "not_eligible": 7, "reasons": {"smoking": 3, "other": 4},
...         "enrolled": 10, "cohorts": {"CS5": 5, "CS10": 5}, "followed_up": 10,
...         "analysed": 10, "controls": 10, "long_term": 4}
>>> lines = consort_lines(flow)
>>> lines["screened"], lines["excluded"][:2]
('Assessed for eligibility (n = 17)', ['Excluded (n = 7)', '\u2022 smoking (n = 3)'])
>>> consort_svg(flow).count("<svg") == 1
True
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from .figures import mark_synthetic, new_figure, png_bytes, svg_text

__all__ = ["COHORT_LABELS", "consort_figure", "consort_lines", "consort_png", "consort_svg"]

#: Printed names of the cohorts (others print as their key).
COHORT_LABELS = {"CS5": "CryoStor CS5 (5% DMSO)", "CS10": "CryoStor CS10 (10% DMSO)"}


def _n(flow: Mapping[str, Any], key: str) -> str:
    v = flow.get(key)
    return "?" if v is None else str(v)


def consort_lines(flow: Mapping[str, Any]) -> dict[str, Any]:
    """The text of every box (``cohorts`` and ``excluded`` are lists)."""
    reasons = flow.get("reasons") or {}
    return {
        "screened": f"Assessed for eligibility (n = {_n(flow, 'screened')})",
        "excluded": [f"Excluded (n = {_n(flow, 'not_eligible')})"]
        + [f"\u2022 {r} (n = {n})" for r, n in reasons.items()],
        "enrolled": f"Enrolled and injected (n = {_n(flow, 'enrolled')})",
        "cohorts": [
            f"{COHORT_LABELS.get(c, c)}\n(n = {n})" for c, n in (flow.get("cohorts") or {}).items()
        ],
        "followed_up": f"Followed up {flow.get('followed_up_label') or 'to the primary visit'} "
        f"(n = {_n(flow, 'followed_up')})",
        "analysed": f"Analysed (n = {_n(flow, 'analysed')})",
        "long_term": f"Long-term follow-up \u2265 2 years (n = {_n(flow, 'long_term')})",
        "controls": f"Healthy controls\n(n = {_n(flow, 'controls')})\nbaseline saliva only",
    }


def _box(ax, x: float, y: float, text: str, w: float, h: float, **kw) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.008",
            fc=kw.pop("fc", "#f4f6fb"),
            ec=kw.pop("ec", "#34495e"),
            lw=1.0,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5, wrap=False, **kw)


def _arrow(ax, x0: float, y0: float, x1: float, y1: float, dashed: bool = False) -> None:
    ax.annotate(
        "",
        xy=(x1, y1),
        xytext=(x0, y0),
        arrowprops={
            "arrowstyle": "-|>",
            "color": "#34495e",
            "lw": 1.0,
            "linestyle": "--" if dashed else "-",
            "shrinkA": 0,
            "shrinkB": 0,
        },
    )


def consort_figure(flow: Mapping[str, Any], synthetic: bool = False) -> Figure:
    """The flow diagram as a matplotlib figure (axes in 0..1 units, axis hidden)."""
    lines = consort_lines(flow)
    fig = new_figure(7.5, 7.0)
    fig.set_layout_engine("none")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    cx, w, h = 0.42, 0.40, 0.065
    ys = {
        "screened": 0.92,
        "enrolled": 0.63,
        "cohorts": 0.49,
        "followed_up": 0.35,
        "analysed": 0.22,
        "long_term": 0.08,
    }
    _box(ax, cx, ys["screened"], lines["screened"], w, h)
    # excluded: a side box to the right of the screened -> enrolled arrow
    excluded = "\n".join(textwrap.fill(t, 36, subsequent_indent="   ") for t in lines["excluded"])
    ex_h = 0.0255 * (excluded.count("\n") + 1) + 0.035
    ex_y = (ys["screened"] + ys["enrolled"]) / 2
    ax.add_patch(
        FancyBboxPatch(
            (0.67, ex_y - ex_h / 2),
            0.31,
            ex_h,
            boxstyle="round,pad=0.008",
            fc="#fdf3f2",
            ec="#34495e",
            lw=1.0,
        )
    )
    ax.text(
        0.685,
        ex_y + ex_h / 2 - 0.015,
        excluded,
        ha="left",
        va="top",
        fontsize=8.5,
        linespacing=1.45,
    )
    _arrow(ax, cx, ys["screened"] - h / 2, cx, ys["enrolled"] + h / 2)
    _arrow(ax, cx, ex_y, 0.67, ex_y)
    _box(ax, cx, ys["enrolled"], lines["enrolled"], w, h)
    # allocation by cohort, spread under the enrolled box
    cohorts = lines["cohorts"]
    k = max(len(cohorts), 1)
    cw = min(0.27, 0.62 / k)
    xs = [cx + (i - (k - 1) / 2) * (cw + 0.03) for i in range(len(cohorts))]
    ax.text(
        0.02, ys["cohorts"], "Allocation", fontsize=8, color="#555555", va="center", rotation=90
    )
    for x, text in zip(xs, cohorts, strict=True):
        _box(ax, x, ys["cohorts"], text, cw, h + 0.01)
        _arrow(ax, cx, ys["enrolled"] - h / 2, x, ys["cohorts"] + (h + 0.01) / 2)
        _arrow(ax, x, ys["cohorts"] - (h + 0.01) / 2, cx, ys["followed_up"] + h / 2)
    if not cohorts:
        _arrow(ax, cx, ys["enrolled"] - h / 2, cx, ys["followed_up"] + h / 2)
    _box(ax, cx, ys["followed_up"], lines["followed_up"], w, h)
    _arrow(ax, cx, ys["followed_up"] - h / 2, cx, ys["analysed"] + h / 2)
    _box(ax, cx, ys["analysed"], lines["analysed"], w, h)
    _arrow(ax, cx, ys["analysed"] - h / 2, cx, ys["long_term"] + h / 2)
    _box(ax, cx, ys["long_term"], lines["long_term"], w, h)
    # healthy controls: a side box beside "Analysed", joined by a dashed line
    _box(ax, 0.83, ys["analysed"], lines["controls"], 0.26, 0.1, fc="#eef7ee")
    _arrow(ax, 0.70, ys["analysed"], cx + w / 2, ys["analysed"], dashed=True)
    for name, y in (
        ("Enrolment", ys["screened"]),
        ("Follow-up", ys["followed_up"]),
        ("Analysis", ys["analysed"]),
    ):
        ax.text(0.02, y, name, fontsize=8, color="#555555", va="center", rotation=90)
    if synthetic:
        mark_synthetic(fig)
    return fig


def consort_svg(flow: Mapping[str, Any], synthetic: bool = False) -> str:
    """The diagram as deterministic SVG text."""
    return svg_text(consort_figure(flow, synthetic))


def consort_png(flow: Mapping[str, Any], synthetic: bool = False) -> bytes:
    """The diagram as PNG bytes."""
    return png_bytes(consort_figure(flow, synthetic))
