"""Read numbers out of SAS PROC MIXED listings (the public anchors in ../shared/anchors)."""

from __future__ import annotations

import re
from pathlib import Path

ANCHORS = Path(__file__).resolve().parents[3] / "shared" / "anchors" / "mmrm"
NUM = r"-?\d+(?:\.\d+)?(?:[Ee][-+]?\d+)?"


def final_neg2ll(text: str) -> float:
    """The -2 (Res) Log Like of the last iteration, printed with 8 decimals."""
    block = text.split("Iteration History", 1)[1].split("Convergence criteria met", 1)[0]
    rows = re.findall(rf"^\s+\d+\s+\d+\s+({NUM})", block, flags=re.M)
    return float(rows[-1])


def covariance_parameters(text: str) -> list[tuple[str, str, float]]:
    """(name, group, estimate) rows of the first 'Covariance Parameter Estimates' table(s)."""
    out = []
    for block in re.split(r"Covariance Parameter Estimates", text)[1:]:
        block = block.split("Fit Statistics", 1)[0]
        for line in block.splitlines():
            m = re.match(rf"^\s+(\S+)\s+(?:USUBJID\s+)?((?:[A-Z]+ \S+)\s+)?({NUM})\s+0\.05", line)
            if m and m.group(1) not in ("Cov", "Parm"):
                out.append((m.group(1), (m.group(2) or "").strip(), float(m.group(3))))
    return out


def output_rows(text: str) -> dict[int, dict[str, object]]:
    """The rows of a printed OUTPM= data set (PROC PRINT after PROC MIXED), by Obs: the
    columns of the listing's blocks, named by each block's header line (SAS wraps the long
    names: "StdErr Pred" over two lines, "Scaled Resid" ...), '.' as NaN."""
    rows: dict[int, dict[str, object]] = {}
    names: list[str] | None = None
    for line in text.splitlines():
        head = line.split()
        if head[:1] == ["Obs"]:
            names = _column_names(head[1:])
            continue
        m = re.match(r"^\s+(\d+)\s+(\S.*)$", line)
        if not m or names is None:
            continue
        rest = m.group(2).split()
        row = rows.setdefault(int(m.group(1)), {})
        if names[0] == "USUBJID":
            row.update(USUBJID=rest[0], AVISIT=rest[1], ARMCD=rest[2], RACE=" ".join(rest[3:]))
        else:
            row.update(zip(names, rest, strict=True))
    for row in rows.values():
        for k, v in row.items():
            if k not in ("USUBJID", "AVISIT", "ARMCD", "RACE", "SEX"):
                row[k] = float("nan") if v == "." else float(v)
    return rows


def _column_names(head: list[str]) -> list[str]:
    """A block's column names from its header's last line (wrapped names completed)."""
    out = []
    resid = iter(["Resid", "ScaledResid", "ScaledDep", "StudentResid", "PearsonResid"])
    for i, name in enumerate(head):
        if name == "Pred" and i > 0 and head[i - 1] == "Pred":
            out.append("StdErrPred")
        elif name in ("Resid", "Dep"):
            out.append(next(resid))
        else:
            out.append(name)
    return out
