"""A Python call as a meshq job: how it is packed here, run on a host, and
read back (the :class:`~meshq.executor.Executor`'s wire, no I/O here).

* The call (function, arguments) is pickled here with cloudpickle into
  ``call.pkl`` in the job's folder on each host that may run it.
* The job's command runs ``resources/callrunner.py`` (put once per host
  into the queue's folder as ``.meshq-call.py``) with the job's Python,
  naming the Python and cloudpickle versions the call was pickled with.
* The runner writes the outcome of each attempt to ``result-N.pkl`` (N:
  the attempt), which :func:`outcome` turns back into the value, or raises
  what the call raised, with the remote traceback as its cause (as
  :class:`concurrent.futures.ProcessPoolExecutor` does).
"""

from __future__ import annotations

import pickle
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from meshq.errors import EnvironmentMismatch, JobFailed, RemoteError

#: the runner's name in the queue's folder on a host
RUNNER = ".meshq-call.py"
#: the call's file in the job's folder
CALL = "call.pkl"


def python_version() -> str:
    """This Python's ``major.minor``: a host must run the same."""
    return "{}.{}".format(*sys.version_info[:2])


def cloudpickle_version() -> str:
    import cloudpickle

    return str(cloudpickle.__version__)


@cache
def runner_source() -> bytes:
    """The runner, as it is put on hosts."""
    return files("meshq.resources").joinpath("callrunner.py").read_bytes()


def command(python: str = "python3") -> str:
    """The job command that runs a call with ``python`` (as the job's shell
    finds it, after its --pyenv)."""
    return (
        f'{shlex.quote(python)} "$MESHQ_JOB_DIR/../{RUNNER}" '
        f"{python_version()} {cloudpickle_version()}"
    )


def result_name(attempt: int) -> str:
    """The outcome file of the job's attempt ``attempt``."""
    return f"result-{attempt}.pkl"


def pack(fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> bytes:
    """The call as ``call.pkl`` holds it."""
    import cloudpickle

    return bytes(cloudpickle.dumps((fn, tuple(args), dict(kwargs))))


class RemoteTraceback(Exception):
    """The traceback of an exception raised on a host, as text: the cause
    of the exception a future raises again here."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


def outcome(data: bytes, *, queue: str, job: str, host: str | None) -> Any:
    """The value the call returned, from its outcome file; or raise what it
    raised (its remote traceback as the cause), an
    :class:`~meshq.errors.EnvironmentMismatch` when the host's Python could
    not run it, or a :class:`~meshq.errors.RemoteError` for an exception
    that could not come back."""
    try:
        answer = pickle.loads(data)  # noqa: S301 (our own job's file, written by our runner)
    except Exception as err:
        raise JobFailed(
            f"job {job} of queue {queue}: its result cannot be read here ({err})",
            queue=queue,
            job=job,
            host=host,
        ) from None
    kind = answer.get("kind") if isinstance(answer, dict) else None
    if kind == "ok":
        return answer["value"]
    if kind == "setup":
        raise EnvironmentMismatch(
            f"host {host}: {answer['message']}", queue=queue, job=job, host=host
        )
    if kind == "lost":
        raise JobFailed(
            f"job {job} of queue {queue}: {answer['message']}", queue=queue, job=job, host=host
        )
    if kind == "error":
        cause = RemoteTraceback(answer["traceback"])
        error = answer.get("exception")
        if isinstance(error, BaseException):
            raise error from cause
        raise RemoteError(
            f"job {job} of queue {queue} raised {answer['type']}: {answer['message']}",
            queue=queue,
            job=job,
            host=host,
            traceback=answer["traceback"],
        ) from cause
    raise JobFailed(
        f"job {job} of queue {queue}: its result is not one meshq wrote",
        queue=queue,
        job=job,
        host=host,
    )
