"""Where a job can run: slots, GPUs, and the policy among the hosts that
fit. Pure functions over :class:`HostState`, testable without a host."""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from meshq.model import Job
from meshq.scheduler.policies import HostLoad, Policy


class Fit(enum.Enum):
    """Whether a job fits a host."""

    #: now, on a free slot (and free GPUs)
    NOW = "now"
    #: once slots or GPUs free up
    LATER = "later"
    #: not on this host, ever (it has too few GPUs, or not those ids)
    NEVER = "never"


@dataclass(slots=True)
class HostState:
    """A host as placement sees it during one run."""

    name: str
    slots: int
    #: the host's declared GPU ids (empty: none declared)
    gpus: tuple[str, ...] = ()
    used: int = 0
    gpus_used: set[str] = field(default_factory=set)
    #: reachable and enabled
    usable: bool = True
    #: slots and GPU ids that other runs hold on this host right now
    others: int = 0
    gpus_others: set[str] = field(default_factory=set)
    #: a cluster that gives out GPUs itself (HostKind.cluster): any
    #: --gpus=N fits, and meshq holds no ids there
    cluster: bool = False

    @property
    def free(self) -> int:
        return self.slots - self.used - self.others

    @property
    def gpus_busy(self) -> set[str]:
        return self.gpus_used | self.gpus_others

    def take(self, gpu: str | None) -> None:
        self.used += 1
        if gpu:
            self.gpus_used.update(gpu.split(","))

    def give_back(self, gpu: str | None) -> None:
        self.used = max(self.used - 1, 0)
        if gpu:
            self.gpus_used.difference_update(gpu.split(","))


def fit(job: Job, host: HostState) -> tuple[Fit, str | None]:
    """Whether ``job`` fits ``host``, and the GPU ids it would get there.

    ``--gpus=N`` takes the N lowest free ids of the host's declared GPUs,
    which no other job holds meanwhile; on a host that declares none it never
    fits. ``--gpu=IDS`` only names what the job sees in
    ``CUDA_VISIBLE_DEVICES``, as the seed means it: several jobs may share an
    id, and a host that declares GPUs must have those ids.
    """
    if host.cluster:
        # the cluster's scheduler finds the GPUs (or refuses the job, which
        # then fails to start with its message)
        return (Fit.LATER, None) if host.free < 1 else (Fit.NOW, None if job.gpus else job.gpu)
    if job.gpus:
        if len(host.gpus) < job.gpus:
            return Fit.NEVER, None
        busy = host.gpus_busy
        free = [g for g in host.gpus if g not in busy]
        if host.free < 1 or len(free) < job.gpus:
            return Fit.LATER, None
        return Fit.NOW, ",".join(free[: job.gpus])
    if job.gpu and host.gpus and not set(job.gpu.split(",")) <= set(host.gpus):
        return Fit.NEVER, None
    if host.free < 1:
        return Fit.LATER, None
    return Fit.NOW, job.gpu


def held_gpus(job: Job, gpu: str | None) -> str | None:
    """The GPU ids ``job`` holds for itself alone while it runs with ``gpu``:
    those it was given for ``--gpus=N``; none for ``--gpu=IDS``."""
    return gpu if job.gpus else None


def why_never(job: Job, hosts: Sequence[HostState]) -> str:
    """Why ``job`` fits none of ``hosts``, in words."""
    if job.gpus:
        most = max((len(h.gpus) for h in hosts), default=0)
        return f"it asks for {job.gpus} GPU(s), and no host of this run has more than {most}"
    return f"no host of this run has GPU(s) {job.gpu}"


def place(
    job: Job, hosts: Sequence[HostState], policy: Policy, rng: random.Random
) -> tuple[Fit, HostState | None, str | None]:
    """Choose a host for ``job`` among ``hosts`` with ``policy``.

    Returns ``(NOW, host, gpu_ids)``, or ``(LATER, None, None)`` when no usable
    host fits it yet, or ``(NEVER, None, None)`` when no host ever could.
    """
    fits: dict[str, tuple[HostState, str | None]] = {}
    never = True
    for host in hosts:
        verdict, gpu = fit(job, host)
        if verdict is not Fit.NEVER:
            never = False
        if verdict is Fit.NOW and host.usable:
            fits[host.name] = (host, gpu)
    if not fits:
        return (Fit.NEVER if never else Fit.LATER), None, None
    chosen = policy([HostLoad(h.name, h.slots, h.used) for h, _ in fits.values()], rng)
    if chosen is None:
        return Fit.LATER, None, None
    host, gpu = fits[chosen.name]
    return Fit.NOW, host, gpu
