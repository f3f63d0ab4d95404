"""From a host's name to the backend that reaches it.

A host kind is one :class:`~meshq.hosts.backend.HostKind` member and one
entry of :data:`_MAKERS`: nothing else in meshq needs to know it exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meshq.hosts.backend import EventSink, HostBackend, HostKind, LostSink, ignore_event
from meshq.model import LOCAL_HOST_NAMES, LOCALHOST, Host, Identity
from meshq.store.store import Store

if TYPE_CHECKING:
    from meshq.hosts.ssh import SshTransport


@dataclass(frozen=True, slots=True)
class Target:
    """How to reach one host: its name, its kind, and what the inventory
    (or a ``user@host`` entry, or the record of an earlier attempt) says."""

    name: str
    kind: HostKind
    host: Host | None = None
    #: overrides the inventory's and ssh config's user (``user@host``)
    user: str | None = None
    #: overrides the inventory's and ssh config's port
    port: int | None = None


def _local(target: Target, on_event: EventSink, on_lost: LostSink | None) -> HostBackend:
    from meshq.hosts.agent import AgentBackend
    from meshq.hosts.local import LocalTransport

    pyenv = target.host.pyenv if target.host else None
    return AgentBackend(
        LocalTransport(target.name), on_event, on_lost, local=True, default_pyenv=pyenv
    )


def _ssh_transport(target: Target) -> SshTransport:
    """The SSH connection to ``target`` (an SSH host, or a cluster's login
    node), as the inventory and a ``user@host`` entry say."""
    # imported here: asyncssh is heavy, and only SSH hosts need it
    from meshq.hosts.ssh import SshTransport

    host = target.host
    return SshTransport(
        target.name,
        address=host.address if host else None,
        user=target.user or (host.user if host else None),
        port=target.port or (host.port if host else None),
        check_host_key=host.check_host_key if host else True,
    )


def _ssh(target: Target, on_event: EventSink, on_lost: LostSink | None) -> HostBackend:
    from meshq.hosts.agent import AgentBackend

    pyenv = target.host.pyenv if target.host else None
    return AgentBackend(_ssh_transport(target), on_event, on_lost, local=False, default_pyenv=pyenv)


def reached_as(host: Host) -> Identity | None:
    """The address, user and port a connection to ``host`` uses, as the ssh
    config resolves what the inventory leaves out (no connection is made);
    ``None`` for a host that is this machine (``localhost``, a cluster
    whose login node is this machine)."""
    if host.kind is HostKind.LOCAL or host.name in LOCAL_HOST_NAMES:
        return None
    if host.kind is HostKind.SLURM and host.address is None:
        return None
    return _ssh_transport(Target(host.name, host.kind, host)).resolve()


def _slurm(target: Target, on_event: EventSink, on_lost: LostSink | None) -> HostBackend:
    from meshq.hosts.base import Transport
    from meshq.hosts.slurm import SlurmBackend
    from meshq.hosts.slurmtext import ClusterSettings

    host = target.host
    assert host is not None, "a Slurm cluster is always in the inventory"
    transport: Transport
    if host.address is None:  # --login=local: this machine is the login node
        from meshq.hosts.local import LocalTransport

        transport = LocalTransport(target.name)
    else:
        transport = _ssh_transport(target)
    settings = ClusterSettings(
        partition=host.option("partition"),
        account=host.option("account"),
        qos=host.option("qos"),
        extra=host.options_of("sbatch"),
    )
    return SlurmBackend(
        target.name,
        transport,
        on_event,
        on_lost,
        settings=settings,
        local=host.address is None,
        default_pyenv=host.pyenv,
    )


_MAKERS: dict[HostKind, Callable[[Target, EventSink, LostSink | None], HostBackend]] = {
    HostKind.LOCAL: _local,
    HostKind.SSH: _ssh,
    HostKind.SLURM: _slurm,
}


def target(store: Store, name: str, *, user: str | None = None, port: int | None = None) -> Target:
    """How to reach host ``name``: ``localhost`` (or ``local``) is this
    machine and needs no set-up; a host of the inventory is reached as
    added there; any other name is taken as ``ssh NAME`` would take it
    (``~/.ssh/config``, then DNS)."""
    if name in LOCAL_HOST_NAMES:
        return Target(LOCALHOST, HostKind.LOCAL, store.find_host(LOCALHOST))
    host = store.find_host(name)
    kind = host.kind if host is not None else HostKind.SSH
    return Target(name, kind, host, user, port)


def make_backend(
    where: Target, on_event: EventSink | None = None, on_lost: LostSink | None = None
) -> HostBackend:
    """A new, not yet started backend for ``where``."""
    return _MAKERS[where.kind](where, on_event or ignore_event, on_lost)
