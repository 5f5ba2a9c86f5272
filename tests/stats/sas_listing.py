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
