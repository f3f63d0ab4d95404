"""The older seed's current jobset, on top of meshq's queues.

A jobset is a YAML file (see :mod:`meshq.cloudmesh.jobset`) and a meshq
queue named after it (``spec.yaml`` is queue ``spec``). **The store is the
source of truth**: the file is read once, when it becomes the current
jobset and meshq has no queue for it yet; from then on every ``job``
command that changes something writes the file anew from the store (jobs
with their states in the seed's words, the inventory as its hosts, the
queue's policy), so ``less spec.yaml`` shows what meshq knows.

A file edited by hand after meshq wrote it is never overwritten, nor
silently ignored: meshq remembers a digest of what it wrote, and a command
that would write the file refuses (one line, saying how to keep either
side); one that only reads warns.
"""

from __future__ import annotations

import getpass
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshq import names, validate
from meshq.cloudmesh import files, perjob, states
from meshq.errors import NotFound, UsageError, shown, shown_path
from meshq.interop import policy_checked, write_file
from meshq.model import LOCALHOST, WAITING, Host, HostStatus, Queue
from meshq.store.extras import NewJob

if TYPE_CHECKING:
    from meshq.interop import ExportFormat, Imported
    from meshq.store.store import Store

#: the store setting that holds the current jobset's path
SETTING = "jobset"
#: the seed's defaults of ``job add`` that meshq applies (see the README)
DEFAULT_EXECUTABLE = "uname"
DEFAULT_ARGUMENTS = "-a"
DEFAULT_IP = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Jobset:
    """The current jobset: its file, its queue, and whether it is the
    default one (no jobset was set)."""

    path: str
    queue: Queue
    default: bool


def digest(path: str) -> str | None:
    """The SHA-256 of the file at ``path`` (``None`` when there is none)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise UsageError(f"cannot read the jobset {shown_path(path)}: {err.strerror}") from None


class Jobsets:
    """The ``job`` commands' operations (a part of :class:`meshq.service.Service`)."""

    store: Store
    warn: Callable[[str], None]

    # provided by Interop, beside which this class is mixed in
    import_file: Callable[..., Imported]
    export_queue: Callable[[str, ExportFormat], str]
    resolve_ip: Callable[..., str]
    _new_hosts: Callable[..., list[tuple[Host, dict[str, Any]]]]
    _new_jobs: Callable[..., list[NewJob]]
    add_seed_file: Callable[..., list[str]]

    # -- which jobset ---------------------------------------------------------

    def default_jobset_path(self) -> str:
        """Where the jobset is when none was set: ``spec.yaml`` beside the store."""
        return str(Path(self.store.path).parent / "spec.yaml")

    def jobset_setting(self) -> str | None:
        """The current jobset's path as set (``None``: none was set)."""
        return self.store.setting(SETTING)

    def use_jobset(self, path: str, *, experiment: str | None = None) -> Jobset:
        """Make the file at ``path`` the current jobset (``job set FILE``,
        ``set jobset=FILE``). A file meshq has no queue for is imported (or,
        missing, created empty); the queue it had stays the truth."""
        full = os.path.abspath(os.path.expanduser(path))
        queue = self._bind(full, experiment)
        self.store.set_setting(SETTING, full)
        self.write_jobset(queue)
        return Jobset(full, self.store.queue(queue.name), default=False)

    def jobset(self, *, writing: bool = False) -> Jobset:
        """The current jobset (the default one if none was set, made on first
        use). ``writing``: the command will write the file, so a file edited
        since meshq wrote it is refused here, before anything changes; else
        it is only warned about."""
        set_to = self.jobset_setting()
        path = set_to or self.default_jobset_path()
        queue = self._bind(path, None, quiet=True)
        bound = self.store.queue_extra(queue).get("jobset", {})
        written = bound.get("digest")
        now = digest(path)
        if written is not None and now is not None and now != written:
            message = (
                f"the jobset {shown_path(path)} was changed outside meshq since meshq wrote "
                f"it; the store (queue {queue.name}) is the truth. Keep the store's: "
                f"'meshq queue export {queue.name} --format=jobset --file={shown_path(path)}'; "
                f"load the file's: 'meshq queue delete {queue.name}' then "
                f"'meshq job set {shown_path(path)}'"
            )
            if writing:
                raise UsageError(message)
            self.warn(message)
        return Jobset(path, queue, default=set_to is None)

    def _bind(self, path: str, experiment: str | None, *, quiet: bool = False) -> Queue:
        """The queue of the jobset file ``path``: the one bound to it, else a
        new one named after the file (imported from it, when it exists)."""
        qname = files.stem(path)
        try:
            names.check_name(qname, "jobset name")
        except UsageError:
            raise UsageError(
                f"the jobset {shown_path(path)} names the queue {shown(qname)} (its file name "
                "up to the first dot), which is not a valid name: rename the file, e.g. "
                "spec.yaml"
            ) from None
        try:
            queue = self.store.queue(qname)
        except NotFound:
            queue = None
        if queue is not None:
            bound = self.store.queue_extra(queue).get("jobset", {}).get("file")
            if bound == path:
                return queue
            if bound is not None:
                raise UsageError(
                    f"queue {qname} is the jobset {shown_path(bound)} already: give "
                    f"{shown_path(path)} another file name"
                )
            if Path(path).exists():
                raise UsageError(
                    f"queue {qname} exists and is not the jobset {shown_path(path)}: rename "
                    f"the file, or import it under another name with 'meshq queue import "
                    f"{shown_path(path)} --name=NAME'"
                )
            self._mark(queue, path, None)
            return queue
        if Path(path).exists():
            done = self.import_file(
                path, name=qname, experiment=experiment, kinds=("jobset", "jobs")
            )
            assert done.queue is not None  # a jobset or jobs: a queue was made
            queue = done.queue
            if not quiet:
                self.warn(
                    f"imported {shown_path(path)} as queue {qname}: {len(done.jobs)} job(s), "
                    f"{len(done.hosts)} new host(s)"
                )
        else:
            folder = experiment or str(Path(path).parent / "experiment")
            queue = self.store.create_queue(qname, validate.experiment_path(folder))
        self._mark(queue, path, None)
        return queue

    def _mark(self, queue: Queue, path: str, written: str | None) -> None:
        extra = self.store.queue_extra(queue)
        extra["jobset"] = {"file": path, "digest": written}
        self.store.set_queue_extra(queue, extra)

    def write_jobset(self, queue: Queue | None = None) -> str:
        """Write the jobset file anew from the store; its path."""
        if queue is None:
            queue = self.jobset(writing=True).queue
        path = self.store.queue_extra(queue).get("jobset", {}).get("file")
        if path is None:
            raise UsageError(f"queue {queue.name} is no jobset: see 'meshq job info'")
        target = str(path)

        def produce() -> tuple[str, dict[str, Any]]:
            text = self.export_queue(queue.name, "jobset")
            write_file(target, text)
            return target, {"digest": hashlib.sha256(text.encode("utf-8")).hexdigest()}

        # under the store's write lock: another meshq writing the file at the
        # same moment cannot leave a digest of the other's text
        self.store.write_beside(queue, "jobset", produce)
        return target

    def note_export(self, queue: str, path: str) -> None:
        """``queue export`` wrote ``path``: when that is the queue's jobset
        file, remember it as meshq's own writing."""
        q = self.store.queue(queue)
        if self.store.queue_extra(q).get("jobset", {}).get("file") == os.path.abspath(path):
            self._mark(q, os.path.abspath(path), digest(path))

    # -- changing the jobset --------------------------------------------------

    def jobset_template(self, path: str | None = None, name: str | None = None) -> list[str]:
        """``job template [FILE] [--name=NAMES]``: make FILE the current jobset
        (when given) and add runnable template jobs (``uname -a`` on this
        machine, the seed's fields all filled in); this machine joins the
        inventory when it is not there. The names added."""
        if path is not None:
            self.use_jobset(path)
        current = self.jobset(writing=True)
        wanted = names.expand(name or "job")
        hosts: list[tuple[Host, dict[str, Any]]] = []
        if self.store.find_host(LOCALHOST) is None:
            local = validate.host(LOCALHOST, cpus=os.cpu_count() or 1, max_jobs=1)
            hosts.append((local, {"ip": "localhost", "status": "free"}))
        records = [
            files.JobRecord(
                name=e.name,
                command=f"{DEFAULT_EXECUTABLE} {DEFAULT_ARGUMENTS}",
                fields={
                    "directory": ".",
                    "input": "./data",
                    "output": f"./output/{e.name}",
                    "user": getpass.getuser(),
                    "shell": "bash",
                },
                ip="localhost",
                status="ready",
                index=e.index,
                extra={
                    "executable": DEFAULT_EXECUTABLE,
                    "arguments": DEFAULT_ARGUMENTS,
                    "ip": "localhost",
                },
            )
            for e in wanted
        ]
        jobs = self._new_jobs(records, "the template", [h for h, _ in hosts])
        self.store.add_records(current.queue, jobs, hosts)
        self.write_jobset(current.queue)
        return [e.name for e in wanted]

    def jobset_add(
        self,
        name: str,
        *,
        ip: str | None = None,
        executable: str | None = None,
        arguments: str | None = None,
        directory: str | None = None,
        input: str | None = None,
        output: str | None = None,
        status: str | None = None,
        gpu: str | None = None,
        user: str | None = None,
        shell: str | None = None,
    ) -> list[str]:
        """``job add --name=NAMES …``: add the jobs NAMES expands to, each
        with its own ``ip``, ``input``, ``output``, ``gpu`` and ``arguments``
        when those list one value per job (see :mod:`meshq.cloudmesh.perjob`).
        The command is ``EXECUTABLE ARGUMENTS`` (the seed's default: ``uname
        -a``); ``ip`` (default 127.0.0.1, this machine) is the host each job
        asks for. All or nothing; the names added."""
        current = self.jobset(writing=True)
        wanted = names.expand(name)
        n = len(wanted)
        if executable is None:
            executable = DEFAULT_EXECUTABLE
            if arguments is None:
                arguments = DEFAULT_ARGUMENTS
        per = {
            "ip": perjob.spread("ip", ip if ip is not None else DEFAULT_IP, n),
            "input": perjob.spread("input", input, n),
            "output": perjob.spread("output", output, n),
            "gpu": perjob.spread("gpu", gpu, n),
            "arguments": perjob.spread("arguments", arguments, n),
        }
        first = status
        if first is not None and not states.covered(first) <= WAITING:
            raise UsageError(f"a new job starts ready, not {shown(first)}: drop --status")
        records = []
        for i, e in enumerate(wanted):
            args = per["arguments"][i]
            fields = {
                k: v
                for k, v in {
                    "directory": directory,
                    "input": per["input"][i],
                    "output": per["output"][i],
                    "gpu": files.text_or_none(per["gpu"][i]),
                    "user": user,
                    "shell": shell,
                }.items()
                if v is not None
            }
            job_ip = per["ip"][i]
            records.append(
                files.JobRecord(
                    name=e.name,
                    command=f"{executable} {args}".strip() if args else executable,
                    fields=fields,
                    ip=job_ip,
                    status=first,
                    index=e.index,
                    extra={"executable": executable, "arguments": args or "", "ip": job_ip},
                )
            )
        jobs = self._new_jobs(records, "job add")
        for job in jobs:
            host = job.spec.host
            if host not in (None, LOCALHOST) and self.store.find_host(host) is None:
                self.warn(
                    f"{job.name.name} asks for host {host}, which is not in the "
                    "inventory: 'meshq job run' gives it the host its policy picks"
                )
                break
        self.store.add_records(current.queue, jobs)
        self.write_jobset(current.queue)
        return [e.name for e in wanted]

    def jobset_add_file(self, path: str) -> list[str]:
        """``job add FILE``: add the jobs of a job spec file (jobs by name, or
        a whole jobset, whose hosts join the inventory) to the current
        jobset; all or nothing."""
        current = self.jobset(writing=True)
        added = self.add_seed_file(current.queue.name, os.path.expanduser(path))
        self.write_jobset(current.queue)
        return added

    def jobset_add_host(
        self,
        hostname: str,
        *,
        ip: str | None = None,
        cpus: str | None = None,
        status: str | None = None,
        job_counter: str | None = None,
        max_jobs: str | None = None,
    ) -> Host:
        """``job hosts add``: add a host to the inventory (which is the
        jobset's hosts). ``status`` is the seed's: ``inactive`` takes the host
        out of use, any other word is kept as written. ``job_counter`` is
        meshq's own count of the host's running jobs: a value other than 0
        is refused."""
        current = self.jobset(writing=True)
        host = validate.host(hostname, ip=ip, cpus=cpus, max_jobs=max_jobs)
        extra: dict[str, Any] = {}
        if status is not None:
            validate.text(status, "--status")
            if status.strip().lower() in files.HOST_OFF:
                host = replace(host, status=HostStatus.DISABLED)
            extra["status"] = status
        if job_counter not in (None, "", "0"):
            raise UsageError(
                f"--job_counter={shown(job_counter)}: meshq counts the jobs running on a host "
                "itself (see 'meshq job list hosts'); drop the option"
            )
        if self.store.find_host(host.name) is not None:
            raise UsageError(
                f"host {host.name!r} is in the inventory already: see 'meshq job list hosts'"
            )
        self.store.import_hosts([(host, extra)])
        self.write_jobset(current.queue)
        return self.store.host(host.name)

    def jobset_policy(self, policy: str) -> str:
        """``job scheduler --policy=NAME``: store the jobset's policy."""
        current = self.jobset(writing=True)
        queue = self.store.queue(current.queue.name)
        self.store.set_queue(queue, policy=policy_checked(policy))
        self.write_jobset(queue)
        return policy_checked(policy)
