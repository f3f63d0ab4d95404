"""The four host policies of fifo_multi, as pure functions."""

from __future__ import annotations

import random

import pytest

from meshq.errors import UsageError
from meshq.scheduler.policies import HostLoad, policy_named

HOSTS = [HostLoad("a", 2, 2), HostLoad("b", 4, 1), HostLoad("c", 3, 1), HostLoad("d", 8, 2)]


def choose(name: str, hosts: list[HostLoad] = HOSTS, seed: int = 0) -> str | None:
    chosen = policy_named(name)(hosts, random.Random(seed))
    return chosen.name if chosen else None


def test_sequential_takes_the_first_with_a_free_slot() -> None:
    assert choose("sequential") == "b"


def test_smart_takes_the_most_free_slots() -> None:
    assert choose("smart") == "d"


def test_frugal_takes_the_fewest_free_slots_but_one() -> None:
    assert choose("frugal") == "c"


def test_random_only_picks_free_hosts_and_reaches_each() -> None:
    seen = {choose("random", seed=s) for s in range(200)}
    assert seen == {"b", "c", "d"}


@pytest.mark.parametrize("name", ["sequential", "random", "smart", "frugal"])
def test_no_free_host_gives_none(name: str) -> None:
    assert choose(name, [HostLoad("a", 1, 1), HostLoad("b", 2, 5)]) is None


def test_unknown_policy() -> None:
    with pytest.raises(UsageError, match="use one of sequential, random, smart, frugal"):
        policy_named("greedy")
