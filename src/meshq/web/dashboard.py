"""The dashboard: a page at ``/``, its static files, and ``/events``,
the live stream the page updates itself from.

The page and its files hold no data, so they need no token (a browser
cannot send a header when it navigates); the script reads everything
through the REST routes and ``/events``, each with ``Authorization:
Bearer``. ``/events`` is server-sent events, read by the page with
``fetch`` (so the token is never in a URL): every ``interval`` seconds the
server asks the store two cheap things (the history lines after a cursor,
a range read on the events' primary key; the jobs running per host, on an
index) and, when a job changed state or every :data:`RECOUNT_S` seconds,
the queues' counts (one grouped read of an index), and sends what changed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import version
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from meshq.model import Status, utc_iso
from meshq.service import Service
from meshq.web.auth import require_token
from meshq.web.context import Context, context

router = APIRouter(include_in_schema=False)

#: the files under ``/static/``: nothing else is served from there
STATIC = {
    "dashboard.css": "text/css",
    "dashboard.js": "text/javascript",
    "timeline.js": "text/javascript",
}
#: the most history lines one ``jobs`` event carries (more wait for the next tick)
CHANGES_PER_EVENT = 500
#: how often the stream counts the jobs per queue when no job changed state (s)
RECOUNT_S = 5.0
#: a comment line this often keeps proxies and the browser from closing the stream
KEEPALIVE_S = 15.0

# The page runs our own script only, talks to this origin only, and may not
# be framed by another site.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _resource(folder: str, name: str) -> bytes:
    return resources.files("meshq.web").joinpath(folder, name).read_bytes()


@router.get("/", response_class=HTMLResponse)
def page() -> HTMLResponse:
    """The dashboard page (the states it knows come from :class:`Status`)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("meshq.web", "templates"), autoescape=True)
    html = env.get_template("dashboard.html").render(
        states=[s.value for s in Status], version=version("meshq")
    )
    return HTMLResponse(html, headers=_PAGE_HEADERS)


@router.get("/static/{name}")
def static(name: str) -> Response:
    """One of the page's own files (:data:`STATIC`); 404 for any other name."""
    kind = STATIC.get(name)
    if kind is None:
        return Response(
            json.dumps({"error": f"no static file {name!r}"}),
            status_code=404,
            media_type="application/json",
        )
    return Response(_resource("static", name), media_type=kind, headers=_PAGE_HEADERS)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the stream sends, read in one go: each part a JSON-ready value."""

    queues: list[dict[str, Any]] | None
    hosts: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    cursor: int


def snapshot(service: Service, after: int | None, *, recount: bool = True) -> Snapshot:
    """The jobs' state changes after the cursor ``after`` (None: from now
    on), the hosts with the slots and GPUs in use, and the queues with
    their counts: those only when a job changed, or with ``recount``
    (``queues`` is None otherwise). The counts are read after the changes,
    so they are never older than the changes sent with them."""
    found, cursor = service.state_changes(after, CHANGES_PER_EVENT)
    changes = [
        {
            "id": c.id,
            "queue": c.queue,
            "job": c.job,
            "old": c.event.old.value if c.event.old else None,
            "new": c.event.new.value,
            "time": utc_iso(c.event.time),
            "host": c.event.host,
            "exit_code": c.event.exit_code,
            "detail": c.event.detail,
        }
        for c in found
    ]
    queues = None
    if found or recount:
        queues = [
            {
                "name": qc.queue.name,
                "paused": qc.queue.paused,
                "total": qc.total,
                "counts": {s.value: n for s, n in qc.counts.items() if n},
            }
            for qc in service.queues()
        ]
    running, held = service.host_usage()
    hosts: list[dict[str, Any]] = [
        {
            "name": h.name,
            "status": h.status.value,
            "max_jobs": h.max_jobs,
            "running": running.get(h.name, 0),
            "gpus": list(h.gpus),
            "gpus_in_use": sorted(held.get(h.name, ())),
        }
        for h in service.hosts()
    ]
    # a host that runs jobs without being in the inventory (localhost, a
    # `--hosts` entry) still has slots in use
    known = {h["name"] for h in hosts}
    hosts += [
        {
            "name": name,
            "status": None,
            "max_jobs": None,
            "running": n,
            "gpus": [],
            "gpus_in_use": sorted(held.get(name, ())),
        }
        for name, n in sorted(running.items())
        if name not in known
    ]
    return Snapshot(queues, hosts, changes, cursor)


def frame(event: str, data: object, event_id: int | None = None) -> bytes:
    """One server-sent event: its name, its id (the cursor), one JSON data line."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def stream(
    request: Request, ctx: Context, after: int | None, interval: float
) -> AsyncIterator[bytes]:
    """Send the first snapshot whole, then every ``interval`` seconds only
    the parts that changed, until the client goes away."""
    sent: dict[str, object] = {}
    quiet = 0.0
    counted = -RECOUNT_S
    yield b"retry: 2000\n\n"
    while not await request.is_disconnected():
        # counting a big store's jobs costs most: only when a job moved, or
        # now and then for what moves no job (a pause, a deletion)
        recount = time.monotonic() - counted >= RECOUNT_S
        snap = await ctx.call(functools.partial(snapshot, after=after, recount=recount))
        if snap.queues is not None:
            counted = time.monotonic()
        runs = [
            {"id": r.id, "queue": r.queue, "mode": r.mode, "state": r.state}
            for r in ctx.runs.list(active=True)
        ]
        out = b""
        for name, value in (("queues", snap.queues), ("hosts", snap.hosts), ("runs", runs)):
            if value is not None and sent.get(name) != value:
                out += frame(name, value)
                sent[name] = value
        if snap.changes:
            out += frame("jobs", snap.changes, snap.cursor)
        after = snap.cursor
        quiet = 0.0 if out else quiet + interval
        if quiet >= KEEPALIVE_S:
            out, quiet = b": keep-alive\n\n", 0.0
        if out:
            yield out
        await asyncio.sleep(interval)


@router.get("/events", dependencies=[Depends(require_token)])
async def events(
    request: Request,
    ctx: Annotated[Context, Depends(context)],
    interval: Annotated[float, Query(ge=0.2, le=60.0)] = 1.0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """The live stream: events ``queues``, ``hosts``, ``runs`` (each the
    whole list, sent when it changed) and ``jobs`` (the state changes since
    the last, with the cursor as the event id: a client that reconnects
    with ``Last-Event-ID`` misses none)."""
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    return StreamingResponse(
        stream(request, ctx, after, interval),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
