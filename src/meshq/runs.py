"""Running a queue (``meshq queue run``): which hosts a run uses, with how
many slots each, and the :class:`meshq.scheduler.engine.Runner` that runs
the jobs there. The part of :class:`meshq.service.Service` that starts
runs; the scheduler (imported on first use) does the rest."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from meshq import names, validate
from meshq.errors import NoHosts, UsageError
from meshq.model import ACTIVE, LOCAL_HOST_NAMES, LOCALHOST, HostStatus, Status
from meshq.servicepart import ServicePart

# The scheduler is imported by the methods that run: commands that only
# read the store start sooner without it (see meshq.service).
if TYPE_CHECKING:
    from meshq.scheduler.engine import Runner
    from meshq.scheduler.run import Reporter, RunHost, RunResult


class Runs(ServicePart):
    """Runs of a queue; mixed into :class:`meshq.service.Service`."""

    if TYPE_CHECKING:
        # Interop's, beside which this class is mixed in: the policy
        # stored for a queue

        def policy(self, queue: str) -> str: ...

    def _run_host(self, name: str, slots: int, user: str | None = None) -> RunHost:
        from meshq.hosts.registry import target
        from meshq.scheduler.run import RunHost

        where = target(self.store, name, user=user)
        known = where.host
        cluster = where.kind.cluster
        if cluster and known is not None:
            # a cluster's --max_jobs_allowed caps what is queued there, in
            # fifo too (there --max_parallel is the queue's own cap)
            slots = min(slots, known.max_jobs)
        return RunHost(
            where.name,
            where,
            slots,
            gpus=known.gpus if known else (),
            inventory=known is not None,
            cluster=cluster,
        )

    async def run_fifo(
        self,
        queue: str,
        max_parallel: int,
        *,
        name: str | None = None,
        reporter: Reporter | None = None,
        handle_signals: bool = False,
        check_interval: float = 5.0,
        host_lost_after: float | None = None,
        reprobe_every: float | None = None,
        on_runner: Callable[[Runner], None] | None = None,
    ) -> RunResult:
        """Run the queue's ready jobs in order, each on the host it is pinned
        to, at most ``max_parallel`` at once. Jobs with no host are skipped.
        ``name`` runs only the jobs it selects (as :meth:`select`).
        ``on_runner`` is given the :class:`Runner` once the options are
        checked and before it starts (to :meth:`Runner.stop` it later)."""
        max_parallel = validate.max_parallel(max_parallel)
        q = self.store.queue(queue)
        only = self._selection(queue, name)
        # each pinned host, with the --user its jobs name (the seed's pi@red)
        pinned: dict[str, str | None] = {}
        for host, user in self.store.pinned_hosts(q, [Status.READY, *ACTIVE]):
            if host not in pinned or pinned[host] is None:
                pinned[host] = user
        hosts = [self._run_host(h, max_parallel, pinned[h]) for h in sorted(pinned)]
        runner = _runner(
            self.store,
            q,
            hosts,
            mode="fifo",
            max_parallel=max_parallel,
            only=only,
            reporter=reporter,
            check_interval=check_interval,
            host_lost_after=host_lost_after,
            reprobe_every=reprobe_every,
        )
        return await self._run(runner, handle_signals, on_runner)

    async def run_fifo_multi(
        self,
        queue: str,
        hosts: str | None = None,
        *,
        policy: str | None = None,
        name: str | None = None,
        reporter: Reporter | None = None,
        handle_signals: bool = False,
        check_interval: float = 5.0,
        seed: int | None = None,
        host_lost_after: float | None = None,
        reprobe_every: float | None = None,
        on_runner: Callable[[Runner], None] | None = None,
    ) -> RunResult:
        """Run the queue's ready and undefined jobs in order over many hosts,
        each job on the host ``policy`` picks among those with a free slot
        (and enough free GPUs). ``hosts`` is the seed's list
        (``pi@red,pi@red01``: one slot per entry, repeat one for more);
        without it, the active hosts of the inventory with their
        ``max_jobs`` slots. ``policy`` defaults to the queue's stored one
        (:meth:`set_policy`), else sequential; ``name`` runs only the jobs it
        selects (as :meth:`select`)."""
        import random

        from meshq.scheduler.policies import policy_named

        q = self.store.queue(queue)
        chosen = policy_named(policy or self.policy(queue))
        only = self._selection(queue, name)
        run_hosts = self._hosts_from_list(hosts) if hosts else self._inventory_hosts()
        runner = _runner(
            self.store,
            q,
            run_hosts,
            mode="fifo_multi",
            policy=chosen,
            only=only,
            reporter=reporter,
            check_interval=check_interval,
            rng=random.Random(seed),
            host_lost_after=host_lost_after,
            reprobe_every=reprobe_every,
        )
        return await self._run(runner, handle_signals, on_runner)

    def _selection(self, queue: str, name: str | None) -> frozenset[int] | None:
        """The ids of the jobs ``--name`` selects for a run (None: all)."""
        if name is None:
            return None
        return frozenset(j.id for j in self.select(queue, name, acting=True))

    def _hosts_from_list(self, text: str) -> list[RunHost]:
        slots: Counter[str] = Counter()
        users: dict[str, str | None] = {}
        for entry in (e.strip() for e in text.split(",")):
            if not entry:
                continue
            user, _, name = entry.rpartition("@")
            name = LOCALHOST if name in LOCAL_HOST_NAMES else names.check_name(name, "host name")
            if user:
                validate.user_name(user)
            slots[name] += 1
            users.setdefault(name, user or None)
        if not slots:
            raise UsageError("--hosts is empty: give hosts such as pi@red,pi@red01")
        return [self._run_host(n, slots[n], users[n]) for n in slots]

    def _inventory_hosts(self) -> list[RunHost]:
        usable = [h for h in self.store.hosts() if h.status is not HostStatus.DISABLED]
        if not usable:
            raise NoHosts("no hosts to run on: the inventory has no host that is not disabled")
        return [self._run_host(h.name, h.max_jobs) for h in usable]

    async def _run(
        self,
        runner: Runner,
        handle_signals: bool,
        on_runner: Callable[[Runner], None] | None = None,
    ) -> RunResult:
        from meshq.scheduler.run import stop_on_signals

        if on_runner is not None:
            on_runner(runner)
        if handle_signals:
            # told where the run tells everything: above a progress bar, not through it
            stop_on_signals(runner, runner.reporter.message)
        return await runner.run()


def _runner(
    *args: Any, host_lost_after: float | None, reprobe_every: float | None, **kw: Any
) -> Runner:
    """A :class:`Runner`; the host timings it is given, else its defaults."""
    from meshq.scheduler.engine import HOST_LOST_AFTER, REPROBE_EVERY, Runner

    return Runner(
        *args,
        **kw,
        host_lost_after=HOST_LOST_AFTER if host_lost_after is None else host_lost_after,
        reprobe_every=REPROBE_EVERY if reprobe_every is None else reprobe_every,
    )
