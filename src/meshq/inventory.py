"""The host inventory (``meshq hosts``): add, list, enable or disable,
delete and probe the hosts jobs run on. The part of
:class:`meshq.service.Service` for hosts as such; changing a host's
settings is in :class:`meshq.changes.Changes`. Only :meth:`Inventory.probe`
talks to the hosts."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from meshq import names, validate
from meshq.errors import HostError
from meshq.model import Host, HostStatus, Identity

if TYPE_CHECKING:
    from meshq.store.store import Store


class Inventory:
    """The hosts of the inventory; mixed into :class:`meshq.service.Service`."""

    store: Store

    def add_hosts(self, name: str, **fields: Any) -> list[Host]:
        """Add the hosts the pattern ``name`` expands to (``red,red0[1-3]``);
        ``fields`` are those of :func:`meshq.validate.host_fields`."""
        hosts = [validate.host(e.name, **fields) for e in names.expand(name, what="host name")]
        self.store.add_hosts(hosts)
        return hosts

    def hosts(self) -> list[Host]:
        return self.store.hosts()

    def reached_as(self, host: Host) -> Identity | None:
        """The address, user and port a connection to ``host`` uses: what
        the inventory says, the rest as the ssh config (``~/.ssh/config``,
        or ``MESHQ_SSH_CONFIG``) resolves it; ``None`` for this machine.
        No connection is made."""
        from meshq.hosts.registry import reached_as

        return reached_as(host)

    def host_usage(self) -> tuple[Counter[str], dict[str, set[str]]]:
        """Running jobs per host and the GPU ids they hold, over all queues."""
        return self.store.host_usage()

    def set_host_enabled(self, name: str, enabled: bool) -> Host:
        """Let the scheduler use a host again, or stop it from doing so."""
        self.store.host(name)
        status = HostStatus.ACTIVE if enabled else HostStatus.DISABLED
        self.store.set_host_status(name, status)
        return self.store.host(name)

    def delete_host(self, name: str) -> None:
        self.store.delete_host(name)

    async def probe(self, name: str | None = None) -> list[tuple[Host, str | None]]:
        """Try each host (or one): start its agent and stop it again. Records
        the outcome (active, or down with the error) unless it is disabled."""
        import asyncio

        from meshq.hosts.registry import make_backend, target

        targets = [self.store.host(name)] if name else self.store.hosts()
        out: list[tuple[Host, str | None]] = []

        async def one(host: Host) -> tuple[Host, str | None]:
            backend = make_backend(target(self.store, host.name))
            error: str | None = None
            try:
                await backend.start()
            except HostError as err:
                error = err.detail
            finally:
                await backend.close()
            if error is None and backend.info != host.info:
                self.store.set_host_info(host.name, backend.info)
            if host.status is not HostStatus.DISABLED:
                status = HostStatus.DOWN if error else HostStatus.ACTIVE
                self.store.set_host_status(host.name, status, error, probed=True)
            return self.store.host(host.name), error

        out = list(await asyncio.gather(*(one(h) for h in targets)))
        return out
