"""Alembic environment of the trial store: runs online on the connection it is given.

``xerotrial.store.migrate.upgrade`` passes an open connection in
``config.attributes["connection"]``; without one (the ``alembic`` command line) the URL is
``sqlalchemy.url`` of the config, or ``XEROTRIAL_DB``, or ``trial.db``.
"""

from __future__ import annotations

import os

from alembic import context

from xerotrial.store.engine import make_engine, resolve_url
from xerotrial.store.schema import METADATA

config = context.config


def _run(connection) -> None:  # noqa: ANN001 - a SQLAlchemy Connection
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url") or resolve_url(os.environ.get("XEROTRIAL_DB"))
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()
