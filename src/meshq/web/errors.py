"""Errors as the REST service answers them: JSON ``{"error": "one line",
…fields}`` with the status code that fits.

A meshq error keeps its fields (``kind``, ``name``, ``queue``, ``job``,
``host``, …): 404 for something that does not exist (a job's output file too), 409 for a conflict
(exists already, a state that forbids the change), 422 for input that is
not valid, 502 for a host that could not be reached, 503 for a busy store.
Anything else is a bug: it answers 500 with a line, never a traceback.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match, Route

from meshq import errors as e
from meshq.web.auth import Unauthorized

#: the status of each meshq error; the first class that matches wins
STATUS: tuple[tuple[type[e.MeshqError], int], ...] = (
    (e.NotFound, 404),
    (e.AlreadyExists, 409),
    (e.TransitionError, 409),
    (e.UnreadableFile, 404),  # the output file is not (or no longer) there
    (e.HostError, 502),
    (e.StoreError, 503),
    (e.UsageError, 422),
    (e.WaitTimeout, 504),
)

#: what an error body holds: its line, and these fields when the error has them
_FIELDS = ("kind", "name", "queue", "job", "host", "path", "status", "detail")


def status_of(error: e.MeshqError) -> int:
    """The HTTP status that answers ``error``."""
    return next((code for kind, code in STATUS if isinstance(error, kind)), 500)


def body_of(error: e.MeshqError) -> dict[str, Any]:
    """``{"error": line, …}`` with the fields ``error`` carries (not None)."""
    out: dict[str, Any] = {"error": str(error), "type": type(error).__name__}
    for name in _FIELDS:
        value = getattr(error, name, None)
        if value is not None and value != "":
            out[name] = value
    return out


async def _meshq_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, e.MeshqError)
    return JSONResponse(body_of(error), status_code=status_of(error))


async def _unauthorized(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, Unauthorized)
    headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse({"error": str(error)}, status_code=error.status, headers=headers)


async def _invalid(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        {"where": ".".join(str(p) for p in item.get("loc", ())), "problem": item.get("msg", "")}
        for item in error.errors()
    ]
    first = problems[0] if problems else {"where": "request", "problem": "not valid"}
    line = f"{first['where']}: {first['problem']}"
    if len(problems) > 1:
        line += f" (and {len(problems) - 1} more)"
    return JSONResponse({"error": line, "problems": problems}, status_code=422)


async def _http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    headers = dict(error.headers or {})
    if error.status_code == 405:
        # Starlette lists the methods of the first route of the path only;
        # a path with a route per method (GET and POST /queues) has them all
        headers["Allow"] = ", ".join(_methods_of(request))
    return JSONResponse(
        {"error": str(error.detail)}, status_code=error.status_code, headers=headers
    )


def _methods_of(request: Request) -> list[str]:
    """Every method some route of the application takes on the request's path."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**request.scope, "method": "GET"})
            if match is not Match.NONE:
                methods |= route.methods
    return sorted(methods)


async def _bug(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse(
        {"error": f"internal error ({type(error).__name__}): {error}", "type": "InternalError"},
        status_code=500,
    )


def install(app: FastAPI) -> None:
    """Make ``app`` answer every error as JSON, as this module says."""
    app.add_exception_handler(e.MeshqError, _meshq_error)
    app.add_exception_handler(Unauthorized, _unauthorized)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _bug)
