"""``/queues/{queue}/jobs``: add (name patterns), list (filters, pages),
show (with history), logs (whole, or followed as they grow), and kill,
reset and delete, of one job or of a selection. Each route calls
:class:`meshq.service.Service`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from meshq.errors import TransitionError, UsageError
from meshq.model import Job, killable
from meshq.service import Service
from meshq.web.context import Context, context
from meshq.web.models import (
    LONG,
    Added,
    Changed,
    Deleted,
    EventOut,
    JobDetail,
    JobOut,
    JobPage,
    JobsAdd,
    MovedOut,
    Selection,
)

router = APIRouter(prefix="/queues/{queue}", tags=["jobs"])
Ctx = Annotated[Context, Depends(context)]
#: the most jobs one page holds
MAX_PAGE = 1000


@router.post("/jobs", status_code=201, summary="Add the jobs a name pattern expands to")
async def add_jobs(queue: str, body: JobsAdd, ctx: Ctx) -> Added:
    fields = body.model_dump(exclude={"name", "command"}, exclude_none=True)
    names = await ctx.call(lambda s: s.add(queue, body.name, body.command, **fields))
    return Added(added=names)


@router.get("/jobs", summary="A page of the queue's jobs, filtered by state and name")
async def list_jobs(
    queue: str,
    ctx: Ctx,
    status: Annotated[
        str | None, Query(max_length=LONG, description="states, comma separated: fail,kill")
    ] = None,
    name: Annotated[
        str | None, Query(max_length=LONG, description="names, ranges, globs: job[1-9],x*")
    ] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 100,
    sort: Annotated[
        str | None,
        Query(
            max_length=LONG,
            description="submitted (queue order), name, status, host, started or ended; "
            "-started: descending",
        ),
    ] = None,
) -> JobPage:
    jobs, total = await ctx.call(
        lambda s: s.page(queue, status=status, name=name, offset=offset, limit=limit, sort=sort)
    )
    return JobPage(total=total, offset=offset, limit=limit, jobs=[JobOut.of(j) for j in jobs])


@router.get("/jobs/{job}", summary="A job and its history")
async def show_job(queue: str, job: str, ctx: Ctx) -> JobDetail:
    def show(s: Service) -> JobDetail:
        record = s.job(queue, job)
        history = [EventOut.of(e) for e in s.store.events(record)]
        return JobDetail(**JobOut.of(record).model_dump(), history=history)

    return await ctx.call(show)


@router.get(
    "/jobs/{job}/logs",
    summary="A job's output; with follow=true, streamed as it is written until the job ends",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "the output, as written"}},
)
async def job_logs(
    queue: str,
    job: str,
    ctx: Ctx,
    stream: Literal["stdout", "stderr"] = "stdout",
    follow: bool = False,
    attempt: Annotated[
        int | None, Query(ge=1, description="an earlier attempt's output (default: the latest)")
    ] = None,
) -> StreamingResponse:
    # read (or wait for) the first chunk here, so that an error answers with
    # its status rather than breaking a stream that has begun
    await ctx.call(lambda s: s.job(queue, job))
    chunks = ctx.logs(queue, job, stderr=stream == "stderr", follow=follow, attempt=attempt)
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = b""

    async def body() -> AsyncIterator[bytes]:
        try:
            yield first
            async for chunk in chunks:
                yield chunk
        finally:  # the client went away, or the job ended: let go of its host
            await chunks.aclose()

    return StreamingResponse(body(), media_type="text/plain; charset=utf-8")


async def _one(ctx: Context, queue: str, job: str) -> Job:
    """The job named exactly ``job`` (404 when there is none)."""
    return await ctx.call(lambda s: s.job(queue, job))


@router.post("/jobs/{job}/kill", summary="Kill a running job (its whole process group)")
async def kill_job(queue: str, job: str, ctx: Ctx) -> Changed:
    record = await _one(ctx, queue, job)
    if not killable(record.status):
        raise TransitionError(
            f"job {job!r} of queue {queue!r} is {record.status}, not running: nothing to kill",
            queue=queue,
            job=job,
        )
    moved = await ctx.call_async(lambda s: s.kill(queue, record.name))
    return Changed(changed=[MovedOut.of(m) for m in moved])


@router.post("/jobs/{job}/reset", summary="Make a job runnable again (killed first if running)")
async def reset_job(
    queue: str,
    job: str,
    ctx: Ctx,
    purge: Annotated[
        bool, Query(description="also remove the job folders: every attempt's files, on every host")
    ] = False,
) -> Changed:
    record = await _one(ctx, queue, job)
    moved = await ctx.call_async(lambda s: s.reset(queue, record.name, purge=purge))
    return Changed(changed=[MovedOut.of(m) for m in moved])


@router.delete("/jobs/{job}", summary="Delete a job (killed first if running)")
async def delete_job(queue: str, job: str, ctx: Ctx) -> Deleted:
    record = await _one(ctx, queue, job)
    return Deleted(deleted=await ctx.call_async(lambda s: s.delete(queue, record.name)))


def _selected(body: Selection) -> Selection:
    if body.name is None and body.status is None:
        raise UsageError("give name and/or status to select jobs (DELETE /queues/Q deletes all)")
    return body


@router.post("/kill", summary="Kill the selected jobs that run")
async def kill_jobs(queue: str, body: Selection, ctx: Ctx) -> Changed:
    moved = await ctx.call_async(lambda s: s.kill(queue, body.name, body.status))
    return Changed(changed=[MovedOut.of(m) for m in moved])


@router.post(
    "/reset",
    summary="Make the selected jobs runnable again (none selected: every job not ended well)",
)
async def reset_jobs(
    queue: str,
    body: Selection,
    ctx: Ctx,
    purge: Annotated[
        bool, Query(description="also remove the job folders: every attempt's files, on every host")
    ] = False,
) -> Changed:
    moved = await ctx.call_async(lambda s: s.reset(queue, body.name, body.status, purge=purge))
    return Changed(changed=[MovedOut.of(m) for m in moved])


@router.post("/delete", summary="Delete the selected jobs (give name and/or status)")
async def delete_jobs(queue: str, body: Selection, ctx: Ctx) -> Deleted:
    chosen = _selected(body)
    deleted = await ctx.call_async(lambda s: s.delete(queue, chosen.name, chosen.status))
    return Deleted(deleted=deleted)
