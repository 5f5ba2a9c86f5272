"""The report's input: finished tables and datasets, as frozen dataclasses.

The report renders what it is given; it computes no statistics. :class:`ReportData` checks
the columns of the fixed tables when it is created (``ValueError`` naming what is missing).

Example
-------
>>> import pandas as pd
>>> s = Section("responders", "Responders (> 30% increase)",
...             pd.DataFrame({"outcome": ["UWS"], "n": [5], "proportion": [0.5]}),
...             note="Patients with a clinically relevant increase.", dataset="adeff",
...             decimals={"proportion": 2})
>>> s.key, s.decimals["proportion"]
('responders', 2)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = [
    "FIGURE2_COLUMNS",
    "FIGURE2_LSMEANS_COLUMNS",
    "NOT_RUN_COLUMNS",
    "TABLE1_COLUMNS",
    "TABLE2_COLUMNS",
    "TABLE3_COLUMNS",
    "ReportData",
    "Section",
]

#: Table 1 (baseline characteristics) columns.
TABLE1_COLUMNS = ("section", "characteristic", "statistic", "patients", "controls", "p_value")
#: Table 2 (adverse events) columns.
TABLE2_COLUMNS = ("block", "label", "level", "N", "Sum", "Proportion")
#: Table 3 columns, exactly and in this order (also the columns of ``tables/table3.csv``).
TABLE3_COLUMNS = (
    "outcome",
    "n",
    "baseline_lsmean",
    "baseline_se",
    "followup_lsmean",
    "followup_se",
    "difference",
    "ci_lower",
    "ci_upper",
    "p_value",
)
#: Figure 2 trajectory columns.
FIGURE2_COLUMNS = ("USUBJID", "PARAMCD", "AVISIT", "AVISITN", "ADY", "AVAL")
#: Figure 2 LS-mean columns.
FIGURE2_LSMEANS_COLUMNS = ("PARAMCD", "AVISIT", "AVISITN", "estimate", "se", "lower", "upper")
#: Columns of the planned analyses not run (``ReportData.not_run``).
NOT_RUN_COLUMNS = ("analysis", "reason", "outcomes")


@dataclass(frozen=True, eq=False)
class Section:
    """One extra results table (sensitivity analyses, responders, cohorts, controls, ...).

    ``key`` is the HTML id and the CSV name (``tables/<key>.csv``); ``table`` is shown as is,
    numbers with ``decimals[column]`` places or 3 significant digits (columns named ``p``,
    ``p_value`` or ``P`` as p-values: ``fmt.format_p``); ``dataset`` names the analysis dataset
    it came from (lineage link when ``ReportData.lineage`` has no entry for ``key``);
    ``display``, when given, is what the HTML shows instead of ``table`` (e.g. "median (Q1,
    Q3)" texts), while ``tables/<key>.csv`` keeps the unrounded ``table``.
    """

    key: str
    title: str
    table: pd.DataFrame
    note: str = ""
    dataset: str | None = None
    decimals: Mapping[str, int] = field(default_factory=dict)
    display: pd.DataFrame | None = None


@dataclass(frozen=True, eq=False)
class ReportData:
    """Everything the report shows (see the module docstring of :mod:`xerotrial.report`).

    Optional fields (defaults keep the report as described above):

    * ``table3_groups``: outcome -> group heading (e.g. ``"EORTC QLQ-H&N35 (scores 0-100)"``);
      consecutive outcomes of one group are printed indented under the heading, as in the paper.
    * ``captions``: table or figure key (``"table1"`` ... ``"table4"``, ``"figure2"``,
      ``"consort"``) -> caption / footnote text, replacing the built-in one.
    * ``table3_follow_up``: Table 3's follow-up column heading (e.g. ``"120 days follow-up"``).
    * ``data_cutoff``: the data cut-off (ISO date), shown under the title ("" when unknown).
    * ``not_run``: the planned analyses that cannot run yet (columns :data:`NOT_RUN_COLUMNS`),
      shown first and written to ``tables/not_run.csv``; None when not given.
    * ``audit_status``: the store's audit chain head (``AuditReport.head_line()``), shown in
      the provenance line ("" when the data did not come from a store); ``audit_problems``:
      the problems of its audit check, when it failed: the page then carries a NOT VERIFIED
      banner and lists them.
    """

    title: str
    synthetic: bool
    source: str
    generated: str
    table1: pd.DataFrame
    table2: pd.DataFrame
    table3: pd.DataFrame
    table3_labels: Mapping[str, str]
    table3_decimals: Mapping[str, Mapping[str, int]]
    table4: pd.DataFrame
    figure2: pd.DataFrame
    figure2_lsmeans: pd.DataFrame
    figure2_panels: tuple[tuple[str, str, str], ...]
    consort: Mapping[str, Any]
    sections: tuple[Section, ...]
    datasets: Mapping[str, pd.DataFrame]
    lineage: Mapping[str, tuple[str, str]]
    table3_groups: Mapping[str, str] = field(default_factory=dict)
    captions: Mapping[str, str] = field(default_factory=dict)
    table3_follow_up: str = "Follow-up"
    data_cutoff: str = ""
    not_run: pd.DataFrame | None = None
    audit_status: str = ""
    audit_problems: tuple[str, ...] = ()
    #: the title page's (label, value) rows (:func:`xerotrial.report.title_page.title_page`)
    title_page: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        _require(self.table1, TABLE1_COLUMNS, "table1")
        _require(self.table2, TABLE2_COLUMNS, "table2")
        if tuple(self.table3.columns) != TABLE3_COLUMNS:
            raise ValueError(
                f"table3: columns must be exactly {list(TABLE3_COLUMNS)}, "
                f"got {list(self.table3.columns)}"
            )
        _require(self.table4, ("subject",), "table4")
        _require(self.figure2, FIGURE2_COLUMNS, "figure2")
        _require(self.figure2_lsmeans, FIGURE2_LSMEANS_COLUMNS, "figure2_lsmeans")
        if self.not_run is not None:
            _require(self.not_run, NOT_RUN_COLUMNS, "not_run")
        if not self.figure2_panels or any(len(p) != 3 for p in self.figure2_panels):
            raise ValueError("figure2_panels: give one (PARAMCD, title, y label) per panel")
        keys = [s.key for s in self.sections]
        fixed = {"table1", "table2", "table3", "table4", "figure2", "consort", "not_run"}
        dup = sorted({k for k in keys if keys.count(k) > 1} | (set(keys) & fixed))
        if dup:
            raise ValueError(f"sections: duplicate or reserved keys {dup}")
        bad = [k for k in [*keys, *self.datasets] if not _NAME.fullmatch(k)]
        if bad:
            raise ValueError(f"section keys and dataset names must match {_NAME.pattern}: {bad}")


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _require(df: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {missing} (has {list(df.columns)})")
