"""Minimization in a study store (issue 14): its seed concealed behind a commitment, each
allocation the one the minimizer gives, every slot checked by replaying it from the seed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from xerotrial.randomize.allocate import allocate, randomization_status, setup_list
from xerotrial.randomize.minimization import Minimizer
from xerotrial.randomize.stream import Stream
from xerotrial.store.accounts import Actor
from xerotrial.store.audit import show, verify
from xerotrial.store.engine import open_store
from xerotrial.store.randomization_schema import RAND_LIST, seed_commitment
from xerotrial.store.study_store import init_study_store, stored_study

from .conftest import DEFINITION, enrol, subjects

LOCAL = Actor.local("tester")
SEED = 987654321


@pytest.fixture
def minimizing(tmp_path: Path) -> Engine:
    text_ = DEFINITION.read_text(encoding="utf-8")
    text_ = text_.replace('method = "permuted-blocks"', 'method = "minimization"\np_best = 0.8')
    text_ = text_.replace("block_sizes = [2, 4]\n", "")
    definition = tmp_path / "study.toml"
    definition.write_text(text_, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'min.db'}"
    init_study_store(url, definition, user="test")
    engine = open_store(url)
    enrol(engine, subjects(30))
    yield engine
    engine.dispose()


def test_minimization_allocates_as_the_minimizer_does(minimizing: Engine) -> None:
    info = setup_list(minimizing, seed=SEED, actor=LOCAL)
    assert info.sha256 == seed_commitment(SEED) and info.slots == 0
    got = [allocate(minimizing, subject=f"S{i:03d}", actor=LOCAL) for i in range(30)]
    with minimizing.connect() as conn:
        design = stored_study(conn).allocation.design
    offline = Minimizer(design, Stream(SEED, "minimization"))
    for a in got:  # the same arms from the seed and the subjects' levels, in order
        levels = dict(p.split("=") for p in a.stratum.split(";"))
        assert offline.assign(levels) == a.arm
    for f in design.factors:  # and the margins balanced
        for lv, counts in ((lv, offline.counts[(f, lv)]) for lv in offline.levels[f]):
            assert abs(counts["atmsc"] - counts["placebo"]) <= 2, (f, lv, counts)
    assert verify(minimizing).ok
    assert "site=rh;dose=1: 8 allocated" in randomization_status(minimizing)
    log = show(minimizing)
    assert str(SEED) not in log.to_csv()  # the seed is concealed: only its commitment
    mine = log[log["table_name"].str.startswith("xt_")]["new_values"].dropna()
    assert len(mine) == 31 and not any("atmsc" in v or "placebo" in v for v in mine)


def test_a_changed_slot_or_seed_is_found_by_the_replay(minimizing: Engine) -> None:
    setup_list(minimizing, seed=SEED, actor=LOCAL)
    for i in range(6):
        allocate(minimizing, subject=f"S{i:03d}", actor=LOCAL)
    with minimizing.begin() as conn:
        arm = conn.execute(select(RAND_LIST.c.arm).where(RAND_LIST.c.slot == 3)).scalar_one()
        other = "placebo" if arm == "atmsc" else "atmsc"
        conn.execute(text("UPDATE xt_rand_list SET arm = :a WHERE slot = 3"), {"a": other})
    assert any("slot 3 not as the minimization" in p for p in verify(minimizing).problems)
    with minimizing.begin() as conn:
        conn.execute(text("UPDATE xt_rand_list SET arm = :a WHERE slot = 3"), {"a": arm})
        conn.execute(text("UPDATE xt_rand_seed SET seed = '1'"))
    assert any("seed" in p and "commits to" in p for p in verify(minimizing).problems)
