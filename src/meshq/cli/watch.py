"""``meshq queue status QUEUE --watch``: a live view of a queue (counts,
running jobs, hosts), redrawn until the queue is done, with rich.live.

The queue is done when none of its jobs waits (``ready``, ``undefined``)
or runs (``run``, ``start``). Ctrl-C leaves the view at once: the last
picture stays on the screen, the cursor comes back, and the exit status is
0 (watching changes nothing, so stopping it is no failure).
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshq.cli.progress import state_counts
from meshq.durations import format_seconds
from meshq.model import ACTIVE, FINISHED, WAITING, Host, Job, Queue, Status

if TYPE_CHECKING:
    from rich.console import RenderableType


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the view shows at one moment, read from the store."""

    queue: Queue
    counts: dict[Status, int]
    running: list[Job]
    hosts: list[Host]
    #: running jobs per host, over all queues
    slots: dict[str, int]
    at: float
    #: the running jobs no run watches, on other hosts: their state may be old
    unwatched: frozenset[int] = frozenset()

    @property
    def done(self) -> bool:
        """Nothing of the queue waits or runs: nothing will change."""
        return not any(self.counts.get(s) for s in (*WAITING, *ACTIVE))


def snapshot(mq: Any, queue_name: str) -> Snapshot:
    """The queue's state now, in a few cheap reads (after the running jobs
    no run watches were read again where that is cheap: see cli/stale.py)."""
    from meshq.cli.stale import settle

    queue = mq.queue(queue_name)
    unwatched = settle(mq, queue_name)
    slots, _gpus = mq.host_usage()
    return Snapshot(
        queue=queue,
        counts=mq.counts(queue_name),
        running=mq.select(queue_name, status=list(ACTIVE)),
        hosts=mq.hosts(),
        slots=dict(slots),
        at=time.time(),
        unwatched=unwatched.ids,
    )


def render(view: Snapshot, height: int) -> RenderableType:
    """The picture of ``view`` for a terminal ``height`` lines tall: a line
    of counts, the hosts in use, and as many running jobs as fit."""
    from collections import Counter

    from rich.console import Group
    from rich.text import Text

    total = sum(view.counts.values())
    finished = Counter({s: n for s, n in view.counts.items() if s in FINISHED})
    waiting = sum(view.counts.get(s, 0) for s in WAITING)
    head = Text.from_markup(
        f"[bold]{view.queue.name}[/]: {total} job(s) · "
        f"{state_counts(finished, len(view.running), markup=True)} · {waiting} waiting"
        + (" · [yellow]paused[/]" if view.queue.paused else "")
        + (
            f" · [yellow]{len(view.unwatched)} watched by no run (?): "
            f"meshq queue refresh {view.queue.name}[/]"
            if view.unwatched
            else ""
        )
        + (" · [green]done[/]" if view.done else "")
    )
    parts: list[RenderableType] = [head]
    here = Counter(job.host or "" for job in view.running)
    known = {h.name: h for h in view.hosts}
    # the hosts this queue runs on, and the inventory's hosts that are busy
    names = [h.name for h in view.hosts if here[h.name] or view.slots.get(h.name)]
    names += sorted(n for n in here if n not in known)
    if names:
        hosts = _table("host", "status", "jobs here", "slots used")
        for name in names:
            host = known.get(name)
            used = view.slots.get(name, here[name])
            hosts.add_row(
                name,
                host.status.value if host else "",
                str(here[name]),
                f"{used}/{host.max_jobs}" if host else str(used),
            )
        parts += [Text(""), hosts]
    if view.running:
        # the rest of the terminal: the head, two blank lines, two headers,
        # the hosts, and a line to spare
        room = max(height - 6 - len(names), 3)
        jobs = _table("running", "host", "gpu", "runtime", "started")
        for job in view.running[:room]:
            started = job.started or view.at
            jobs.add_row(
                job.name + ("?" if job.id in view.unwatched else ""),
                job.host or "",
                job.gpu or "",
                format_seconds(max(view.at - started, 0.0)),
                time.strftime("%H:%M:%S", time.localtime(started)),
            )
        if len(view.running) > room:
            jobs.add_row(f"… {len(view.running) - room} more", "", "", "", "")
        parts += [Text(""), jobs]
    return Group(*parts)


def _table(*headers: str) -> Any:
    """A rich table drawn like meshq's own: no box, cells cut with '…'."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, no_wrap=True, overflow="ellipsis")
    return table


def watch(mq: Any, queue_name: str, interval: float) -> int:
    """Redraw the queue's view every ``interval`` seconds until it is done
    or Ctrl-C; returns the exit status (0)."""
    from rich.console import Console
    from rich.live import Live

    console = Console()
    view = snapshot(mq, queue_name)  # an unknown queue fails here, before any drawing
    # Ctrl-C sets a flag the loop looks at instead of raising wherever it
    # lands: raised inside asyncio.run (each snapshot settles the queue's
    # unwatched jobs), a KeyboardInterrupt can be turned into the task's
    # cancellation and lost, and the view would go on drawing. With a
    # handler of our own in place, asyncio.run leaves SIGINT alone.
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    try:
        with Live(
            render(view, console.height), console=console, auto_refresh=False, transient=False
        ) as live:
            while not view.done and not stop.wait(interval):
                view = snapshot(mq, queue_name)
                live.update(render(view, console.height), refresh=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    if stop.is_set():
        console.print(f"stopped watching {queue_name}; its jobs go on")
    return 0
