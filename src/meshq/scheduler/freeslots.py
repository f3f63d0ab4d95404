"""The hosts with a free slot, kept in the order a policy picks them, so
that placing a job costs O(log hosts) instead of a look at every host.

:func:`meshq.scheduler.placement.place` asks the policy about every host
that fits a job: with 1,000 hosts that is 1,000 ``fit`` calls a job, and
it was 95% of a run's CPU (``bench/RESULTS.md``). For a job that needs
nothing but a slot (no GPUs, no pin, no host to avoid) the host the policy
picks depends only on each host's free slots and its place in the
inventory, so :class:`FreeSlots` keeps those hosts in a heap ordered as the
policy ranks them and gives the same host the policy would:

- ``sequential``: the first host in inventory order;
- ``smart``: the most free slots (``slots - used``), the first of equals;
- ``frugal``: the fewest free slots, but one, the first of equals;
- ``random``: any, uniformly, from a list of the hosts with a free slot.

The heap is lazy: a host whose load changed is pushed again
(:meth:`FreeSlots.touch`) and an entry that no longer matches its host is
dropped when it comes to the top. Any other policy is not indexed
(:attr:`FreeSlots.indexed` is false) and jobs go through ``place``.
"""

from __future__ import annotations

import bisect
import heapq
import random
from collections.abc import Callable, Sequence

from meshq.scheduler.placement import HostState
from meshq.scheduler.policies import Policy, frugal, random_host, sequential, smart

#: a host's rank for a policy (smaller first), from its state and position
Rank = Callable[[HostState, int], tuple[int, int]]

_RANKS: dict[Policy, Rank] = {
    sequential: lambda h, pos: (pos, 0),
    # as policies.HostLoad counts it: slots less this run's own, not others'
    smart: lambda h, pos: (-(h.slots - h.used), pos),
    frugal: lambda h, pos: (h.slots - h.used, pos),
}


def _open(host: HostState) -> bool:
    return host.usable and host.free > 0


class FreeSlots:
    """The usable hosts with a free slot, in ``policy``'s order."""

    def __init__(self, hosts: Sequence[HostState], policy: Policy, rng: random.Random) -> None:
        self._hosts = list(hosts)
        self._pos = {h.name: i for i, h in enumerate(self._hosts)}
        self._rank = _RANKS.get(policy)
        self._random = policy is random_host
        self._rng = rng
        #: (rank, pos) entries; an entry is current when its rank is its host's
        self._heap: list[tuple[tuple[int, int], int]] = []
        #: random: positions of the open hosts, in inventory order
        self._open: list[int] = []
        self.rebuild()

    @property
    def indexed(self) -> bool:
        """Whether this policy is served by the index (else use ``place``)."""
        return self._rank is not None or self._random

    def rebuild(self) -> None:
        """Index every host again from its state (a safety net, and cheap:
        O(hosts), done once a second by the run)."""
        self._heap = []
        self._open = []
        for host in self._hosts:
            self.touch(host)

    def touch(self, host: HostState) -> None:
        """``host``'s load, GPUs, others' use or usability changed."""
        pos = self._pos.get(host.name)
        if pos is None:
            return
        if self._random:
            self._toggle(pos, _open(host))
        elif self._rank is not None and _open(host):
            heapq.heappush(self._heap, (self._rank(host, pos), pos))
            if len(self._heap) > 4 * len(self._hosts) + 64:
                self._compact()

    def _toggle(self, pos: int, is_open: bool) -> None:
        # kept sorted by inventory position (bisect: a memmove, cheap for
        # thousands of hosts), so a seeded random policy picks the same host
        # from the same open hosts, whatever order they opened in
        at = bisect.bisect_left(self._open, pos)
        present = at < len(self._open) and self._open[at] == pos
        if is_open and not present:
            self._open.insert(at, pos)
        elif not is_open and present:
            del self._open[at]

    def _compact(self) -> None:
        rank = self._rank
        assert rank is not None
        current = {
            (rank(self._hosts[pos], pos), pos) for _, pos in self._heap if _open(self._hosts[pos])
        }
        self._heap = list(current)
        heapq.heapify(self._heap)

    def best(self) -> HostState | None:
        """The host the policy picks for a job that needs only a slot, or
        None when no usable host has one. Does not take the slot."""
        if self._random:
            while self._open:
                pos = self._open[self._rng.randrange(len(self._open))]
                if _open(self._hosts[pos]):
                    return self._hosts[pos]
                self._toggle(pos, False)  # a change nobody touched: drop it
            return None
        rank = self._rank
        assert rank is not None
        heap = self._heap
        while heap:
            key, pos = heap[0]
            host = self._hosts[pos]
            if _open(host) and rank(host, pos) == key:
                return host
            heapq.heappop(heap)
        return None
