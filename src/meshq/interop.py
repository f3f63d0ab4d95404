"""The Python API's part for the cloudmesh seed's files and policies:
import a jobset, job spec, ``<queue>-queue.yaml`` or ``<cluster>-cluster.yaml``
as a queue and hosts, export a queue (or the inventory) in those formats,
and keep a scheduler policy per queue.

Every import is checked whole and stored in one transaction: a mistake
anywhere changes nothing. A field of the file meshq does not use is kept
and written back on export; a field nobody knows is refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from meshq import names, validate
from meshq.cloudmesh import files, jobset, queuefile, states
from meshq.errors import UsageError, WrongFile, shown, shown_path
from meshq.model import (
    LOCAL_HOST_NAMES,
    LOCALHOST,
    WAITING,
    Host,
    HostStatus,
    Job,
    Queue,
    Status,
)
from meshq.store.extras import NewJob

if TYPE_CHECKING:
    from meshq.store.store import Store

ExportFormat = Literal["jobset", "queue"]
#: addresses that mean this machine when a job names one (``--ip``)
LOCAL_ADDRESSES = frozenset({*LOCAL_HOST_NAMES, "127.0.0.1", "::1"})
DEFAULT_POLICY = "sequential"


@dataclass(frozen=True, slots=True)
class Imported:
    """What an import added: the queue (``None`` for a cluster file), the
    hosts new to the inventory, and the jobs."""

    queue: Queue | None
    hosts: list[str]
    jobs: list[str]


def dump_yaml(document: Any) -> str:
    """A document as YAML text, keys in the order given, long lines kept whole."""
    import yaml

    text: str = yaml.safe_dump(
        document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=10**6
    )
    return text


def policy_checked(name: str) -> str:
    """``name`` if it is a policy of ``fifo_multi``; a :class:`UsageError`
    listing them otherwise."""
    from meshq.scheduler.policies import POLICIES, policy_named

    policy_named(name)
    return next(p for p in POLICIES if p == name.strip().lower())


def read_seed_file(path: str, data: Any | None = None) -> files.Bundle:
    """The queue, hosts and jobs of a seed file of any kind (read from
    ``path`` unless its parsed ``data`` is given)."""
    from meshq import jobfile

    where = shown_path(path)
    if data is None:
        data = jobfile.read_document(path)
    if jobset.is_jobset(data):
        return jobset.read(where, data)
    kind = queuefile.looks_like(data, path)
    if kind == "jobs":
        return jobset.read_spec(where, data)
    if kind == "cluster":
        return queuefile.read_cluster(where, data)
    if kind == "queue":
        return queuefile.read_queue(where, path, data)
    raise WrongFile(
        f"{where} is none of the seed's files (a jobset with 'cloudmesh:', a "
        "<queue>-queue.yaml or a <cluster>-cluster.yaml)",
        path=str(path),
        kind="",
    )


class Interop:
    """Seed files in and out, and stored policies (a part of :class:`meshq.service.Service`)."""

    store: Store
    warn: Callable[[str], None]

    # -- policies -------------------------------------------------------------

    def set_policy(self, queue: str, policy: str) -> Queue:
        """Store the policy runs of ``queue`` use when they name none."""
        return self.store.set_queue(self.store.queue(queue), policy=policy_checked(policy))

    def policy(self, queue: str) -> str:
        """The policy runs of ``queue`` use when they name none."""
        return self.store.queue(queue).policy or DEFAULT_POLICY

    # -- import ---------------------------------------------------------------

    def import_file(
        self,
        path: str,
        *,
        name: str | None = None,
        experiment: str | None = None,
        kinds: Sequence[files.Kind] = ("jobset", "jobs", "queue", "cluster"),
    ) -> Imported:
        """Import a seed file: a jobset or a ``<queue>-queue.yaml`` becomes a
        new queue (``name``, else the one the file records, else the file's
        name) with its hosts added to the inventory; a ``<cluster>-cluster.yaml``
        adds its hosts. A file of a kind not in ``kinds`` is refused."""
        bundle = read_seed_file(path)
        where = shown_path(path)
        if bundle.kind not in kinds:
            raise WrongFile(
                f"{where} is a {bundle.kind} file, not a {' or '.join(kinds)} file",
                path=where,
                kind=bundle.kind,
            )
        hosts = self._new_hosts(bundle.hosts, where)
        if bundle.kind == "cluster":
            if bundle.extra.get("config"):
                self.warn(
                    f"{where}: its config (name, experiment, filename) names the file only: "
                    "meshq's hosts serve every queue"
                )
            self.store.import_hosts(hosts)
            return Imported(None, [h.name for h, _ in hosts], [])
        qname = names.queue_name(name or bundle.name or files.stem(path))
        names.check_name(qname, "queue name")
        if experiment is None:
            experiment = bundle.experiment or str(Path(os.path.abspath(path)).parent / "experiment")
        try:
            settings = validate.queue_defaults(
                bundle.settings.get("default_timeout"), bundle.settings.get("default_retries")
            )
            queue_fields = {
                "name": qname,
                "experiment": validate.experiment_path(experiment),
                **settings,
                "paused": _yes(bundle.settings.get("paused"), "paused"),
                "policy": policy_checked(bundle.policy) if bundle.policy else None,
                "extra": bundle.extra,
            }
        except UsageError as err:
            raise UsageError(f"{where}: {err}") from None
        records = self._new_jobs(bundle.jobs, where, [h for h, _ in hosts])
        queue = self.store.import_queue(queue_fields, records, hosts)
        return Imported(queue, [h.name for h, _ in hosts], [r.name.name for r in records])

    def _new_hosts(
        self, records: Sequence[files.HostRecord], where: str
    ) -> list[tuple[Host, dict[str, Any]]]:
        """The hosts of a file that the inventory lacks, checked. A host it
        has already stays as it is (the inventory serves every queue); a
        warning names the fields the file would have changed."""
        known = {h.name: h for h in self.store.hosts()}
        out: list[tuple[Host, dict[str, Any]]] = []
        for record in records:
            try:
                host = validate.host(
                    record.name,
                    ip=record.ip if record.name not in LOCAL_HOST_NAMES else None,
                    user=record.user,
                    port=record.port,
                    max_jobs=record.max_jobs,
                    cpus=record.cpus,
                    gpus=record.gpus,
                    pyenv=record.pyenv,
                    check_host_key=record.check_host_key,
                )
            except UsageError as err:
                raise UsageError(f"{where}: host {shown(record.name)}: {err}") from None
            if record.disabled:
                host = replace(host, status=HostStatus.DISABLED)
            have = known.get(host.name)
            if have is None:
                out.append((host, record.extra))
                continue
            differ = [
                f
                for f in ("address", "user", "port", "max_jobs", "cpus", "gpus", "pyenv")
                if getattr(have, f) != getattr(host, f)
            ]
            if differ:
                self.warn(
                    f"{where}: host {host.name} is in the inventory already; kept as it is "
                    f"there ({', '.join(differ)} differ: 'meshq hosts delete {host.name}' and "
                    "import again to take the file's)"
                )
        return out

    def resolve_ip(self, ip: str, hosts: Sequence[Host] = ()) -> str:
        """The host a job's ``ip`` names: this machine for ``localhost`` or
        ``127.0.0.1``; else the host of the inventory (or of ``hosts``) with
        that name or address; else a host of that name."""
        if ip in LOCAL_ADDRESSES:
            return LOCALHOST
        for host in (*hosts, *self.store.hosts()):
            if ip in (host.name, host.address):
                return host.name
        return names.check_name(ip, "host name (--ip)")

    def _new_jobs(
        self, records: Sequence[files.JobRecord], where: str, hosts: Sequence[Host] = ()
    ) -> list[NewJob]:
        """The jobs of a file as the store takes them, checked; a
        :class:`UsageError` naming the file and the job otherwise."""
        out = []
        for record in records:
            here = f"{where}: job {shown(record.name)}"
            try:
                out.append(self._new_job(record, here, hosts))
            except UsageError as err:
                text = str(err)
                raise UsageError(text if text.startswith(where) else f"{here}: {text}") from None
        return out

    def _new_job(self, record: files.JobRecord, here: str, hosts: Sequence[Host]) -> NewJob:
        names.check_name(record.name)
        host = record.host or (self.resolve_ip(record.ip, hosts) if record.ip else None)
        status = states.from_file(record.status, here) if record.status else Status.READY
        spec, first = validate.job_spec(
            command_text=record.command or "",
            host=host,
            status="undefined" if status is Status.UNDEFINED else None,
            in_job_folder=record.in_job_folder,
            **record.fields,
        )
        exit_code = None
        if record.exit_code is not None:
            try:
                exit_code = int(record.exit_code)
            except ValueError:
                raise UsageError(f"exit_code {shown(record.exit_code)} is not a number") from None
        return NewJob(
            names.Expanded(record.name, record.index or record.name),
            spec,
            first if status in WAITING else status,
            dict(record.extra),
            exit_code,
            record.error,
            placed=record.placed and host is not None,
        )

    def add_seed_file(self, queue: str, path: str, document: Any | None = None) -> list[str]:
        """Add the jobs of a seed file (jobs by name, a jobset, a
        ``<queue>-queue.yaml``) to ``queue``; a jobset's hosts join the
        inventory. All or nothing; the names added. The file's queue
        settings (policy, experiment) are the queue's own business: a
        differing one is named in a warning, not applied."""
        q = self.store.queue(queue)
        where = shown_path(path)
        bundle = read_seed_file(path, document)
        if bundle.kind == "cluster":
            raise WrongFile(f"{where} holds hosts, not jobs", path=where, kind="cluster")
        hosts = self._new_hosts(bundle.hosts, where)
        records = self._new_jobs(bundle.jobs, where, [h for h, _ in hosts])
        if bundle.policy and bundle.policy != (q.policy or DEFAULT_POLICY):
            self.warn(
                f"{where} asks for the policy {bundle.policy}, which adding jobs does not "
                f"change: 'meshq queue set {q.name} --policy={bundle.policy}'"
            )
        self.store.add_records(q, records, hosts)
        return [r.name.name for r in records]

    # -- export ---------------------------------------------------------------

    def export_queue(self, queue: str, fmt: ExportFormat = "queue") -> str:
        """The queue as YAML: ``jobset`` (the older seed's, with its state
        words and the inventory as its hosts) or ``queue`` (the newer seed's
        ``<queue>-queue.yaml``)."""
        q = self.store.queue(queue)
        jobs = self.store.jobs(q)
        extras = self.store.job_extras(q)
        kept = self.store.queue_extra(q)
        if fmt == "queue":
            entries = [
                (
                    j.name,
                    queuefile.job_entry(
                        j.to_dict(), extras.get(j.id, {}), self._after(j), experiment=q.experiment
                    ),
                )
                for j in jobs
            ]
            config = {
                "name": q.name,
                "experiment": q.experiment,
                "filename": kept.get("filename")
                or str(Path(q.experiment) / f"{q.name}{queuefile.QUEUE_SUFFIX}"),
                "policy": q.policy,
                **_settings(q),
            }
            return dump_yaml(queuefile.queue_document(config, entries))
        if fmt != "jobset":
            raise UsageError(f"unknown export format {shown(fmt)}: use jobset or queue")
        document = jobset.document(
            default_user=kept.get("default_user"),
            hosts=self._host_entries(),
            policy=q.policy or DEFAULT_POLICY,
            jobs=self._jobset_entries(q, jobs),
            meshq={"queue": q.name, "experiment": q.experiment, **_settings(q)},
        )
        return dump_yaml(document)

    def seed_jobs(
        self, queue: str, *, status: str | None = None, name: str | None = None
    ) -> list[dict[str, Any]]:
        """The jobs of ``queue`` as the older seed shows them (its fields, its
        state words), in queue order; ``status`` is one or more old words (or
        meshq's, or ``open``). ``name`` is a phrase the job's name holds, as
        the seed's ``job list --name='perform'`` means it, or a range or
        glob as everywhere in meshq."""
        wanted = None if status is None else states.selected(status)
        if name is not None and not names.is_pattern(name) and not names.is_glob(name):
            name = f"*{name}*"  # the seed's phrase: part of a name
        jobs = self.jobs(queue, status=wanted, name=name)  # type: ignore[attr-defined]
        return [entry for _, entry in self._jobset_entries(self.store.queue(queue), jobs)]

    def _jobset_entries(self, q: Queue, jobs: Sequence[Job]) -> list[tuple[str, dict[str, Any]]]:
        """Each job as a jobset writes it."""
        extras = self.store.job_extras(q)
        address = {h.name: h.address or h.name for h in self.store.hosts()}
        rows = []
        for j in jobs:
            extra = extras.get(j.id, {})
            ip = extra.get("ip")
            if ip is None and j.host is not None and not j.placed:
                ip = address.get(j.host, j.host)
            ran = None
            if j.attempts and j.host is not None:
                ran = j.run_address or address.get(j.host, j.host)
            entry = jobset.job_entry(
                j.to_dict(),
                extra,
                self._after(j),
                ip=ip,
                submitted_to=ran or extra.get("submitted_to_ip"),
                status=states.old_word(j.status),
            )
            rows.append((j.name, entry))
        return rows

    def seed_hosts(self) -> list[dict[str, Any]]:
        """The inventory as the seed's files list hosts (its fields first)."""
        return [entry for _, entry in self._host_entries()]

    def export_hosts(self) -> str:
        """The inventory as the newer seed's ``<cluster>-cluster.yaml``."""
        return dump_yaml(queuefile.cluster_document(self._host_entries()))

    def _host_entries(self) -> list[tuple[str, dict[str, Any]]]:
        used, _ = self.store.host_usage()
        extras = self.store.host_extras()
        return [
            (
                h.name,
                files.write_host(
                    {**h.to_dict(), "slots_used": used[h.name]}, extras.get(h.name, {})
                ),
            )
            for h in self.store.hosts()
        ]

    def _after(self, job: Job) -> list[str]:
        return [n for n, _ in self.store.dependencies(job)]


def is_meshq_job_list(document: Any, path: str) -> bool:
    """Whether a job file is meshq's own (a list of jobs, or ``jobs:`` with
    one; its errors are the ones to show) rather than one of the seed's (a
    jobset, jobs by name, a queue or cluster file)."""
    if not isinstance(document, dict) or set(document) == {"jobs"}:
        return True
    return not jobset.is_jobset(document) and queuefile.looks_like(document, path) is None


def _settings(q: Queue) -> dict[str, Any]:
    """meshq's queue settings as a file writes them (unset ones left out)."""
    out: dict[str, Any] = {}
    if q.default_timeout is not None:
        out["timeout"] = files.number_text(q.default_timeout)
    if q.default_retries is not None:
        out["retries"] = str(q.default_retries)
    if q.paused:
        out["paused"] = "yes"
    return out


def _yes(text: str | None, where: str) -> bool:
    if text is None:
        return False
    value = text.strip().lower()
    if value in ("yes", "true", "1"):
        return True
    if value in ("no", "false", "0", ""):
        return False
    raise UsageError(f"{where} must be yes or no, not {shown(text)}")


def write_file(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file
    renamed over it), so a reader never sees half a file."""
    target = Path(os.path.abspath(path))
    tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise UsageError(
            f"cannot write {shown_path(path)}: {err.strerror}: check the folder"
        ) from None
