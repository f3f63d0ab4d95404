"""Which free host ``fifo_multi`` gives the next job: pure functions of the
hosts' loads, testable without a store or a host."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from meshq.errors import UsageError


@dataclass(frozen=True, slots=True)
class HostLoad:
    """A host as a policy sees it: its slots and how many are taken."""

    name: str
    capacity: int
    used: int

    @property
    def free(self) -> int:
        return max(self.capacity - self.used, 0)


Policy = Callable[[Sequence[HostLoad], random.Random], HostLoad | None]


def sequential(hosts: Sequence[HostLoad], rng: random.Random) -> HostLoad | None:
    """The first host (in inventory order) with a free slot."""
    return next((h for h in hosts if h.free > 0), None)


def random_host(hosts: Sequence[HostLoad], rng: random.Random) -> HostLoad | None:
    """Any host with a free slot, chosen at random."""
    free = [h for h in hosts if h.free > 0]
    return rng.choice(free) if free else None


def smart(hosts: Sequence[HostLoad], rng: random.Random) -> HostLoad | None:
    """The host with the most free slots (the first of equals): spreads load."""
    free = [h for h in hosts if h.free > 0]
    return max(free, key=lambda h: h.free) if free else None


def frugal(hosts: Sequence[HostLoad], rng: random.Random) -> HostLoad | None:
    """The host with the fewest free slots, but at least one: packs hosts."""
    free = [h for h in hosts if h.free > 0]
    return min(free, key=lambda h: h.free) if free else None


POLICIES: dict[str, Policy] = {
    "sequential": sequential,
    "random": random_host,
    "smart": smart,
    "frugal": frugal,
}


def policy_named(name: str) -> Policy:
    """The policy called ``name``; a :class:`UsageError` listing them otherwise."""
    try:
        return POLICIES[name.strip().lower()]
    except KeyError:
        raise UsageError(f"unknown policy {name!r}: use one of {', '.join(POLICIES)}") from None
