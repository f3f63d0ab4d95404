"""``/runs``: start a run of a queue (``fifo`` or ``fifo_multi``, as an
asyncio task on the service's run loop: :mod:`meshq.web.runs`), list the
runs, show one, stop one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from meshq.results import to_datetime
from meshq.web.context import Context, context
from meshq.web.models import RunOut, RunStart
from meshq.web.runs import Run

router = APIRouter(prefix="/runs", tags=["runs"])
Ctx = Annotated[Context, Depends(context)]


def run_out(run: Run) -> RunOut:
    """The answer that shows ``run``."""
    started = to_datetime(run.started)
    assert started is not None
    out = RunOut(
        id=run.id,
        queue=run.queue,
        mode=run.mode,
        options=run.options,
        state=run.state,
        started=started,
        ended=to_datetime(run.ended),
        error=run.error,
    )
    if (result := run.result) is not None:
        out = out.model_copy(
            update={
                "finished": dict(result.finished),
                "ok": result.ok,
                "still_running": result.still_running,
                "retried": result.retried,
                "stranded": result.stranded,
                "stranded_why": result.stranded_why,
            }
        )
    return out


@router.post("", status_code=201, summary="Start a run of a queue in the service")
async def start_run(body: RunStart, ctx: Ctx) -> RunOut:
    return run_out(await ctx.runs.start(body.queue, body.mode, body.options()))


@router.get("", summary="The runs this service started (active=true: those running)")
async def list_runs(ctx: Ctx, active: bool = False) -> list[RunOut]:
    return [run_out(r) for r in ctx.runs.list(active=active)]


@router.get("/{run}", summary="One run and, once it has ended, what it did")
async def show_run(run: int, ctx: Ctx) -> RunOut:
    return run_out(ctx.runs.get(run))


@router.post("/{run}/stop", summary="Stop a run: it launches nothing more (running jobs go on)")
async def stop_run(run: int, ctx: Ctx) -> RunOut:
    return run_out(ctx.runs.stop(run))
