"""``/queues``: create, list, show (with counts), change, pause/resume and
delete queues. Each route calls :class:`meshq.service.Service`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends

from meshq.errors import AlreadyExists
from meshq.results import QueueSummary
from meshq.service import Service
from meshq.web.context import Context, context
from meshq.web.models import Deleted, QueueChange, QueueCreate, QueueOut

router = APIRouter(prefix="/queues", tags=["queues"])
Ctx = Annotated[Context, Depends(context)]


def _summary(service: Service, name: str) -> QueueOut:
    queue = service.queue(name)
    return QueueOut.of(QueueSummary.of(queue, service.counts(queue.name)))


@router.get("", summary="Every queue with its jobs per state")
async def list_queues(ctx: Ctx) -> list[QueueOut]:
    rows = await ctx.call(lambda s: s.queues())
    return [QueueOut.of(QueueSummary.of(r.queue, r.counts)) for r in rows]


@router.post("", status_code=201, summary="Create an empty queue")
async def create_queue(body: QueueCreate, ctx: Ctx) -> QueueOut:
    queue = await ctx.call(
        lambda s: s.create_queue(
            body.name, body.experiment, timeout=body.timeout, retries=body.retries
        )
    )
    return QueueOut.of(QueueSummary.of(queue, {}))


@router.get("/{queue}", summary="A queue with its jobs per state")
async def show_queue(queue: str, ctx: Ctx) -> QueueOut:
    return await ctx.call(lambda s: _summary(s, queue))


@router.patch("/{queue}", summary="Change a queue's defaults (those given)")
async def change_queue(queue: str, body: QueueChange, ctx: Ctx) -> QueueOut:
    def change(s: Service) -> QueueOut:
        s.set_defaults(queue, timeout=body.timeout, retries=body.retries, policy=body.policy)
        return _summary(s, queue)

    return await ctx.call(change)


def _then_show(
    queue: str, action: Callable[[Service, str], object]
) -> Callable[[Service], QueueOut]:
    """``action`` on the queue, then the queue as it is after it."""

    def run(service: Service) -> QueueOut:
        action(service, queue)
        return _summary(service, queue)

    return run


@router.post("/{queue}/pause", summary="Launch no new job of the queue (running ones go on)")
async def pause_queue(queue: str, ctx: Ctx) -> QueueOut:
    return await ctx.call(_then_show(queue, Service.pause))


@router.post("/{queue}/resume", summary="Let a paused queue's jobs be launched again")
async def resume_queue(queue: str, ctx: Ctx) -> QueueOut:
    return await ctx.call(_then_show(queue, Service.resume))


@router.delete("/{queue}", summary="Delete the queue: kill its running jobs, remove their folders")
async def delete_queue(queue: str, ctx: Ctx) -> Deleted:
    running = [r for r in ctx.runs.list(active=True) if r.queue == queue]
    if running:
        raise AlreadyExists(
            f"queue {queue!r} is being run (run {running[0].id}): stop the run first",
            kind="run",
            name=queue,
        )
    return Deleted(deleted=await ctx.call_async(lambda s: s.delete(queue)))
