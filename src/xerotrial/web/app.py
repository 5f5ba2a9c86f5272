"""The ASGI application: :func:`create_app` for a store URL, and the factory uvicorn runs.

Under ``xerotrial serve`` uvicorn imports :func:`app_from_environment` in each worker
process; the store's URL comes in ``$XEROTRIAL_DB``. Every answer carries headers that stop
content sniffing, framing and referrer leaks; the API is documented at
``/api/v1/openapi.json``.

>>> from fastapi.testclient import TestClient
>>> import tempfile, os
>>> from xerotrial.study import SEED_STUDY
>>> from xerotrial.store.study_store import init_study_store
>>> client = TestClient(create_app(init_study_store(os.path.join(tempfile.mkdtemp(), "s.db"),
...                                                 SEED_STUDY)))
>>> client.get("/api/v1/subjects").status_code
401
>>> "/api/v1/subjects" in client.get("/api/v1/openapi.json").json()["paths"]
True
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from xerotrial import __version__
from xerotrial.store.engine import open_store

from .api import install_error_handlers, router
from .pages import install_page_handlers, message_page
from .pages import router as pages_router
from .sessions import MAX_AGE

__all__ = ["DB_ENV", "SECRET_ENV", "app_from_environment", "create_app", "session_secret"]

#: The environment variable that gives a worker its store's URL.
DB_ENV = "XEROTRIAL_DB"
#: A file holding the key that signs session cookies (kept outside the store).
SECRET_FILE_ENV = "XEROTRIAL_SECRET_KEY_FILE"
#: The key itself, as ``serve`` passes it to its workers.
SECRET_ENV = "XEROTRIAL_SESSION_SECRET"
#: ``1``: session cookies only over HTTPS (behind a TLS proxy).
SECURE_ENV = "XEROTRIAL_SECURE_COOKIES"
_STATIC = Path(str(resources.files("xerotrial") / "web" / "static"))


def session_secret() -> str:
    """The key that signs session cookies: ``$XEROTRIAL_SESSION_SECRET``, the first line of
    ``$XEROTRIAL_SECRET_KEY_FILE``, or a new random one (sessions then end with the server)."""
    import secrets

    key = os.environ.get(SECRET_ENV)
    if key:
        return key
    path = os.environ.get(SECRET_FILE_ENV)
    if path:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        if not lines or len(lines[0]) < 32:
            raise RuntimeError(f"{path}: the session key must be at least 32 characters")
        return lines[0]
    return secrets.token_urlsafe(32)


#: Headers of every answer: no content sniffing, no framing, no referrer, no caching of data,
#: scripts and styles only from the application itself.
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "Cache-Control": "no-store",
}


def create_app(db: str) -> FastAPI:
    """The application of the study store at ``db`` (a URL or SQLite path)."""
    app = FastAPI(
        title="xerotrial",
        version=__version__,
        description="Data capture on a study store: accounts, roles, forms, lock.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = open_store(db)
    install_error_handlers(app, page=message_page)
    install_page_handlers(app)
    app.include_router(router)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=str(_STATIC)), name="static")
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(),
        session_cookie="xt_session",
        max_age=int(MAX_AGE.total_seconds()),
        same_site="strict",
        https_only=os.environ.get(SECURE_ENV) == "1",
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        for k, v in _HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    return app


def app_from_environment() -> FastAPI:
    """The application of the store named by ``$XEROTRIAL_DB`` (uvicorn's factory)."""
    db = os.environ.get(DB_ENV)
    if not db:
        raise RuntimeError(f"${DB_ENV} names no store")
    return create_app(db)
