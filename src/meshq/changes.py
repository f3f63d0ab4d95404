"""Changing jobs and hosts in place (``meshq queue set --name``, ``meshq
hosts set``): the part of :class:`meshq.service.Service` that edits what exists
instead of adding or deleting. Values are checked by the same functions
``queue add`` and ``hosts add`` use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from meshq import names, validate
from meshq.errors import UsageError
from meshq.model import ACTIVE, Host, Status
from meshq.servicepart import ServicePart
from meshq.store.store import Change


class Changes(ServicePart):
    """In-place changes; mixed into :class:`meshq.service.Service`."""

    def set_host(self, name: str, **fields: Any) -> Host:
        """Change a host's settings (those of :func:`meshq.validate.host`
        given; an empty string clears one); it keeps its status."""
        old = self.store.host(name)
        current: dict[str, Any] = {
            "ip": old.address,
            "user": old.user,
            "port": old.port,
            "max_jobs": old.max_jobs,
            "cpus": old.cpus,
            "gpus": ",".join(old.gpus) or None,
            "pyenv": old.pyenv,
            "check_host_key": old.check_host_key,
        }
        given = {k: v for k, v in fields.items() if v is not None}
        if not given:
            raise UsageError(f"nothing to set on host {name}: give an option such as --gpus=4")
        current.update({k: (None if v == "" else v) for k, v in given.items()})
        host = validate.host(old.name, **current)
        self.store.replace_host(host)
        return self.store.host(name)

    def set_jobs(
        self,
        queue: str,
        name: str | None = None,
        status: str | Iterable[Status | str] | None = None,
        **fields: str | None,
    ) -> list[str]:
        """Change fields of the selected jobs (:meth:`select`) that wait or
        have finished, all in one guarded update; returns their names.

        ``fields`` are :func:`meshq.validate.job_spec`'s (command, host,
        directory, timeout, retries, gpu, gpus, …), checked as ``add``
        checks them. A job that runs is refused: nothing is changed. Giving
        a host pins the jobs to it, and a job without one (``undefined``)
        becomes ``ready``; ``gpu`` and ``gpus`` replace each other.
        """
        given = {k: v for k, v in fields.items() if v is not None}
        if not given:
            raise UsageError("nothing to set: give a field such as --command or --timeout")
        jobs = self.select(queue, name, status, acting=True)
        running = [j for j in jobs if j.status in ACTIVE]
        if running:
            shown = names.collapse([j.name for j in running])
            raise UsageError(
                f"{shown} of queue {queue!r} is running: a running job cannot be changed "
                f"(kill it first, or wait until it ends); nothing was changed"
            )
        hosts = {j.host for j in jobs}
        spec, _ = validate.job_spec(
            command_text=given.get("command") or "true",
            # a relative --directory is read as add reads it for that host
            host=given.get("host") or (hosts.pop() if len(hosts) == 1 else None),
            # only the fields given are set: no default directory is needed
            in_job_folder=True,
            **{k: v for k, v in given.items() if k not in ("command", "host")},
        )
        values: dict[str, object] = {k: getattr(spec, k) for k in given}
        if "gpu" in given:
            values["gpus"] = None
        if "gpus" in given:
            values["gpu"] = None
        if "host" in given:
            values["placed"] = 0  # the user's pin, kept by a reset
        self.store.set_job_fields(jobs, values)
        if "host" in given:
            undefined = [j for j in jobs if j.status is Status.UNDEFINED]
            self.store.apply([Change(j.id, Status.READY, {}, "host set") for j in undefined])
        return [j.name for j in jobs]
