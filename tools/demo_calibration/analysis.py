"""Table 3 of the paper from long-form values, by the prespecified model (synthetic demo).

A thin adapter for the calibration tests: values with columns subject, visit and AVAL go
through :func:`xerotrial.analysis.efficacy.fit_outcome`, the same code as the report, and
come back under the names of :func:`xerotrial.demo.targets.mismatches`.

Example
-------
>>> import pandas as pd
>>> df = pd.DataFrame({"subject": ["a", "a", "b", "b", "c", "c"],
...                    "visit": ["day0", "day120"] * 3, "AVAL": [1.0, 2.0, 2.0, 2.5, 1.5, 3.0]})
>>> row = table3_row(df, ["day0", "day120"], outcome="uws_ml_min")
>>> round(row["difference"], 3), int(row["df"])
(1.0, 2)
"""

from __future__ import annotations

import pandas as pd

from xerotrial.analysis.efficacy import fit_outcome

__all__ = ["table3_row"]


def table3_row(
    values: pd.DataFrame, visits: list[str], follow_up: str = "day120", *, outcome: str
) -> dict:
    """LS means and SEs at baseline and ``follow_up``, their difference with 95% CI, p and df,
    plus every visit's contrast against baseline (``contrasts``, a DataFrame by visit), by the
    SAP's model of ``outcome`` (its endpoint in the seed study definition).

    ``values`` has columns subject, visit and AVAL (rows with a missing AVAL are left out);
    ``n`` counts the subjects with a value at both visits.
    """
    bds = pd.DataFrame(
        {
            "USUBJID": values["subject"],
            "PARAMCD": outcome,
            "AVISIT": values["visit"],
            "AVAL": values["AVAL"],
        }
    )
    f = fit_outcome(bds, outcome, tuple(visits), follow_up)
    r = f.row
    return {
        "n": r["n"],
        "baseline": r["baseline_lsmean"],
        "baseline_se": r["baseline_se"],
        "follow_up": r["followup_lsmean"],
        "follow_up_se": r["followup_se"],
        "difference": r["difference"],
        "lower": r["ci_lower"],
        "upper": r["ci_upper"],
        "p": r["p_value"],
        "df": f.df,
        "contrasts": f.contrasts.set_index("visit"),
    }
