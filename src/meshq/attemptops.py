"""A job's attempts as the API gives them (``queue show``'s list, ``queue
logs --attempt``): the part of :class:`meshq.service.Service` that reads what
earlier attempts left. Where each attempt's files are is
:func:`meshq.paths.attempt_paths`'s to say; which attempts there were,
:mod:`meshq.attempts`'."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshq import paths
from meshq.errors import UsageError
from meshq.servicepart import ServicePart

if TYPE_CHECKING:
    from meshq.attempts import AttemptRecord
    from meshq.model import Job


class Attempts(ServicePart):
    """Earlier attempts' records and files; mixed into :class:`meshq.service.Service`."""

    def attempts(self, job: Job) -> list[AttemptRecord]:
        """``job``'s attempts, oldest first (:mod:`meshq.attempts`)."""
        from meshq.attempts import attempts_of

        return attempts_of(self.store.events(job))

    def attempt_files(self, job: Job, rec: AttemptRecord) -> paths.JobPaths | None:
        """Where attempt ``rec`` of ``job`` left its files, on its host."""
        if rec.host is None:
            return None
        ran = on_host(job, rec.host)
        if rec.kept:
            return paths.attempt_paths(ran, rec.attempt, local=self._is_local(rec.host), kept=True)
        return self.files(ran)

    async def _earlier_output(self, job: Job, attempt: int, stderr: bool) -> bytes:
        """The stdout (or stderr) of ``job``'s earlier attempt ``attempt``."""
        from meshq import hostops

        recs = {r.attempt: r for r in self.attempts(job)}
        rec = recs.get(attempt)
        if rec is None:
            have = f"1 to {job.attempts}" if job.attempts else "none yet"
            raise UsageError(
                f"job {job.name!r} has no attempt {attempt} (its attempts: {have}); "
                f"'meshq queue show {job.queue} {job.name}' lists them"
            )
        if rec.host is None:
            raise UsageError(f"attempt {attempt} of {job.name!r} never started: it has no output")
        ran = on_host(job, rec.host)
        kept = paths.attempt_paths(ran, attempt, local=self._is_local(ran.host or ""), kept=True)
        now = self.files(ran)
        assert now is not None
        return await hostops.read_attempt(self._target_for(ran), attempt, kept, now, stderr)


def on_host(job: Job, host: str) -> Job:
    """``job`` as it ran on ``host``: as the user its current attempt ran as
    when that is the host, else as the job, the inventory or ssh config say."""
    return job if host == job.host else job.evolve(host=host, run_user=None, run_port=None)
