"""Every error meshq raises on purpose, under one root.

A :class:`MeshqError` carries one line meant for a person (what went wrong,
and where) and the data a program needs to act on it: the ``queue``,
``job`` and ``host`` it is about, when it is about one. It gives no advice
in terms of the command line: the CLI adds its own hints
(:mod:`meshq.cli.hints`), prints the line and exits with ``exit_code``; the
Python API lets it propagate.
"""

from __future__ import annotations

#: user text longer than this is shown shortened in an error line
SHOWN_CHARS = 60
#: a path is shown whole up to this long (paths are often long and still useful)
SHOWN_PATH_CHARS = 200


def shown(text: object, limit: int = SHOWN_CHARS) -> str:
    """``text`` as an error line quotes it: its ``repr``, or, past ``limit``
    characters, the first ``limit`` of them, ``…`` and how long it was.

    A name of 100,000 characters must not become a 100 kB error line, yet
    the start of it is what a person needs to recognise what they typed.
    """
    value = str(text)
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value):,} characters)"


def shown_path(path: object) -> str:
    """A path as an error line shows it: as it is when it is printable and
    at most :data:`SHOWN_PATH_CHARS` long, else quoted (a newline in it must
    not split the line) and shortened as :func:`shown` does."""
    value = str(path)
    if value.isprintable() and len(value) <= SHOWN_PATH_CHARS:
        return value
    return shown(value, SHOWN_PATH_CHARS)


def _default_message(kind: type) -> str:
    """An error's message when it is raised without one: the first
    paragraph of its class's docstring, on one line."""
    return " ".join((kind.__doc__ or "").strip().split("\n\n")[0].split())


class MeshqError(Exception):
    """Something meshq was asked to do cannot be done.

    The root of every error meshq raises on purpose. Example::

        try:
            mq.job("sweep", "job99")
        except meshq.MeshqError as err:
            print(err, err.queue, err.job)
    """

    #: exit status the CLI uses for this error
    exit_code = 1

    def __init__(
        self,
        message: str | None = None,
        *,
        queue: str | None = None,
        job: str | None = None,
        host: str | None = None,
    ) -> None:
        super().__init__(message or _default_message(type(self)))
        #: the queue, job and host the error is about (None: not about one)
        self.queue = queue
        self.job = job
        self.host = host


class UsageError(MeshqError):
    """The input is not valid; nothing was changed.

    Example: ``mq.add("sweep", "job[5-1]", "true")`` (a range that goes down).
    """

    exit_code = 2


class ArgumentError(UsageError, TypeError):
    """A call of the Python API named an argument the operation does not
    take (a typo, say); the message names the closest one it does take.
    Also a :class:`TypeError`, as Python raises for a wrong argument.

    Example: ``mq.add("sweep", "j", "true", hots="red")`` raises
    ``add() has no argument 'hots': did you mean 'host'?``
    """


class NotFound(UsageError):
    """The queue, job or host named does not exist.

    ``kind`` says which (``queue``, ``job``, ``host``), ``name`` the name.
    Example::

        try:
            mq.queue("sweeep")
        except meshq.NotFound as err:
            assert (err.kind, err.name) == ("queue", "sweeep")
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        kind: str = "",
        name: str | None = None,
        queue: str | None = None,
        job: str | None = None,
        host: str | None = None,
    ) -> None:
        super().__init__(message, queue=queue, job=job, host=host)
        #: what is missing: ``queue``, ``job`` or ``host`` (empty: other)
        self.kind = kind
        #: its name as given
        self.name = name


class AlreadyExists(UsageError):
    """A queue, job or host of that name exists already."""

    def __init__(
        self, message: str | None = None, *, kind: str = "", name: str | None = None
    ) -> None:
        super().__init__(message, queue=name if kind == "queue" else None)
        #: what exists already: ``queue``, ``job`` or ``host``
        self.kind = kind
        self.name = name


class WrongFile(UsageError):
    """A file is not of the kind the operation reads (``kind``: the kind
    it is, empty when it is none of the seed's).

    Example: ``mq.add_file("q", "red-cluster.yaml")`` (hosts, not jobs).
    """

    def __init__(self, message: str | None = None, *, path: str, kind: str) -> None:
        super().__init__(message)
        self.path = path
        self.kind = kind


class NoHosts(UsageError):
    """A run over the inventory found no host to use."""


class TransitionError(MeshqError):
    """A job is not in a state from which that change is allowed."""


class WaitTimeout(MeshqError, TimeoutError):
    """A wait for a job to finish ran out of time; the job goes on.

    Example: ``mq.wait("sweep", "job3", timeout=60)`` after a minute of ``start``.
    """


class StoreError(MeshqError):
    """The state store could not be read or written."""


class HostError(MeshqError):
    """A host could not be reached or refused a command.

    ``host`` names it, ``detail`` says why. Example::

        [probe] = mq.probe("red")    # records the error instead of raising it
        print(probe.ok, probe.error)
    """

    def __init__(self, host: str, message: str) -> None:
        super().__init__(f"host {host}: {message}", host=host)
        #: the message without the host's name
        self.detail = message


class UnreadableFile(HostError):
    """A job's file on its host cannot be read; the message says which,
    where and why."""

    exit_code = 2


class JobFailed(MeshqError):
    """A job whose result was awaited (an Executor's call) ended without
    one: it failed to start, timed out, was killed, crashed or was skipped.
    ``status`` is its final state (a :class:`meshq.Status` value),
    ``returncode`` its command's exit status, ``stderr`` the end of its
    stderr. (``exit_code`` is, as on every error, the CLI's status.)

    Example::

        try:
            future.result()
        except meshq.JobFailed as err:
            print(err.job, err.status, err.stderr)   # train-k3x9-4 timeout …
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        queue: str | None = None,
        job: str | None = None,
        host: str | None = None,
        status: str | None = None,
        returncode: int | None = None,
        stderr: str = "",
    ) -> None:
        super().__init__(message, queue=queue, job=job, host=host)
        self.status = status
        self.returncode = returncode
        self.stderr = stderr


class EnvironmentMismatch(JobFailed):
    """The host's Python could not run the call: another Python version,
    another cloudpickle version, or none (the message says which and how to
    fix it).

    Example: ``host h1: the call was pickled by Python 3.11, but this host's
    python is 3.8.10 (/usr/bin/python3): run it with Python 3.11 there (its
    --pyenv)``
    """


class RemoteError(MeshqError):
    """The call raised an exception on its host that cannot be brought back
    here (it does not unpickle); its type, message and ``traceback`` as text.

    Example: ``print(err.traceback)`` shows where the call failed on its host.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        queue: str | None = None,
        job: str | None = None,
        host: str | None = None,
        traceback: str = "",
    ) -> None:
        super().__init__(message, queue=queue, job=job, host=host)
        self.traceback = traceback
