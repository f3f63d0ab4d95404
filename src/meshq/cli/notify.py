"""``queue run --notify=COMMAND``: a command of the user's run when a run
finishes, told what the run did through its environment.

The command is the user's own shell text, run as a job's command is
(``bash -c COMMAND``), in the folder the run was started in. What meshq
knows of the run reaches it only as environment variables, never as text
put into the command, so no job name or error can change what it runs::

    MESHQ_QUEUE            the queue's name
    MESHQ_EXIT             the run's exit status (0: every job ended well; 130: interrupted)
    MESHQ_END, MESHQ_FAIL, MESHQ_TIMEOUT, MESHQ_KILL, MESHQ_FAIL_START,
    MESHQ_CRASH, MESHQ_SKIP
                           how many jobs the run left in that state
    MESHQ_FINISHED         how many jobs the run finished, in all
    MESHQ_RETRIED          attempts retried (--retries)
    MESHQ_COULD_NOT_START  jobs no host of the run could take
    MESHQ_STILL_RUNNING    jobs still running when the run stopped early
    MESHQ_INTERRUPTED      1 when the run was stopped early (Ctrl-C), else 0
    MESHQ_PAUSED           1 when the queue was paused, else 0

Its output goes to stderr, so that ``--format=json`` keeps stdout for the
run's record. It has :data:`NOTIFY_TIMEOUT` seconds. A notify command that
fails, or cannot be run, is one line on stderr: the run's exit status stays
what the jobs made it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import click

from meshq.model import FINISHED, Status

#: how long a notify command may run before it is stopped (s)
NOTIFY_TIMEOUT = 60.0

NOTIFY_OPTION = click.option(
    "--notify",
    metavar="COMMAND",
    help="Run COMMAND (with bash -c) when the run finishes; the counts are in "
    "its environment: MESHQ_QUEUE, MESHQ_EXIT, MESHQ_END, MESHQ_FAIL, … "
    "('' for none).",
)


def notify_env(record: Mapping[str, Any], exit_status: int) -> dict[str, str]:
    """The variables a notify command gets for a run's ``record`` (see
    :func:`meshq.cli.control.run_record`) that exits ``exit_status``."""
    finished: Mapping[str, int] = record["finished"]
    env = {
        "MESHQ_QUEUE": str(record["queue"]),
        "MESHQ_EXIT": str(exit_status),
        "MESHQ_FINISHED": str(sum(finished.values())),
        "MESHQ_RETRIED": str(record["retried"]),
        "MESHQ_COULD_NOT_START": str(record["could_not_start"]),
        "MESHQ_STILL_RUNNING": str(record["still_running"]),
        "MESHQ_INTERRUPTED": "1" if record["interrupted"] else "0",
        "MESHQ_PAUSED": "1" if record["paused"] else "0",
    }
    for state in sorted(FINISHED, key=list(Status).index):
        env[f"MESHQ_{state.value.upper()}"] = str(finished.get(state.value, 0))
    return env


def run_notify(command: str | None, record: Mapping[str, Any], exit_status: int) -> None:
    """Run the notify ``command`` (nothing when it is ``None`` or blank) for
    a finished run; a failure is one line on stderr, never an exception."""
    if command is None or not command.strip():
        return
    env = {**os.environ, **notify_env(record, exit_status)}
    try:
        # a session of its own: a command that overstays goes with all it started
        proc = subprocess.Popen(
            ["bash", "-c", command],
            env=env,
            stdin=subprocess.DEVNULL,
            # stdout is the run's record under --format=json
            stdout=sys.stderr.fileno(),
            start_new_session=True,
        )
    except OSError as err:
        _say(f"could not be run: {err.strerror or err}")
        return
    try:
        code = proc.wait(timeout=NOTIFY_TIMEOUT)
    except (subprocess.TimeoutExpired, KeyboardInterrupt) as err:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if isinstance(err, KeyboardInterrupt):
            raise
        _say(f"ran past {NOTIFY_TIMEOUT:g} s and was stopped")
        return
    if code < 0:
        _say(f"was killed by signal {-code}")
    elif code != 0:
        _say(f"exited {code}")


def _say(what: str) -> None:
    click.echo(f"meshq: the --notify command {what} (the run's exit status is unchanged)", err=True)
