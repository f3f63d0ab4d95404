"""The FastAPI application ``meshq serve`` serves: :func:`create_app`."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI

from meshq.web import errors
from meshq.web.auth import require_token
from meshq.web.context import Context
from meshq.web.models import ERRORS
from meshq.web.query import known_query_only
from meshq.web.routes import ROUTERS

DESCRIPTION = """The meshq job queue over HTTP: the operations of the `meshq`
command line on queues, jobs, hosts and runs. Every route but `/health` needs
`Authorization: Bearer TOKEN` (`meshq serve info` prints the token)."""


def _warn(text: str) -> None:
    import sys

    print(f"meshq: warning: {text}", file=sys.stderr)


def create_app(
    db: str | Path | None = None,
    *,
    token: str,
    warn: Callable[[str], None] = _warn,
) -> FastAPI:
    """The service for the store ``db`` (None: meshq's default store),
    answering requests that carry ``token`` (``Authorization: Bearer``).

    ``app.state.context`` is its :class:`~meshq.web.context.Context` (the
    store per worker thread, the runs); ``app.state.token`` its token. The
    dashboard's router (:mod:`meshq.web.dashboard`) is included when that
    module is there.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        context.close()

    app = FastAPI(
        title="meshq",
        version=version("meshq"),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url="/redoc",
    )
    context = Context(db, warn)
    app.state.context = context
    app.state.token = token
    errors.install(app)

    @app.get("/health", tags=["service"], summary="Whether the service is up (no token needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": version("meshq")}

    for router in ROUTERS:
        app.include_router(
            router,
            dependencies=[Depends(require_token), Depends(known_query_only)],
            responses=ERRORS,
        )
    dashboard = _dashboard_router()
    if dashboard is not None:
        app.include_router(dashboard)
    return app


def _dashboard_router() -> APIRouter | None:
    """The dashboard's router, when :mod:`meshq.web.dashboard` is there.
    Its pages decide which of their routes need the token (the page at
    ``/`` and its static files do not: they hold no data)."""
    try:
        module = importlib.import_module("meshq.web.dashboard")
    except ModuleNotFoundError as err:
        if err.name != "meshq.web.dashboard":
            raise
        return None
    router: APIRouter = module.router
    return router
