"""DS from a disposition form annotated ``DS.*``: its records replace the derived disposition
of their subjects; its unannotated fields go to SUPPDS; a subject without one keeps the
derived COMPLETED."""

from __future__ import annotations

from pathlib import Path

from xerotrial.store.engine import open_store
from xerotrial.store.study_import import FormRow, SubjectRow, import_rows
from xerotrial.store.study_store import init_study_store, stored_study
from xerotrial.submission.sdtm import sdtm_datasets

TWO_ARMS = Path(__file__).resolve().parents[1] / "store" / "study_data" / "two_arms.toml"
END_OF_STUDY = """
[forms.end_of_study]
title = "End of study"
key = []
[forms.end_of_study.fields]
status = {type = "choice", required = true, choices = {"completed" = "Completed", "withdrew" = "Withdrew"}, sdtm = "DS.DSTERM"}
end_date = {type = "date", sdtm = "DS.DSSTDTC"}
reason = {type = "text", label = "why the subject left"}

[submission]
[submission.values."DS.DSTERM"]
completed = "COMPLETED"
withdrew = "WITHDRAWAL BY SUBJECT"
"""  # noqa: E501


def test_a_disposition_form_gives_ds(tmp_path: Path) -> None:
    text = TWO_ARMS.read_text().replace(
        'adverse_events = ["month_1"]', 'adverse_events = ["month_1"]\nend_of_study = ["month_1"]'
    )
    text = text.replace('name = "RH"', 'name = "RH"\ncountry = "DK"')
    text = text.replace('name = "OUH"', 'name = "OUH"\ncountry = "Denmark"')
    for f, xpt in (("before_g", "BEFG"), ("after_g", "AFTG")):  # a wide findings form
        text = text.replace(f'{f} = {{type = "decimal", precision = 2, lo = 0}}',
                            f'{f} = {{type = "decimal", precision = 2, lo = 0, '
                            f'sdtm = "XS.XSORRES", xpt = "{xpt}"}}')  # fmt: skip
    text = text.replace(
        'visit_date = {type = "date", required = true}',
        'visit_date = {type = "date", required = true, sdtm = "SV.SVSTDTC"}',
    )
    definition = tmp_path / "study.toml"
    definition.write_text(
        text + END_OF_STUDY.replace("[submission]\n", '[submission]\ndomains = {XS = "Saliva"}\n')
    )
    db = f"sqlite:///{tmp_path / 'trial.db'}"
    init_study_store(db, definition, user="test")
    engine = open_store(db)
    with engine.connect() as conn:
        study = stored_study(conn)
    subjects = [SubjectRow("1", "rh", "arm_1"), SubjectRow("2", "ou", "arm_2")]
    saliva = {"visit_date": "2026-01-05", "before_g": "10", "after_g": "11"}
    rows = [
        FormRow("saliva", "2", "baseline", 1, 2, saliva),
        FormRow("saliva", "2", "month_1", 1, 2, saliva | {"visit_date": "2026-02-05"}),
        FormRow("end_of_study", "1", "month_1", 1, 2,
                {"status": "withdrew", "end_date": "2026-01-10", "reason": "moved away"}),
    ]  # fmt: skip
    import_rows(engine, study, subjects, rows, source="test", user="test")
    with engine.connect() as conn:
        result = sdtm_datasets(conn)
    by = {d.name: d.frame for d in result.datasets}
    ds = by["DS"].set_index("USUBJID")
    assert ds.loc["P2-1", "DSTERM"] == "WITHDRAWAL BY SUBJECT"
    assert ds.loc["P2-1", "DSDECOD"] == "WITHDRAWAL BY SUBJECT"
    assert ds.loc["P2-1", "DSSTDTC"] == "2026-01-10"
    assert ds.loc["P2-2", "DSDECOD"] == "COMPLETED"  # derived: seen at the last visit
    assert set(by["DM"]["COUNTRY"]) == {"DNK"}  # ISO 3166 alpha-3, from a code or a name
    # the unannotated calculated field goes to SUPPXS, pointing at its row's first record
    xs, suppxs = by["XS"], by["SUPPXS"]
    assert set(suppxs["QNAM"]) == {"DIFF_G"} and set(suppxs["IDVAR"]) == {"XSSEQ"}
    for q in suppxs.to_dict("records"):
        row = xs[(xs["USUBJID"] == q["USUBJID"]) & (xs["XSSEQ"] == int(q["IDVARVAL"]))]
        assert len(row) == 1
    supp = by["SUPPDS"]
    assert supp[["USUBJID", "QNAM", "QVAL"]].values.tolist() == [["P2-1", "REASON", "moved away"]]
    engine.dispose()


def test_a_site_without_its_country_is_refused(tmp_path: Path) -> None:
    import pytest

    from xerotrial.errors import DataValidationError

    db = f"sqlite:///{tmp_path / 'trial.db'}"
    init_study_store(db, TWO_ARMS, user="test")
    engine = open_store(db)
    with engine.connect() as conn:
        study = stored_study(conn)
    import_rows(engine, study, [SubjectRow("1", "rh", "arm_1")], [], source="test", user="test")
    with engine.connect() as conn, pytest.raises(DataValidationError) as err:
        sdtm_datasets(conn)
    assert "subject 1: its site 'rh' has no country (the definition's [study.sites.rh]" in str(
        err.value
    )
    engine.dispose()
