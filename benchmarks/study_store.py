"""Import and export a study store at 1,000 subjects x 20 visits x 100 fields (issue 12).

A synthetic definition (5 forms of 20 fields each — integers, decimals with precision, choices,
checkboxes, yes/no, dates, texts — all due at 20 visits, two arms, two sites) and a REDCap
raw records export for it (20,000 rows, one per subject and visit; about 2 million values)
are written to a temporary folder. Then, on SQLite (a file) and on PostgreSQL (when
``XEROTRIAL_TEST_PG_URL`` or ``--pg URL`` names a server):

- ``read``: the export read and checked by the definition (:func:`read_records` and
  :func:`validate_rows`: every cell parsed, the limits, branching and checks),
- ``import``: :func:`import_redcap_records` into an empty store (read, check, write every
  row and its audit entry in one transaction),
- ``verify``: ``audit verify`` (the chain walked and replayed against every table),
- ``export csv``: one file per form; ``export redcap``: the records export back, which must be
  the same bytes as the input.

    .venv/bin/python benchmarks/study_store.py                 # ~2-4 min on 2 cores
    .venv/bin/python benchmarks/study_store.py --subjects 100  # a quick look
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import tempfile
import time
from pathlib import Path

N_FORMS, N_FIELDS, N_VISITS = 5, 20, 20


def definition(n_visits: int = N_VISITS) -> str:
    """The synthetic definition (TOML)."""
    out = [
        'version = "1"',
        "[study]",
        'id = "BENCH"',
        'title = "Synthetic study for the store benchmark"',
        "[study.sites.s1]",
        'name = "Site 1"',
        "[study.sites.s2]",
        'name = "Site 2"',
        "[allocation]",
        'method = "block"',
        "[allocation.arms.arm_1]",
        'label = "Active"',
        "[allocation.arms.arm_2]",
        'label = "Placebo"',
    ]
    for v in range(n_visits):
        day = v * 30
        out += [f"[visits.v{v:02d}]", f'label = "Visit {v}"', f"day = {day}"]
        out.append(f"window = [{day - 10}, {day + 10}]" if v else "window = [-10, 0]")
    out.append("[schedule.due]")
    visits = ", ".join(f'"v{v:02d}"' for v in range(n_visits))
    out += [f"form{k} = [{visits}]" for k in range(N_FORMS)]
    for k in range(N_FORMS):
        out += [f"[forms.form{k}]", f'title = "Form {k}"', "key = []", f"[forms.form{k}.fields]"]
        for j in range(N_FIELDS):
            out.append(f"f{k}_{j:02d} = {_field(j)}")
        out += [
            f"[[forms.form{k}.checks]]",
            f'expr = "f{k}_01 >= f{k}_00 - 1000"',
            'message = "a cross-field check on every row"',
        ]
    return "\n".join(out) + "\n"


def _field(j: int) -> str:
    kind = j % 7
    if kind == 0:
        return '{type = "integer", lo = 0, hi = 1000, soft_hi = 900}'
    if kind == 1:
        return '{type = "decimal", precision = 2, lo = 0, hi = 10000}'
    if kind == 2:
        return '{type = "choice", choices = {"1" = "Low", "2" = "Mid", "3" = "High"}}'
    if kind == 3:
        return '{type = "checkbox", choices = {"1" = "A", "2" = "B", "3" = "C"}}'
    if kind == 4:
        return '{type = "yesno"}'
    if kind == 5:
        return '{type = "date"}'
    return '{type = "text", max_length = 40}'


def _value(j: int, rng: random.Random) -> list[str]:
    kind = j % 7
    if kind == 0:
        return [str(rng.randint(0, 1000))]
    if kind == 1:
        return [f"{rng.uniform(1000, 9000):.2f}"]
    if kind == 2:
        return [str(rng.randint(1, 3))]
    if kind == 3:
        return [str(rng.randint(0, 1)) for _ in range(3)]
    if kind == 4:
        return [str(rng.randint(0, 1))]
    if kind == 5:
        return [f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"]
    return [f"note {rng.randint(0, 10**6)}"]


def records(path: Path, n_subjects: int, n_visits: int = N_VISITS, seed: int = 1) -> None:
    """Write the REDCap records export for ``n_subjects`` subjects."""
    from xerotrial.store.redcap_records import export_columns
    from xerotrial.study.check import build
    from xerotrial.study.load import parse_text

    text = definition(n_visits)
    data, locate, problems = parse_text(text, "bench.toml", "toml")
    study = build(data, "bench.toml", locate, problems)
    cols = export_columns(study)
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(cols)
        for s in range(1, n_subjects + 1):
            arm, site = 1 + s % 2, f"s{1 + s % 2}"
            for v in range(n_visits):
                row = [str(s), f"v{v:02d}_arm_{arm}", site]
                for _ in range(N_FORMS):
                    for j in range(N_FIELDS):
                        row += _value(j, rng)
                    row.append("2")
                w.writerow(row)


def _timed(label: str, fn, results: list[tuple[str, float]]):  # noqa: ANN001, ANN202
    t0 = time.perf_counter()
    out = fn()
    results.append((label, time.perf_counter() - t0))
    return out


def run(url: str, backend: str, folder: Path, results: list[tuple[str, float]]) -> None:
    from xerotrial.store.engine import open_store
    from xerotrial.store.redcap_records import import_redcap_records, read_records
    from xerotrial.store.study_export import export_study
    from xerotrial.store.study_import import validate_rows
    from xerotrial.store.study_store import init_study_store, stored_study
    from xerotrial.store.verify import verify

    init_study_store(url, folder / "bench.toml", user="bench")
    engine = open_store(url)
    with engine.connect() as conn:
        study = stored_study(conn)
    src = folder / "records.csv"

    def read() -> None:
        subjects, rows, _ = read_records(study, src)
        checked = validate_rows(study, subjects, rows, str(src))
        assert not checked.problems, checked.problems[:3]

    _timed(f"{backend}: read and check", read, results)
    _timed(f"{backend}: import", lambda: import_redcap_records(engine, src, user="b"), results)
    report = _timed(f"{backend}: audit verify", lambda: verify(engine), results)
    assert report.ok, report.problems[:3]
    out = folder / f"out-{backend}"
    _timed(f"{backend}: export csv", lambda: export_study(engine, out, fmt="csv"), results)
    _timed(f"{backend}: export redcap", lambda: export_study(engine, out, fmt="redcap"), results)
    same = (out / "records.csv").read_bytes() == src.read_bytes()
    results.append((f"{backend}: export redcap == input", float(same)))
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=1000)
    ap.add_argument("--pg", default=os.environ.get("XEROTRIAL_TEST_PG_URL"))
    args = ap.parse_args()
    results: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "bench.toml").write_text(definition(), encoding="utf-8")
        _timed("write the export", lambda: records(folder / "records.csv", args.subjects), results)
        size = (folder / "records.csv").stat().st_size
        print(
            f"{args.subjects} subjects x {N_VISITS} visits x {N_FORMS * N_FIELDS} fields: "
            f"{args.subjects * N_VISITS} export rows, {size / 1e6:.1f} MB"
        )
        run(f"sqlite:///{folder / 'bench.db'}", "sqlite", folder, results)
        if args.pg:
            from sqlalchemy import create_engine, text

            eng = create_engine(args.pg)
            with eng.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            eng.dispose()
            run(args.pg, "postgresql", folder, results)
    for label, secs in results:
        if label.endswith("== input"):
            print(f"{label:40s} {'yes' if secs else 'NO'}")
        else:
            print(f"{label:40s} {secs:8.2f} s")


if __name__ == "__main__":
    main()
