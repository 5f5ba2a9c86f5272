"""The trial functions' inputs read from the store: matching, donor typing, patient-donor.

* :func:`matching_frames`: the patients and the healthy controls of the participants form as
  ``xerotrial.trial.matching.match_controls`` takes them (``subject, age, sex, race,
  education``; ``age`` is ``age_years``).
* :func:`donor_typing`: the donors form (two columns per HLA locus) in the long format of
  ``xerotrial.trial.immunology.derive_dsa`` (``donor, locus, allele``), one row per allele
  given, at every locus of the form: A, B, C, DRB1, DRB3, DRB4, DRB5, DQA1, DQB1, DPA1, DPB1
  (``immunology.HLA_LOCI``).
* :func:`patient_donor`: which donor's cells each patient received (administrations ->
  batches -> donors), the ``patient_donor`` of ``derive_dsa``.

Example
-------
>>> import tempfile, os, pandas as pd
>>> from xerotrial.store.migrate import init_store
>>> from xerotrial.store.engine import open_store
>>> from xerotrial.store.importer import import_frame
>>> db = os.path.join(tempfile.mkdtemp(), "trial.db"); _ = init_store(db)
>>> eng = open_store(db)
>>> donors = pd.DataFrame({"donor": ["D1"], "hla_a_1": ["A*02:01"], "hla_dpb1_1": ["04:01"]})
>>> _ = import_frame(eng, "donors", donors, user="ana")
>>> donor_typing(eng).values.tolist()
[['D1', 'A', 'A*02:01'], ['D1', 'DPB1', '04:01']]
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select

from xerotrial.trial.immunology import HLA_LOCI
from xerotrial.trial.matching import MATCH_COLUMNS

from .errors import StoreError
from .export import read_form
from .forms import FORMS, hla_columns
from .schema import TABLES

__all__ = ["donor_typing", "matching_frames", "patient_donor"]


def matching_frames(engine: Engine) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(patients, controls)`` with the columns of ``match_controls`` (``MATCH_COLUMNS``),
    in subject order.

    Raises :class:`StoreError` naming every participant whose race or education is empty
    (matching needs both).
    """
    people = read_form(engine, "participants")
    missing = [
        f"{s} ({', '.join(c for c in ('race', 'education') if r[c] is None)})"
        for s, r in people.set_index("subject").iterrows()
        if r["race"] is None or r["education"] is None
    ]
    if missing:
        raise StoreError(
            "matching needs race and education; missing for: "
            + ", ".join(missing)
            + " (fill them in with `xerotrial edit`)"
        )
    frame = people.rename(columns={"age_years": "age"})
    frame["age"] = frame["age"].astype(int)
    out = []
    for group in ("patient", "control"):
        part = frame.loc[frame["group"] == group, list(MATCH_COLUMNS)]
        out.append(part.reset_index(drop=True))
    return out[0], out[1]


def donor_typing(engine: Engine) -> pd.DataFrame:
    """The donors' HLA typing in long format: ``donor, locus, allele`` (the allele as stored,
    ``DRB3*02:02`` or ``02:02``; the import checked it is one of the locus), by donor, locus
    (``HLA_LOCI`` order), allele 1 then 2; empty cells are left out."""
    donors = read_form(engine, "donors")
    columns = set(FORMS["donors"].columns)
    rows = []
    for rec in donors.to_dict("records"):
        for locus in HLA_LOCI:
            for col in hla_columns(locus):
                if col not in columns:  # pragma: no cover - the form has every locus
                    raise StoreError(f"the donors form has no column {col}")
                if rec[col] is not None:
                    rows.append((rec["donor"], locus, rec[col]))
    return pd.DataFrame(rows, columns=["donor", "locus", "allele"])


def patient_donor(engine: Engine) -> pd.DataFrame:
    """``subject, donor``: the donor of the batches each patient was injected with (one row
    per subject and donor; ``derive_dsa`` rejects a patient with two donors)."""
    adm, bat = TABLES["administrations"], TABLES["batches"]
    with engine.connect() as conn:
        rows = conn.execute(
            select(adm.c.subject, bat.c.donor)
            .distinct()
            .join_from(adm, bat, adm.c.batch == bat.c.batch)
            .order_by(adm.c.subject, bat.c.donor)
        ).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["subject", "donor"], dtype=object)
