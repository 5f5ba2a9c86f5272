"""Table 3 of the paper from long-form values, by the prespecified model (synthetic demo).

The paper's SAP: per outcome a REML model with a participant random intercept and visit as a
fixed factor, SAS's containment df, LS means by visit and each visit minus baseline.

Example
-------
>>> import pandas as pd
>>> df = pd.DataFrame({"subject": ["a", "a", "b", "b", "c", "c"],
...                    "visit": ["day0", "day120"] * 3, "AVAL": [1.0, 2.0, 2.0, 2.5, 1.5, 3.0]})
>>> row = table3_row(df, ["day0", "day120"])
>>> round(row["difference"], 3), int(row["df"])
(1.0, 2)
"""

from __future__ import annotations

import pandas as pd

from ..stats.model import fit

__all__ = ["table3_row"]


def table3_row(values: pd.DataFrame, visits: list[str], follow_up: str = "day120") -> dict:
    """LS means and SEs at baseline and ``follow_up``, their difference with 95% CI, p and df,
    plus every visit's contrast against baseline (``contrasts``, a DataFrame by visit).

    ``values`` has columns subject, visit and AVAL (rows with a missing AVAL are left out).
    """
    res = fit(values, "AVAL ~ visit", subject="subject", time="visit",
              covariance="random-intercept", time_order=visits)
    ls = res.lsmeans("visit", df_method="containment").set_index("visit")
    con = res.contrasts_vs_reference("visit", visits[0], df_method="containment")
    con.index = [c.split(" - ")[0] for c in con["contrast"]]
    c = con.loc[follow_up]
    return {
        "n": int(values.dropna(subset=["AVAL"])["subject"].nunique()),
        "baseline": float(ls.loc[visits[0], "estimate"]),
        "baseline_se": float(ls.loc[visits[0], "se"]),
        "follow_up": float(ls.loc[follow_up, "estimate"]),
        "follow_up_se": float(ls.loc[follow_up, "se"]),
        "difference": float(c["estimate"]),
        "lower": float(c["lower"]),
        "upper": float(c["upper"]),
        "p": float(c["p"]),
        "df": float(c["df"]),
        "contrasts": con,
    }
