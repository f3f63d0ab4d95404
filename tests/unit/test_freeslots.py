"""The free-slot index picks the host the policy picks, as loads change."""

from __future__ import annotations

import random

import pytest

from meshq.model import Job, Status
from meshq.scheduler.freeslots import FreeSlots
from meshq.scheduler.placement import Fit, HostState, place
from meshq.scheduler.policies import POLICIES, Policy
from tests.support.jobs import make_job


def _job() -> Job:
    return make_job(experiment="/e", status=Status.UNDEFINED)


@pytest.mark.parametrize("name", ["sequential", "smart", "frugal"])
def test_the_index_picks_what_the_policy_picks(name: str) -> None:
    policy: Policy = POLICIES[name]
    rng = random.Random(7)
    hosts = [HostState(f"h{i}", slots=rng.randint(1, 6)) for i in range(40)]
    index = FreeSlots(hosts, policy, random.Random(1))
    job = _job()
    for _ in range(3000):
        verdict, expected, _ = place(job, hosts, policy, random.Random(1))
        got = index.best()
        if verdict is Fit.NOW:
            assert got is expected
        else:
            assert got is None
        host = rng.choice(hosts)
        change = rng.random()
        if change < 0.45 and host.free > 0:
            host.take(None)
        elif change < 0.9:
            host.give_back(None)
        elif change < 0.95:
            host.usable = not host.usable
        else:
            host.others = rng.randint(0, 2)
        index.touch(host)


def test_random_picks_only_open_hosts_and_the_same_for_a_seed() -> None:
    hosts = [HostState(f"h{i}", slots=1) for i in range(10)]
    for h in hosts[::2]:
        h.take(None)

    def picks(seed: int) -> list[str]:
        index = FreeSlots(hosts, POLICIES["random"], random.Random(seed))
        out = []
        for _ in range(20):
            best = index.best()
            assert best is not None
            out.append(best.name)
        return out

    assert set(picks(1)) <= {h.name for h in hosts[1::2]}
    assert picks(1) == picks(1)


def test_a_policy_it_does_not_know_is_not_indexed() -> None:
    index = FreeSlots([HostState("a", 1)], lambda hosts, rng: None, random.Random())
    assert not index.indexed
