"""What each part of :class:`meshq.service.Service` may use of the whole.

The service is one class built from mixins, one module per resource
(:mod:`meshq.inventory`, :mod:`meshq.runs`, :mod:`meshq.control`, …). A
part calls methods that :class:`~meshq.service.Service` itself defines; this
base declares them once, for the type checker only: at run time it holds
no method, so it changes nothing of how a call is resolved."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meshq import paths
    from meshq.hosts.registry import Target
    from meshq.model import Job, Status
    from meshq.store.store import Store


class ServicePart:
    """The base of every mixin of :class:`meshq.service.Service` that uses
    the service's own methods."""

    store: Store
    warn: Callable[[str], None]

    if TYPE_CHECKING:
        # Service's: how every command picks and finds jobs, where their
        # files are, and how to reach their hosts

        def select(
            self,
            queue: str,
            name: str | None = None,
            status: str | Iterable[Status | str] | None = None,
            *,
            acting: bool = False,
        ) -> list[Job]: ...
        def job(self, queue: str, name: str) -> Job: ...
        def files(self, job: Job) -> paths.JobPaths | None: ...
        def _is_local(self, host: str) -> bool: ...
        def _target_for(self, job: Job) -> Target: ...
