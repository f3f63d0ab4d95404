"""Placing jobs on hosts: slots, GPU counts and ids, and the policy."""

from __future__ import annotations

import random

from meshq.model import Job
from meshq.scheduler.placement import Fit, HostState, fit, held_gpus, place, why_never
from meshq.scheduler.policies import frugal, sequential, smart
from tests.support.jobs import make_job


def job(gpus: int | None = None, gpu: str | None = None) -> Job:
    return make_job(gpu=gpu, gpus=gpus)


def test_a_plain_job_needs_only_a_slot() -> None:
    host = HostState("a", slots=1)
    assert fit(job(), host) == (Fit.NOW, None)
    host.take(None)
    assert fit(job(), host) == (Fit.LATER, None)
    host.give_back(None)
    assert fit(job(), host) == (Fit.NOW, None)


def test_gpu_counts_take_the_lowest_free_ids_and_never_share_one() -> None:
    host = HostState("a", slots=4, gpus=("0", "1", "2", "3"))
    verdict, ids = fit(job(gpus=2), host)
    assert (verdict, ids) == (Fit.NOW, "0,1")
    host.take(ids)
    assert fit(job(gpus=2), host) == (Fit.NOW, "2,3")
    host.take("2,3")
    assert fit(job(gpus=1), host) == (Fit.LATER, None)
    host.give_back("0,1")
    assert fit(job(gpus=1), host) == (Fit.NOW, "0")


def test_more_gpus_than_a_host_has_never_fit() -> None:
    assert fit(job(gpus=3), HostState("a", 4, ("0", "1")))[0] is Fit.NEVER
    assert fit(job(gpus=1), HostState("a", 4))[0] is Fit.NEVER


def test_explicit_ids_are_shared_as_the_seed_means_them() -> None:
    host = HostState("a", 4, ("0", "1"))
    assert fit(job(gpu="1"), host) == (Fit.NOW, "1")
    host.take(held_gpus(job(gpu="1"), "1"))
    # --gpu=IDS only sets CUDA_VISIBLE_DEVICES: a second job may use id 1 too
    assert fit(job(gpu="1"), host) == (Fit.NOW, "1")
    assert fit(job(gpu="7"), host)[0] is Fit.NEVER
    # a host that declares no GPUs gets the ids as given: the user knows it
    assert fit(job(gpu="7"), HostState("b", 1)) == (Fit.NOW, "7")


def test_counted_gpus_are_held_alone() -> None:
    host = HostState("a", 4, ("0", "1"))
    counted = job(gpus=1)
    assert fit(counted, host) == (Fit.NOW, "0")
    host.take(held_gpus(counted, "0"))
    assert fit(counted, host) == (Fit.NOW, "1")
    host.take(held_gpus(counted, "1"))
    assert fit(counted, host) == (Fit.LATER, None)


def test_place_uses_the_policy_among_hosts_that_fit() -> None:
    hosts = [HostState("a", 1), HostState("b", 3, ("0",)), HostState("c", 2)]
    rng = random.Random(0)
    assert place(job(), hosts, sequential, rng)[1].name == "a"  # type: ignore[union-attr]
    assert place(job(), hosts, smart, rng)[1].name == "b"  # type: ignore[union-attr]
    assert place(job(), hosts, frugal, rng)[1].name == "a"  # type: ignore[union-attr]
    verdict, host, ids = place(job(gpus=1), hosts, sequential, rng)
    assert (verdict, host.name if host else None, ids) == (Fit.NOW, "b", "0")


def test_place_skips_unusable_hosts_and_says_later_or_never() -> None:
    hosts = [HostState("a", 1, usable=False), HostState("b", 1, ("0",))]
    assert place(job(), hosts, sequential, random.Random())[1].name == "b"  # type: ignore[union-attr]
    hosts[1].take(None)
    assert place(job(), hosts, sequential, random.Random())[0] is Fit.LATER
    assert place(job(gpus=2), hosts, sequential, random.Random())[0] is Fit.NEVER
    assert "no host of this run has more than 1" in why_never(job(gpus=2), hosts)


def test_a_cluster_gives_out_gpus_itself() -> None:
    cluster = HostState("hpc", slots=2, cluster=True)
    assert fit(job(gpus=8), cluster) == (Fit.NOW, None)  # Slurm finds them (or refuses)
    assert fit(job(gpu="0,1"), cluster) == (Fit.NOW, "0,1")  # named ids: what the job sees
    cluster.take(None)
    cluster.take(None)
    assert fit(job(gpus=1), cluster) == (Fit.LATER, None)  # its slots still count
