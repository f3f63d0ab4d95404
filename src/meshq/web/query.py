"""Query parameters a route does not take are refused, not ignored: a typo
(``?stauts=fail``) that is ignored answers as if no filter was asked for."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from meshq.errors import UsageError


def _names(dependant: Dependant) -> set[str]:
    """The query parameters ``dependant`` and its dependencies read."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _names(sub)
    return names


async def known_query_only(request: Request) -> None:
    """A FastAPI dependency: every query parameter is one the route takes
    (else a :class:`UsageError`, 422, naming the first one it does not)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _names(route.dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        raise UsageError(
            f"unknown query parameter {unknown[0]!r} for {request.method} {route.path}: "
            f"it takes {takes}"
        )
