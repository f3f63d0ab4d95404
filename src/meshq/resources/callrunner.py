"""meshq's runner of one Python call on a host: what an Executor's job runs.

    python3 .meshq-call.py PYTHON_VERSION CLOUDPICKLE_VERSION

It runs in the job's folder ($MESHQ_JOB_DIR), with the job's Python (its
--pyenv sourced first). It reads the call (``call.pkl``: a function and its
arguments, pickled with cloudpickle where the Executor runs) and writes the
outcome of attempt $MESHQ_ATTEMPT to ``result-ATTEMPT.pkl``, whole or not
at all. It exits 0 when the call returned, 1 when it raised (so that a
job's state and retries follow the call), 3 when this Python cannot run the
call at all.

Before it unpickles anything it checks that this Python and this cloudpickle
are the versions the call was pickled with: functions pickled by another
version fail in ways nobody can read. That answer is a plain pickle of
text, which any Python reads. The file runs on the host's Python, which may
be older than meshq's: it uses nothing newer than Python 3.7 has.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback
from typing import Any

#: exit status when this Python cannot run the call (versions, cloudpickle)
SETUP_FAILED = 3
#: the protocol of plain answers (any Python 3.4+ reads it)
PLAIN_PROTOCOL = 4


def _write(folder: str, attempt: str, data: bytes) -> None:
    path = os.path.join(folder, "result-%s.pkl" % attempt)
    part = path + ".part"
    with open(part, "wb") as f:
        f.write(data)
    os.replace(part, path)


def _setup_failed(folder: str, attempt: str, message: str) -> int:
    answer = {"kind": "setup", "message": message, "python": sys.version.split()[0]}
    _write(folder, attempt, pickle.dumps(answer, protocol=PLAIN_PROTOCOL))
    sys.stderr.write("meshq: %s\n" % message)
    return SETUP_FAILED


def _error(error: BaseException, cloudpickle: Any) -> dict[str, Any]:
    """An exception as the Executor raises it again: itself when it can be
    pickled, and its traceback as text in any case."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        cloudpickle.dumps(error)
        kept: BaseException | None = error
    except Exception:
        kept = None
    return {
        "kind": "error",
        "exception": kept,
        "type": "%s.%s" % (type(error).__module__, type(error).__qualname__),
        "message": str(error),
        "traceback": text,
    }


def main(argv: list[str]) -> int:
    want_python, want_cloudpickle = argv[1], argv[2]
    folder = os.environ.get("MESHQ_JOB_DIR") or os.getcwd()
    attempt = os.environ.get("MESHQ_ATTEMPT", "1")
    have_python = "%d.%d" % tuple(sys.version_info[:2])
    if have_python != want_python:
        return _setup_failed(
            folder,
            attempt,
            "the call was pickled by Python %s, but this host's python is %s (%s): run it "
            "with Python %s there (its --pyenv)"
            % (want_python, sys.version.split()[0], sys.executable, want_python),
        )
    try:
        import cloudpickle
    except ImportError:
        return _setup_failed(
            folder,
            attempt,
            "cloudpickle is not installed for %s on this host: pip install cloudpickle==%s"
            % (sys.executable, want_cloudpickle),
        )
    have_cloudpickle = getattr(cloudpickle, "__version__", "?")
    if have_cloudpickle != want_cloudpickle:
        return _setup_failed(
            folder,
            attempt,
            "the call was pickled by cloudpickle %s, but this host has %s (for %s): pip "
            "install cloudpickle==%s there"
            % (want_cloudpickle, have_cloudpickle, sys.executable, want_cloudpickle),
        )
    call = os.path.join(folder, "call.pkl")
    if not os.path.exists(call):
        answer = {
            "kind": "lost",
            "message": "its call (%s) is gone: the job was reset or its folder removed; "
            "submit the call again" % call,
        }
        _write(folder, attempt, pickle.dumps(answer, protocol=PLAIN_PROTOCOL))
        sys.stderr.write("meshq: %s\n" % answer["message"])
        return SETUP_FAILED
    # as ``python -c`` does: the working directory's modules can be imported
    sys.path.insert(0, os.getcwd())
    try:
        with open(call, "rb") as f:
            fn, args, kwargs = cloudpickle.load(f)
        value = fn(*args, **kwargs)
    except BaseException as error:  # the call's own failure, whatever it is
        answer = _error(error, cloudpickle)
        _write(folder, attempt, cloudpickle.dumps(answer))
        sys.stderr.write(answer["traceback"])
        return 1
    try:
        data = cloudpickle.dumps({"kind": "ok", "value": value})
    except Exception as error:
        answer = _error(error, cloudpickle)
        answer["message"] = "the call's result cannot be pickled: %s" % answer["message"]
        _write(folder, attempt, cloudpickle.dumps(answer))
        sys.stderr.write(answer["traceback"])
        return 1
    _write(folder, attempt, data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
