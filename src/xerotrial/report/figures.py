"""Figure 2 of the paper and deterministic SVG / PNG output (matplotlib, Agg, no display).

:func:`figure2` draws one panel per ``ReportData.figure2_panels`` entry (A, B, C side by
side): each patient's trajectory in its own colour and the LS means in black with 95% CI
error bars. :func:`svg_text` gives byte-identical SVG on every run (fixed ``svg.hashsalt``,
no date); :func:`png_bytes` a PNG without timestamp.

Example
-------
>>> import pandas as pd
>>> traj = pd.DataFrame({"USUBJID": ["P01"] * 2, "PARAMCD": ["uws"] * 2,
...                      "AVISIT": ["day0", "day120"], "AVISITN": [0.0, 120.0],
...                      "ADY": [0.0, 118.0], "AVAL": [0.1, 0.2]})
>>> ls = pd.DataFrame({"PARAMCD": ["uws"] * 2, "AVISIT": ["day0", "day120"],
...                    "AVISITN": [0.0, 120.0], "estimate": [0.1, 0.2], "se": [0.01] * 2,
...                    "lower": [0.08, 0.18], "upper": [0.12, 0.22]})
>>> fig = trajectory_figure(traj, ls, (("uws", "UWS flow rate", "mL/minute"),))
>>> svg_text(fig) == svg_text(fig), svg_text(fig).startswith("<?xml")
(True, True)
"""

from __future__ import annotations

import io
import string
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from .data import ReportData

__all__ = [
    "SYNTHETIC_MARK",
    "figure2",
    "freeze_layout",
    "mark_synthetic",
    "new_figure",
    "png_bytes",
    "svg_text",
    "trajectory_figure",
]

#: The mark put on every figure made from synthetic data.
SYNTHETIC_MARK = "SYNTHETIC DEMO DATA \u2014 not real patients"

#: rc settings that make the output deterministic and independent of the user's matplotlibrc.
_RC = {
    "svg.hashsalt": "xerotrial-report",
    "svg.fonttype": "path",
    "svg.image_inline": True,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "path.simplify": True,
}


def new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas (no pyplot, no display, nothing kept alive globally)."""
    with rc_context(_RC):
        fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def freeze_layout(fig: Figure) -> Figure:
    """Run the constrained layout once, then fix it, so every later save draws the same."""
    with rc_context(_RC):
        fig.draw_without_rendering()
    fig.set_layout_engine("none")
    return fig


def mark_synthetic(fig: Figure) -> None:
    """Put the red synthetic-data mark at the top of the figure (as the suptitle, so that
    the constrained layout keeps room for it)."""
    fig.suptitle(SYNTHETIC_MARK, fontsize=8, color="#b00020", fontweight="bold")


def svg_text(fig: Figure) -> str:
    """The figure as SVG text, identical across runs (``svg.hashsalt`` fixed, ``Date`` None)."""
    buf = io.StringIO()
    with rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "xerotrial"})
    return buf.getvalue()


def png_bytes(fig: Figure, dpi: int = 150) -> bytes:
    """The figure as PNG bytes (no ``Software`` / date metadata)."""
    buf = io.BytesIO()
    with rc_context(_RC):
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, facecolor="white")
    return buf.getvalue()


def _x(df: pd.DataFrame) -> pd.Series:
    """Visit day: AVISITN, or ADY where AVISITN is missing."""
    x = pd.to_numeric(df["AVISITN"], errors="coerce")
    if "ADY" in df:
        x = x.fillna(pd.to_numeric(df["ADY"], errors="coerce"))
    return x


def _sqrt_days(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.sqrt(np.abs(x))


def _square_days(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.square(x)


def _colours(subjects: list[str]) -> dict[str, tuple]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(subjects) <= 10 else "tab20"]
    return {s: cmap(i % cmap.N) for i, s in enumerate(subjects)}


def trajectory_figure(
    trajectories: pd.DataFrame,
    lsmeans: pd.DataFrame,
    panels: tuple[tuple[str, str, str], ...],
    synthetic: bool = False,
) -> Figure:
    """Panels side by side: per-patient lines (own colour) and LS means (black, 95% CI bars).

    ``trajectories``: USUBJID, PARAMCD, AVISITN (or ADY), AVAL; ``lsmeans``: PARAMCD,
    AVISITN, estimate, lower, upper; ``panels``: (PARAMCD, title, y label) each.
    """
    fig = new_figure(3.6 * len(panels) + 0.6, 3.9)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    subjects = sorted(trajectories["USUBJID"].astype(str).unique())
    colours = _colours(subjects)
    handles = {}
    for i, (ax, (code, title, ylabel)) in enumerate(zip(axes, panels, strict=True)):
        # square-root time axis: days 0, 1 and 5 stay apart next to 30 and 120
        ax.set_xscale("function", functions=(_sqrt_days, _square_days))
        t = trajectories[trajectories["PARAMCD"] == code].assign(_x=lambda d: _x(d))
        t = t.dropna(subset=["_x", "AVAL"])
        for subj, g in t.groupby(t["USUBJID"].astype(str), sort=True):
            g = g.sort_values("_x", kind="stable")
            (line,) = ax.plot(
                g["_x"].to_numpy(float),
                g["AVAL"].to_numpy(float),
                color=colours[subj],
                lw=1.1,
                alpha=0.85,
                marker="o",
                ms=2.5,
                label=subj,
            )
            handles.setdefault(subj, line)
        m = lsmeans[lsmeans["PARAMCD"] == code].assign(_x=lambda d: _x(d))
        m = m.dropna(subset=["_x", "estimate"]).sort_values("_x", kind="stable")
        if len(m):
            est = m["estimate"].to_numpy(float)
            yerr = np.vstack([est - m["lower"].to_numpy(float), m["upper"].to_numpy(float) - est])
            line = ax.errorbar(
                m["_x"].to_numpy(float),
                est,
                yerr=yerr,
                color="black",
                lw=2.6,
                marker="o",
                ms=5,
                capsize=4,
                elinewidth=1.4,
                zorder=5,
                label="LS mean (95% CI)",
            )
            handles.setdefault("LS mean (95% CI)", line)
            ax.set_xticks(sorted(set(m["_x"].round(6))))
        ax.set_title(title, fontsize=9.5)
        ax.set_xlabel("Days after injection (square-root scale)")
        ax.set_ylabel(ylabel)
        ax.set_xlim(left=-0.3)
        ax.grid(True, lw=0.4, alpha=0.4)
        ax.spines[["top", "right"]].set_visible(False)
        ax.text(
            -0.02,
            1.06,
            string.ascii_uppercase[i],
            transform=ax.transAxes,
            fontsize=13,
            fontweight="bold",
            ha="right",
            va="bottom",
        )
    order = [*subjects, "LS mean (95% CI)"]
    shown = [k for k in order if k in handles]
    fig.legend(
        [handles[k] for k in shown],
        shown,
        loc="outside lower center",
        ncol=min(len(shown), 11),
        fontsize=7,
        frameon=False,
    )
    if synthetic:
        mark_synthetic(fig)
    return freeze_layout(fig)


def figure2(data: ReportData) -> Figure:
    """The paper's Figure 2 (UWS, SWS and XQ over time by default) from ``data``."""
    return trajectory_figure(
        data.figure2, data.figure2_lsmeans, data.figure2_panels, synthetic=data.synthetic
    )
