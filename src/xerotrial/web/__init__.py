"""The web application of a study store: accounts, roles, form entry, lock (issue 13).

FastAPI (on Starlette) under uvicorn: a maintained ASGI framework whose JSON API documents
itself as OpenAPI (``/api/v1/openapi.json``), with argon2-cffi for passwords. Every rule of who
may do what is in :mod:`.permissions`; every write goes through the store's own functions
(:mod:`xerotrial.store.study_entry`, :mod:`~xerotrial.store.lock`,
:mod:`~xerotrial.store.accounts`), so the web, the API and the command line keep one set of
rules and one audit trail.
"""
