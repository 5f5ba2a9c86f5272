"""Load on the web application: K concurrent API users against ``xerotrial serve``.

    .venv/bin/python benchmarks/web_load.py                      # ~3-5 min on 2 cores
    .venv/bin/python benchmarks/web_load.py --users 5 --seconds 5 --db sqlite   # a quick look
    .venv/bin/python benchmarks/web_load.py --out benchmarks/results/web-load.txt

For each backend (SQLite, a file; PostgreSQL when ``XEROTRIAL_TEST_PG_URL`` or ``--pg URL``
names a server: a fresh database per run, dropped afterwards) and each number of users K:

1. a new study store (``tests/store/study_data/two_arms.toml``) with ``--subjects-per-user``
   subjects per user at site ``rh``, and K data-entry accounts, each with its own API token;
2. ``xerotrial serve --workers W`` in a subprocess on a free loopback port;
3. K threads, each with its own keep-alive ``httpx`` client, token and subjects (so that no
   two users save the same form and no 409 is expected), loop for ``--seconds`` seconds or
   until ``--saves`` saves in all:

   * ``dashboard``: ``GET /api/v1/subjects`` (the dashboard page needs a browser session; the
     API's subject list is what it shows);
   * ``form get``: ``GET /api/v1/subjects/{s}/forms/enrolment?visit=baseline``;
   * ``form save``: ``PUT`` the same with a new ``age`` and the version read (the first save of
     a form at version 0 without a reason, later ones with a reason).

Per operation: count, errors (any answer other than 200), p50, p95 and max latency (ms), and
the throughput of all operations together (ops/s), plus the audit log's size before and after.
Latency is measured in the client (request sent to answer read), so it includes queueing in
the server. Client and server share the machine's cores.

Each save takes the store's write lock (one writer at a time: the audit chain is one sequence)
and, under it, checks the trail from the head its process verified last
(``src/xerotrial/store/writer_check.py``; the full check at a worker's first save and every 5
minutes). The first and last tenth of the saves are shown: a growing log would show there.

``--think S``: each user pauses 0 to 2S seconds after a save and before its first request, as
people do; without it (the default) the users loop back to back, a saturation test whose
latency is queueing (about users x 3 / throughput).

Goal (the issue's): p95 <= 150 ms for a form save at 20 users on PostgreSQL. Nothing is
asserted; this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DEFINITION = ROOT / "tests" / "store" / "study_data" / "two_arms.toml"
PASSWORD = "correct horse battery staple"
OPS = ("dashboard", "form get", "form save")
GOAL = "goal: p95 <= 150 ms for a form save at 20 users on PostgreSQL"
GOAL_MS = 150.0


@dataclass
class Samples:
    """Latencies (s) of one operation type, and the answers that were not 200."""

    times: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)


@dataclass
class Outcome:
    backend: str
    users: int
    workers: int
    seconds: float
    samples: dict[str, Samples]
    saves_in_order: list[float]
    audit_before: int
    audit_after: int
    verify_s: float  # one ``audit verify`` of the final store, in this process, unloaded


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_store(url: str, users: int, per_user: int) -> tuple[dict[str, list[str]], int]:
    """A study store with ``per_user`` subjects per account; account -> (token, subjects)."""
    from xerotrial.store.accounts import Actor, add_user, issue_token
    from xerotrial.store.engine import open_store
    from xerotrial.store.study_import import SubjectRow, import_rows
    from xerotrial.store.study_store import init_study_store
    from xerotrial.study import load_study

    db = init_study_store(url, DEFINITION)
    eng = open_store(db)
    n = users * per_user
    rows = [SubjectRow(str(i), "rh", "arm_1" if i % 2 else "arm_2") for i in range(1, n + 1)]
    import_rows(eng, load_study(DEFINITION), rows, [], source="subjects", user="local:bench")
    plan: dict[str, list[str]] = {}
    for u in range(users):
        name = f"u{u + 1}"
        add_user(eng, name, "data-entry", "rh", PASSWORD, actor=Actor.local("bench"))
        token = issue_token(eng, name, PASSWORD)
        plan[token] = [str(u * per_user + j + 1) for j in range(per_user)]
    audit = audit_size(eng)
    eng.dispose()
    return plan, audit


def audit_size(eng) -> int:  # noqa: ANN001
    from sqlalchemy import text

    with eng.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one())


class Server:
    """``xerotrial serve`` in a subprocess; its log goes to a file."""

    def __init__(self, url: str, workers: int, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        cmd = [sys.executable, "-m", "xerotrial", "serve", "--db", url]
        cmd += ["--port", str(self.port), "--workers", str(workers)]
        self.fh = log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self.fh, stderr=subprocess.STDOUT)

    def wait_ready(self, token: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        headers = {"Authorization": f"Bearer {token}"}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(f"{self.base}/api/v1/subjects", headers=headers).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        tail = self.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"xerotrial serve did not answer on {self.base}:\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.fh.close()


def user_loop(
    base: str,
    token: str,
    subjects: list[str],
    start: threading.Barrier,
    deadline_box: list[float],
    saves_left: list[int],
    lock: threading.Lock,
    samples: dict[str, Samples],
    saves_in_order: list[tuple[float, float]],
    think: float = 0.0,
) -> None:
    """One user: dashboard, form get, form save, on its own subjects in turn; then a pause
    of 0 to 2 x ``think`` seconds (0: none, the closed loop that saturates the server). With
    think time, each user also starts after such a pause."""
    import random

    rng = random.Random(token)
    local = {op: Samples() for op in OPS}
    order: list[tuple[float, float]] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120.0) as client:

        def timed(op: str, method: str, path: str, **kw) -> httpx.Response | None:  # noqa: ANN003
            t0 = time.perf_counter()
            try:
                r = client.request(method, path, **kw)
            except httpx.HTTPError:
                local[op].errors[-1] = local[op].errors.get(-1, 0) + 1
                return None
            t1 = time.perf_counter()
            local[op].times.append(t1 - t0)
            if r.status_code != 200:
                local[op].errors[r.status_code] = local[op].errors.get(r.status_code, 0) + 1
                return None
            if op == "form save":
                order.append((t1, t1 - t0))
            return r

        start.wait()
        if think > 0:  # people arrive at their own times, not all in the same millisecond
            time.sleep(rng.uniform(0, 2 * think))
        n = 0
        while time.monotonic() < deadline_box[0]:
            with lock:
                if saves_left[0] <= 0:
                    break
                saves_left[0] -= 1
            subject = subjects[n % len(subjects)]
            url = f"/api/v1/subjects/{subject}/forms/enrolment"
            params = {"visit": "baseline"}
            timed("dashboard", "GET", "/api/v1/subjects")
            got = timed("form get", "GET", url, params=params)
            if got is None:
                n += 1
                continue
            form = got.json()
            body: dict[str, object] = {
                "values": {"age": str(20 + (n * 7 + len(subjects)) % 60)},
                "version": form["version"],
            }
            if form["version"]:
                body["reason"] = "load benchmark: value corrected"
            timed("form save", "PUT", url, params=params, json=body)
            n += 1
            if think > 0:  # a person reads and types before the next form
                time.sleep(rng.uniform(0, 2 * think))
    with lock:
        for op in OPS:
            samples[op].times += local[op].times
            for code, k in local[op].errors.items():
                samples[op].errors[code] = samples[op].errors.get(code, 0) + k
        saves_in_order += order


def run_one(url: str, backend: str, users: int, args: argparse.Namespace, folder: Path) -> Outcome:
    from xerotrial.store.engine import open_store

    plan, audit_before = build_store(url, users, args.subjects_per_user)
    server = Server(url, args.workers, folder / f"serve-{backend}-{users}.log")
    try:
        server.wait_ready(next(iter(plan)))
        samples = {op: Samples() for op in OPS}
        order: list[tuple[float, float]] = []
        lock = threading.Lock()
        start = threading.Barrier(users + 1)
        deadline = [float("inf")]
        saves_left = [args.saves]
        threads = [
            threading.Thread(
                target=user_loop,
                args=(server.base, tok, subs, start, deadline, saves_left, lock, samples, order),
                kwargs={"think": args.think},
            )
            for tok, subs in plan.items()
        ]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        deadline[0] = t0 + args.seconds
        start.wait()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
    finally:
        server.stop()
    from xerotrial.store.verify import verify

    eng = open_store(url)
    audit_after = audit_size(eng)
    verify(eng)  # warm-up
    t0 = time.perf_counter()
    verify(eng)
    verify_s = time.perf_counter() - t0
    eng.dispose()
    order.sort()
    return Outcome(
        backend,
        users,
        args.workers,
        elapsed,
        samples,
        [lat for _, lat in order],
        audit_before,
        audit_after,
        verify_s,
    )


def pct(xs: list[float], q: float) -> float:
    """The q-quantile (0..1) in ms, nearest rank."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return 1000 * s[min(len(s) - 1, max(0, round(q * len(s)) - 1))]


def table(outcomes: list[Outcome]) -> list[str]:
    head = f"{'backend':10s} {'users':>5s} {'operation':10s} {'count':>6s} {'errors':>6s}"
    head += f" {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s} {'ops/s':>7s}"
    lines = [head, "-" * len(head)]
    for o in outcomes:
        total = sum(len(o.samples[op].times) for op in OPS)
        for i, op in enumerate(OPS):
            s = o.samples[op]
            err = sum(s.errors.values())
            rate = f"{total / o.seconds:7.1f}" if i == 0 else ""
            lines.append(
                f"{o.backend:10s} {o.users:5d} {op:10s} {len(s.times):6d} {err:6d}"
                f" {pct(s.times, 0.5):8.1f} {pct(s.times, 0.95):8.1f}"
                f" {1000 * max(s.times, default=float('nan')):8.1f} {rate:>7s}"
            )
        saves = o.saves_in_order
        tenth = max(1, len(saves) // 10)
        lines.append(
            f"{'':10s} {'':5s} {'':10s} {o.seconds:.1f} s, audit log {o.audit_before} -> "
            f"{o.audit_after} entries (verify {1000 * o.verify_s:.0f} ms); save p50 "
            f"first/last tenth {pct(saves[:tenth], 0.5):.0f}/{pct(saves[-tenth:], 0.5):.0f} ms"
        )
        for op in OPS:
            if o.samples[op].errors:
                lines.append(f"{'':28s} {op} errors by status: {o.samples[op].errors}")
    return lines


def goal_line(outcomes: list[Outcome]) -> str:
    for o in outcomes:
        if o.backend == "postgresql" and o.users == 20:
            p95 = pct(o.samples["form save"].times, 0.95)
            verdict = "met" if p95 <= GOAL_MS else "NOT met"
            return f"{GOAL}: {verdict} (form save p95 {p95:.0f} ms at 20 users on PostgreSQL)"
    return f"{GOAL}: not measured (no PostgreSQL run at 20 users)"


def pg_database(base_url: str, name: str):  # noqa: ANN201
    """Create database ``name`` on ``base_url``'s server; its URL and a dropper."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(base_url)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def versions(pg: str | None) -> str:
    import sqlite3

    out = f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    if pg:
        from sqlalchemy import create_engine, text

        eng = create_engine(pg)
        with eng.connect() as conn:
            ver = str(conn.execute(text("SHOW server_version")).scalar_one()).split()[0]
        out += f", PostgreSQL {ver}"
        eng.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", default="5,20,50", help="numbers of users, comma-separated")
    ap.add_argument("--seconds", type=float, default=15.0, help="per run, at most")
    ap.add_argument("--saves", type=int, default=200, help="per run, at most (all users)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="serve --workers")
    ap.add_argument("--subjects-per-user", type=int, default=2)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--pg", default=os.environ.get("XEROTRIAL_TEST_PG_URL"))
    ap.add_argument("--out", type=Path, help="also write the table to this file")
    ap.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean pause of a user after each save, seconds (0: none: saturation)",
    )
    args = ap.parse_args()
    user_counts = [int(k) for k in args.users.split(",")]
    backends = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if "postgresql" in backends and not args.pg:
        print("no PostgreSQL: set XEROTRIAL_TEST_PG_URL or --pg URL", file=sys.stderr)
        backends.remove("postgresql")
    header = [
        f"# benchmarks/web_load.py, {dt.date.today().isoformat()}, "
        f"{platform.node() or 'this machine'}: {os.cpu_count()} CPUs, {platform.machine()}, "
        f"{versions(args.pg if 'postgresql' in backends else None)}",
        f"# xerotrial serve --workers {args.workers}; per run: {args.seconds:g} s or "
        f"{args.saves} saves, {args.subjects_per_user} subjects per user; think time "
        f"{'none (closed loop: saturation)' if not args.think else f'0-{2 * args.think:g} s'}; "
        "client threads and server on the same machine",
        f"# {GOAL}",
    ]
    print("\n".join(header), flush=True)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for backend in backends:
            for k in user_counts:
                if backend == "sqlite":
                    url, drop = f"sqlite:///{folder / f'load-{k}.db'}", None
                else:
                    url, drop = pg_database(args.pg, f"xerotrial_webload_{os.getpid()}_{k}")
                try:
                    print(f"{backend}, {k} users ...", flush=True)
                    outcomes.append(run_one(url, backend, k, args, folder))
                finally:
                    if drop:
                        drop()
    lines = [*header, *table(outcomes), goal_line(outcomes)]
    print("\n".join(lines[len(header) :]))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
