"""From a ``--db`` value to a SQLAlchemy engine, and the store's write transactions.

``--db`` is a SQLAlchemy URL (``sqlite:///trial.db``, ``postgresql+psycopg://u@host/db``) or
a plain file path, which means an SQLite file. The default is ``trial.db`` in the current
folder. SQLite connections get foreign keys on, WAL journaling and a 30 s busy timeout.

Writers are serialised: SQLite takes the database write lock at the start of the
transaction (``BEGIN IMMEDIATE``); PostgreSQL takes a transaction-scoped advisory lock. All
reads that decide a write (does the key exist, what is the audit chain's tip) happen under
that lock, so two processes importing or editing at once cannot lose an update or fork the
audit chain.

Example
-------
>>> resolve_url(None)
'sqlite:///trial.db'
>>> resolve_url("data/site1.db")
'sqlite:///data/site1.db'
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from .errors import StoreError

__all__ = [
    "DEFAULT_DB",
    "LOCK_KEY",
    "is_sqlite",
    "make_engine",
    "open_store",
    "resolve_url",
    "write_transaction",
]

#: The default store: an SQLite file in the current folder.
DEFAULT_DB = "trial.db"
#: PostgreSQL advisory lock key of the store's writers.
LOCK_KEY = 0x7E807121A1


def resolve_url(db: str | Path | None) -> str:
    """The SQLAlchemy URL of a ``--db`` value (None: ``trial.db``; a path: SQLite).

    >>> resolve_url("postgresql+psycopg://me@127.0.0.1/trial")
    'postgresql+psycopg://me@127.0.0.1/trial'
    """
    if db is None:
        db = DEFAULT_DB
    text_ = str(db)
    if "://" in text_:
        return text_
    return f"sqlite:///{text_}"


def is_sqlite(url: str) -> bool:
    """Whether the URL is an SQLite database.

    >>> is_sqlite("sqlite:///x.db"), is_sqlite("postgresql+psycopg://h/d")
    (True, False)
    """
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API objects
    # Let SQLAlchemy, not pysqlite, issue BEGIN (so that BEGIN IMMEDIATE works).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA busy_timeout = 30000")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.close()


#: connections kept open: a server's request threads each hold one while they work
_POOL = {"pool_size": 10, "max_overflow": 30}


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (see :func:`resolve_url`); SQLite gets the store's pragmas.

    >>> make_engine("sqlite://").dialect.name
    'sqlite'
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"--db {url!r} is not a database URL or file path ({exc})") from None
    if parsed.get_backend_name() == "sqlite":
        pool = _POOL if parsed.database not in (None, "", ":memory:") else {}
        engine = create_engine(parsed, connect_args={"timeout": 30}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql(conn.info.pop("begin", "BEGIN"))

        return engine
    try:
        return create_engine(parsed, pool_pre_ping=True, **_POOL)
    except Exception as exc:  # noqa: BLE001 - a missing driver or a bad URL is a user error
        raise StoreError(f"--db {url!r}: {exc}") from None


def _sqlite_path(url: str) -> str | None:
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    return database


def open_store(db: str | Path | None) -> Engine:
    """The engine of an existing store; :class:`StoreError` if there is none at ``db``.

    A store exists when its schema has been created by ``xerotrial init`` (a seed store has
    ``alembic_version``, a study store ``store_meta``).
    """
    url = resolve_url(db)
    if is_sqlite(url):
        path = _sqlite_path(url)
        if path is not None and not Path(path).exists():
            raise StoreError(
                f"no store at {path}: create it with `xerotrial init --db {db or path}`"
            )
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found = inspect(conn)
            ok = found.has_table("alembic_version") or found.has_table("store_meta")
    except OperationalError as exc:
        raise StoreError(f"cannot open the store {_safe(url)}: {exc.orig}") from None
    if not ok:
        engine.dispose()
        raise StoreError(f"{_safe(url)} is not a xerotrial store: create it with `xerotrial init`")
    return engine


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the store's write lock from its first statement.

    Commits on success, rolls back on any exception.

    >>> eng = make_engine("sqlite://")
    >>> with write_transaction(eng) as conn:
    ...     conn.execute(text("select 1")).scalar()
    1
    """
    # Writers wait here, blocked, rather than in SQLite's busy handler, which sleeps and
    # retries: a process whose threads write back to back starves another process's writer
    # (up to the 30 s timeout). The threads of one process queue on a lock, processes on an
    # advisory lock of a file beside the database (PostgreSQL queues on its own lock).
    with _writers(engine), _file_lock(engine), engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.info["begin"] = "BEGIN IMMEDIATE"
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
            yield conn


@contextlib.contextmanager
def reading(source: Engine | Connection) -> Iterator[Connection]:
    """A connection to read on: ``source`` when it is one (a request's), else a new one.

    >>> eng = make_engine("sqlite://")
    >>> with reading(eng) as conn, reading(conn) as same:
    ...     same is conn
    True
    """
    if isinstance(source, Connection):
        yield source
    else:
        with source.connect() as conn:
            yield conn


def engine_of(source: Engine | Connection) -> Engine:
    """The engine of ``source`` (itself when it is one)."""
    return source.engine if isinstance(source, Connection) else source


@contextlib.contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """SQLite on a file: an exclusive ``flock`` on ``DATABASE-writer.lock`` (POSIX; elsewhere,
    and for other databases, nothing)."""
    path = _sqlite_path(str(engine.url)) if engine.dialect.name == "sqlite" else None
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        fcntl = None
    if path is None or fcntl is None:
        yield
        return
    with open(f"{path}-writer.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_WRITERS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_WRITERS_GUARD = threading.Lock()


def _writers(engine: Engine) -> threading.RLock:
    """The engine's in-process write lock (one per engine; other processes queue on the
    database's own lock)."""
    with _WRITERS_GUARD:
        lock = _WRITERS.get(engine)
        if lock is None:
            lock = _WRITERS[engine] = threading.RLock()
        return lock
