"""Finding the transport for a host name."""

from __future__ import annotations

from meshq.hosts.base import Transport
from meshq.hosts.local import LocalTransport
from meshq.model import LOCAL_HOST_NAMES, LOCALHOST, Host
from meshq.store.store import Store


def transport_for(store: Store, name: str, user: str | None = None) -> Transport:
    """The transport that reaches host ``name``.

    ``localhost`` (or ``local``) is this machine and needs no set-up. A host
    of the inventory is reached as added there; any other name is taken as
    ``ssh NAME`` would take it (``~/.ssh/config``, then DNS). ``user``
    overrides the user (the ``user@host`` form of ``--hosts``).
    """
    if name in LOCAL_HOST_NAMES:
        return LocalTransport(LOCALHOST)
    host = store.find_host(name)
    if host is not None and host.kind == "local":
        return LocalTransport(host.name)
    return ssh_transport(name, host, user)


def ssh_transport(name: str, host: Host | None, user: str | None = None) -> Transport:
    # imported here: asyncssh is heavy, and only SSH hosts need it
    from meshq.hosts.ssh import SshTransport

    if host is None:
        return SshTransport(name, user=user)
    return SshTransport(
        name,
        address=host.address,
        user=user or host.user,
        port=host.port,
        check_host_key=host.check_host_key,
    )
