"""Two real processes writing to one store at once: nothing lost, nothing corrupted."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

from sqlalchemy import Engine

from xerotrial.store.audit import show, verify
from xerotrial.store.export import read_form

N = 12


def _writer(url: str, name: str, folder: str, barrier) -> None:  # noqa: ANN001
    from xerotrial.store.edit import edit_row
    from xerotrial.store.engine import open_store
    from xerotrial.store.importer import import_file

    engine = open_store(url)
    barrier.wait()
    for i in range(N):
        path = Path(folder) / f"{name}{i}.csv"
        path.write_text(
            "subject,site,group,sex,age_years,race,education,matched_to,enrolment_order\n"
            f"{name}{i:02d},S1,patient,F,{30 + i},,,,\n",
            encoding="utf-8",
        )
        import_file(engine, "participants", path, user=name)
        edit_row(
            engine,
            "participants",
            {"subject": "P01"},
            {"site": f"{name}-{i}"},
            reason=f"{name} edit {i}",
            user=name,
        )
    engine.dispose()


def test_two_processes(full_store: Engine, tmp_path: Path) -> None:
    from xerotrial.store.importer import import_file

    # the site codes the writers set on the shared row (participants.site refers to sites)
    sites = tmp_path / "sites.csv"
    sites.write_text(
        "site,name,country\n" + "".join(f"{n}-{i},,\n" for n in "AB" for i in range(N)),
        encoding="utf-8",
    )
    import_file(full_store, "sites", sites, user="setup")
    before = verify(full_store).entries
    url = full_store.url.render_as_string(hide_password=False)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [
        ctx.Process(target=_writer, args=(url, name, str(tmp_path), barrier)) for name in ("A", "B")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]

    people = set(read_form(full_store, "participants")["subject"])
    assert {f"{n}{i:02d}" for n in "AB" for i in range(N)} <= people
    report = verify(full_store)
    assert report.ok, report.problems
    assert report.entries == before + 4 * N
    # every edit of the shared row is in the trail, each based on the value before it
    log = show(full_store, table="participants")
    edits = log[log["action"] == "update"]
    assert len(edits) == 2 * N
    olds = [json.loads(v)["site"] for v in edits["old_values"]]
    news = [json.loads(v)["site"] for v in edits["new_values"]]
    assert olds == ["S1", *news[:-1]]
    assert (
        read_form(full_store, "participants").set_index("subject").loc["P01", "site"] == (news[-1])
    )
    assert {n[0] for n in news} == {"A", "B"}
    if full_store.dialect.name == "sqlite":
        with full_store.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
