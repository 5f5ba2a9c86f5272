"""Alembic migrations of the trial store (run by ``xerotrial init``; see ``store/migrate.py``)."""
