"""Finding the transport for a host name."""

from __future__ import annotations

from meshq.errors import UsageError
from meshq.hosts.base import Transport
from meshq.hosts.local import LocalTransport
from meshq.model import LOCAL_HOST_NAMES, LOCALHOST
from meshq.store.store import Store


def transport_for(store: Store, name: str) -> Transport:
    """The transport that reaches host ``name``.

    ``localhost`` (or ``local``) is this machine and needs no set-up.
    """
    if name in LOCAL_HOST_NAMES:
        return LocalTransport(LOCALHOST)
    raise UsageError(
        f"unknown host {name!r}: this meshq runs jobs on localhost only; use --host=localhost"
    )
