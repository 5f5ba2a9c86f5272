"""Revisions 0002 and 0003 on a store created at 0001 (SQLite and PostgreSQL): ``init``
upgrades it, its rows and audit trail intact; the migrated schema is exactly
``schema.METADATA``; 0003 records a protocol kept before protocol changes were audited."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from xerotrial.store.audit import GENESIS, canonical, entry_hash, show, verify
from xerotrial.store.edit import delete_row, edit_row
from xerotrial.store.engine import make_engine, open_store, write_transaction
from xerotrial.store.errors import ImportRejectedError, StoreError
from xerotrial.store.export import read_form
from xerotrial.store.importer import import_frame
from xerotrial.store.inputs import donor_typing, matching_frames
from xerotrial.store.migrate import _config, current_revision, head_revision, init_store
from xerotrial.store.schema import METADATA, REVISION
from xerotrial.trial.matching import match_controls

# rows as the 0001 code imported them (its columns only)
OLD = {
    "participants": [
        {
            "subject": "P01",
            "site": "S1",
            "group": "patient",
            "sex": "F",
            "age_years": 61,
            "matched_to": None,
            "enrolment_order": 1,
        },
        {
            "subject": "P02",
            "site": "S2",
            "group": "patient",
            "sex": "M",
            "age_years": 58,
            "matched_to": None,
            "enrolment_order": 2,
        },
        {
            "subject": "C01",
            "site": "S1",
            "group": "control",
            "sex": "F",
            "age_years": 60,
            "matched_to": "P01",
            "enrolment_order": None,
        },
    ],
    "visits": [{"subject": "P01", "visit": "day0", "study_day": 0, "visit_date": None}],
    "donors": [
        {
            "donor": "D1",
            "sex": "F",
            "age_years": 24,
            "hla_a_1": "A*02:01",
            "hla_a_2": None,
            "hla_b_1": None,
            "hla_b_2": None,
            "hla_c_1": None,
            "hla_c_2": None,
            "hla_drb1_1": "DRB1*15:01",
            "hla_drb1_2": None,
            "hla_dqb1_1": "DQB1*06:02",
            "hla_dqb1_2": None,
        }
    ],
}


def _migrate(url: str, how: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with write_transaction(engine) as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            getattr(command, how)(cfg, revision)
    finally:
        engine.dispose()


_AUDIT_0001 = sa.table(
    "audit_log",
    *(
        sa.column(c)
        for c in (
            "seq",
            "ts",
            "user_name",
            "reason",
            "source",
            "action",
            "table_name",
            "row_key",
            "old_values",
            "new_values",
            "prev_hash",
            "hash",
        )
    ),
)


def _store_at_0001(url: str, protocol: str | None = None) -> None:
    """A store created by the 0001 code, with rows imported (each audited) as it did (and a
    protocol kept in store_meta, unaudited, as ``init --protocol`` did then)."""
    _migrate(url, "upgrade", "0001")
    engine = make_engine(url)
    with write_transaction(engine) as conn:
        key = {"participants": ("subject",), "visits": ("subject", "visit"), "donors": ("donor",)}
        seq, prev = 0, GENESIS
        for table, rows in OLD.items():
            t = sa.table(table, *(sa.column(c) for c in rows[0]))
            for row in rows:
                conn.execute(sa.insert(t), row)
                seq += 1
                entry = {
                    "seq": seq,
                    "ts": "2026-11-25T12:00:00.000000+00:00",
                    "user_name": "ana",
                    "reason": "import",
                    "source": "old.csv",
                    "action": "insert",
                    "table_name": table,
                    "row_key": canonical({k: row[k] for k in key[table]}),
                    "old_values": None,
                    "new_values": canonical(row),
                    "prev_hash": prev,
                }
                entry["hash"] = prev = entry_hash(entry)
                conn.execute(sa.insert(_AUDIT_0001), entry)
        meta = sa.table("store_meta", sa.column("key"), sa.column("value"))
        conn.execute(sa.insert(meta), {"key": "audit_tip", "value": f"{seq}:{prev}"})
        if protocol is not None:
            conn.execute(sa.insert(meta), {"key": "protocol_toml", "value": protocol})
    engine.dispose()
    assert current_revision(url) == "0001"


def _schema_diff(engine: Engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), METADATA)


def test_fresh_store_matches_the_schema(store: Engine) -> None:
    assert head_revision() == REVISION == "0003"
    assert _schema_diff(store) == []


def test_init_upgrades_a_0001_store(db_url: str) -> None:
    _store_at_0001(db_url)
    assert init_store(db_url) == db_url
    assert current_revision(db_url) == head_revision() == "0003"
    engine = open_store(db_url)
    try:
        assert _schema_diff(engine) == []
        if engine.dialect.name == "sqlite":  # participants was rebuilt: no dangling reference
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        # the sites of the stored participants, audited: verify is clean
        sites = read_form(engine, "sites")
        assert sites.values.tolist() == [["S1", None, None], ["S2", None, None]]
        report = verify(engine)
        assert report.ok, report.problems
        assert report.entries == 5 + 2
        log = show(engine, table="sites")
        assert set(log["source"]) == {"migration 0002"} and set(log["action"]) == {"insert"}
        assert json.loads(log["new_values"].iloc[0]) == {
            "site": "S1",
            "name": None,
            "country": None,
        }
        # rows kept; new columns empty
        people = read_form(engine, "participants").set_index("subject")
        assert people.loc["C01", ["site", "age_years", "matched_to"]].tolist() == ["S1", 60, "P01"]
        assert people[["race", "education"]].isna().all().all()
        donors = read_form(engine, "donors")
        assert donors.loc[0, "hla_dqb1_1"] == "DQB1*06:02" and donors.loc[0, "hla_dpb1_1"] is None
        assert read_form(engine, "visits")["subject"].tolist() == ["P01"]

        # participants.site is a foreign key now, for the store's writers and for the database
        bad = {
            "subject": ["P03"],
            "site": ["S9"],
            "group": ["patient"],
            "sex": ["F"],
            "age_years": ["40"],
        }
        import pandas as pd

        with pytest.raises(ImportRejectedError, match="unknown in the sites form"):
            import_frame(engine, "participants", pd.DataFrame(bad))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                sa.text(
                    'INSERT INTO participants (subject, site, "group", sex, '
                    "age_years) VALUES ('P03', 'S9', 'patient', 'F', 40)"
                )
            )
        with pytest.raises(StoreError, match="participants row"):
            delete_row(engine, "sites", {"site": "S2"}, reason="x")

        # the new columns are filled in through edit, and then feed the matching
        edit_row(
            engine,
            "sites",
            {"site": "S1"},
            {"name": "Rigshospitalet", "country": "DK"},
            reason="sites form introduced",
        )
        for subject in ("P01", "P02", "C01"):
            edit_row(
                engine,
                "participants",
                {"subject": subject},
                {"race": "White", "education": "high"},
                reason="matching variables",
            )
        m = match_controls(*matching_frames(engine))
        assert m.pairs[["patient", "control"]].values.tolist() == [["P01", "C01"]]
        edit_row(
            engine, "donors", {"donor": "D1"}, {"hla_dpb1_1": "DPB1*04:01"}, reason="typing report"
        )
        assert donor_typing(engine)["locus"].tolist() == ["A", "DRB1", "DQB1", "DPB1"]
        assert verify(engine).ok
    finally:
        engine.dispose()
    # init again changes nothing
    before = verify(open_store(db_url)).entries
    init_store(db_url)
    assert current_revision(db_url) == "0003" and verify(open_store(db_url)).entries == before


def test_downgrade_and_upgrade_again(db_url: str) -> None:
    _store_at_0001(db_url)
    init_store(db_url)
    _migrate(db_url, "downgrade", "0001")
    assert current_revision(db_url) == "0001"
    engine = make_engine(db_url)
    insp = sa.inspect(engine)
    assert "sites" not in insp.get_table_names()
    assert "race" not in {c["name"] for c in insp.get_columns("participants")}
    assert "hla_dpb1_1" not in {c["name"] for c in insp.get_columns("donors")}
    assert insp.get_foreign_keys("participants") == []
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM participants")).scalar() == 3
    engine.dispose()
    init_store(db_url)
    engine = open_store(db_url)
    assert _schema_diff(engine) == []
    assert verify(engine).ok
    assert len(read_form(engine, "participants")) == 3
    engine.dispose()


def test_0003_records_the_protocol_kept_before_it(db_url: str) -> None:
    from xerotrial.store.chain import meta_values

    protocol = "# a protocol kept by init --protocol before 0003\n"
    _store_at_0001(db_url, protocol=protocol)
    init_store(db_url)
    engine = open_store(db_url)
    try:
        report = verify(engine)
        assert report.ok, report.problems
        log = show(engine, table="store_meta")
        assert log[["user_name", "source", "action"]].values.tolist() == [
            ["migration", "migration 0003", "insert"]
        ]
        assert "migration 0003" in log["reason"].iloc[0]
        assert json.loads(log["new_values"].iloc[0]) == meta_values("protocol_toml", protocol)
        assert log["row_key"].iloc[0] == '{"key":"protocol_toml"}'
        # downgrade below 0003 and upgrade again: recorded once
        _migrate(db_url, "downgrade", "0002")
        init_store(db_url)
        assert len(show(engine, table="store_meta")) == 1 and verify(engine).ok
        with engine.begin() as conn:
            indexes = sa.inspect(conn).get_indexes("audit_log")
            assert "ix_audit_log_row" in {i["name"] for i in indexes}
    finally:
        engine.dispose()
