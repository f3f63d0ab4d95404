"""Every path a host sees, built in one place.

A queue's experiment folder is stored as an absolute path of this machine
(``meshq queue create`` resolves ``./experiment`` where it runs). A host
sees it as follows:

* this machine (a ``local`` host): the path itself;
* any other host: a path under the local home becomes the same path under
  *that host's* home, written ``~/…`` (``/home/me/proj/experiment`` →
  ``~/proj/experiment``), since another machine logs in as another user
  with another home; any other path is used as it is (``/scratch/x``).

On the wire a path is absolute or ``~/…``, never relative: the host agent
expands ``~`` with its own ``$HOME`` (see ``resources/wrapper.sh``), so no
path depends on the folder a login shell starts in.

A job's own folder is ``EXPERIMENT/QUEUE/JOB``; its stdout, stderr and
state log are files in it: those of its latest attempt on that host. Each
new attempt first moves the files of the one before on that host into
``JOB/attempts/N/`` (``resources/wrapper.sh``, ``meshq_keep_attempt``), so
attempt N's files are there, or, while no later attempt ran on its host,
still in the job's folder (:func:`attempt_paths`). Its working directory is ``--directory`` when
given (``~/…`` kept as typed, anything else made absolute where it was
added, and mapped like the experiment), else the folder it was added in
(:func:`submit_folder`, stored with the job when it is added): on another
host the same folder relative to the home, as GNU Parallel's ``--wd .``.
A job stored without one (added before this rule, or from a newer seed's
queue file, whose jobs run in their folders) runs in its job folder. No
other module builds a job's path: the scheduler, the host operations,
``logs`` and ``show`` all take theirs from here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from meshq.errors import UsageError

if TYPE_CHECKING:
    from meshq.model import Job, Queue

#: how a path under the host's home is written on the wire
HOME = "~"


def local_home() -> str:
    """This machine's home folder (``$HOME``, as ``~`` means it here)."""
    return os.path.expanduser(HOME)


def user_path(value: str) -> str:
    """A path the user typed, as meshq stores it: ``~`` and ``~/…`` kept as
    typed (each host has its own home), anything else made absolute against
    the folder the command runs in."""
    if value == HOME or value.startswith(HOME + "/"):
        return value
    return os.path.abspath(value)


def submit_folder() -> str:
    """The folder a job added now runs in when it names none: the one the
    adding process runs in, absolute, as Slurm, pueue and GNU Parallel run
    a job where it was submitted. A :class:`UsageError` when that folder is
    gone (deleted under a shell that is still in it)."""
    try:
        return str(Path.cwd())
    except FileNotFoundError:
        raise UsageError(
            "the folder you are in no longer exists: cd to one that does, or give --directory"
        ) from None


def on_host(path: str, *, local: bool) -> str:
    """``path`` (absolute on this machine, or ``~/…``) as a host sees it."""
    if local or path == HOME or path.startswith(HOME + "/"):
        return path
    home = local_home().rstrip("/")
    if path == home:
        return HOME
    if home and path.startswith(home + "/"):
        return HOME + path[len(home) :]
    return path


def queue_folder(queue: Queue, *, local: bool) -> str:
    """The folder holding every job folder of ``queue``, as a host sees it."""
    return on_host(f"{queue.experiment.rstrip('/')}/{queue.name}", local=local)


def job_folder(queue: Queue, name: str, *, local: bool) -> str:
    """The folder of the job ``name`` of ``queue``, as a host sees it."""
    return f"{queue_folder(queue, local=local)}/{name}"


@dataclass(frozen=True, slots=True)
class JobPaths:
    """Where one job's files are on its host: each absolute or ``~/…``."""

    #: the job's own folder (``EXPERIMENT/QUEUE/JOB``)
    folder: str
    #: the command's standard output
    stdout: str
    #: the command's standard error
    stderr: str
    #: the job's state log (start, end, kill, timeout, crash lines)
    log: str
    #: where the command runs
    workdir: str
    #: the Python environment sourced first (an activate script or a venv folder)
    pyenv: str | None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "folder": self.folder,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "log": self.log,
            "workdir": self.workdir,
            "pyenv": self.pyenv,
        }


def _job_folder_of(job: Job, local: bool) -> str:
    return on_host(f"{job.experiment.rstrip('/')}/{job.queue}/{job.name}", local=local)


def job_paths(job: Job, *, local: bool, default_pyenv: str | None = None) -> JobPaths:
    """Every path of ``job`` as a host sees it (``local``: this machine).
    ``default_pyenv`` is the host's ``--pyenv``, for a job that names none."""
    folder = _job_folder_of(job, local)
    workdir = folder if job.directory is None else _placed_path(job.directory, folder, local)
    pyenv = job.pyenv or default_pyenv
    return JobPaths(
        folder=folder,
        stdout=f"{folder}/{job.output}",
        stderr=f"{folder}/{job.err_file}",
        log=f"{folder}/{job.log}",
        workdir=workdir,
        pyenv=None if pyenv is None else _placed_path(pyenv, folder, local),
    )


#: the folder of a job's folder that keeps its earlier attempts' files, one
#: folder per attempt (the wrapper's ``meshq_keep_attempt`` writes the same name)
ATTEMPTS = "attempts"


def attempt_paths(
    job: Job, attempt: int, *, local: bool, kept: bool, default_pyenv: str | None = None
) -> JobPaths:
    """Where attempt ``attempt`` of ``job`` left its files on the host it ran
    on (``local``: this machine): in ``JOB/attempts/N/`` once a later attempt
    ran there (``kept``), else where the latest attempt's files are."""
    now = job_paths(job, local=local, default_pyenv=default_pyenv)
    if not kept:
        return now
    folder = f"{now.folder}/{ATTEMPTS}/{attempt}"
    return JobPaths(
        folder=folder,
        # the wrapper moves each file in by its own name (the seed's
        # ``output/JOB.out`` becomes ``attempts/N/JOB.out``); a path of a
        # host, not of this machine: no pathlib
        stdout=f"{folder}/{now.stdout.rpartition('/')[2]}",
        stderr=f"{folder}/{now.stderr.rpartition('/')[2]}",
        log=f"{folder}/{now.log.rpartition('/')[2]}",
        workdir=now.workdir,
        pyenv=now.pyenv,
    )


#: meshq's own folder in a host's home, for helper files (a cluster's batch script)
HELPERS = f"{HOME}/.meshq"
#: the folder of a queue that holds what a cluster's submissions read (no job
#: name can start with a dot, so no job folder is ever called so)
BATCHES = ".meshq-batches"


def helper_file(name: str) -> str:
    """A helper file meshq keeps in the host's home (``~/.meshq/NAME``)."""
    return f"{HELPERS}/{name}"


def batch_folder(job: Job, *, local: bool) -> str:
    """The folder of ``job``'s queue that holds its cluster submissions'
    batch files (``EXPERIMENT/QUEUE/.meshq-batches``), on the file system
    the job folders are on."""
    return on_host(f"{job.experiment.rstrip('/')}/{job.queue}/{BATCHES}", local=local)


def batch_file(job: Job, token: str, *, local: bool) -> str:
    """The file a cluster submission that holds ``job`` reads its jobs'
    launch fields from (``EXPERIMENT/QUEUE/.meshq-batches/TOKEN``)."""
    return f"{batch_folder(job, local=local)}/{token}"


def queue_folder_of(job: Job, *, local: bool) -> str:
    """The folder of ``job``'s queue, as a host sees it."""
    return on_host(f"{job.experiment.rstrip('/')}/{job.queue}", local=local)


def _placed_path(value: str, folder: str, local: bool) -> str:
    """A stored ``--directory`` or ``--pyenv`` as the host sees it. Stores
    made before paths were made absolute at ``add`` may hold a relative
    one: it meant the job's folder, and still does."""
    if value == HOME or value.startswith(HOME + "/") or value.startswith("/"):
        return on_host(value, local=local)
    return f"{folder}/{value}"
