"""Checking what users type before anything is stored.

Every check raises :class:`~meshq.errors.UsageError` with one line that
says what is wrong, where, and how to fix it. Values that pass are still
never formatted into shell text: they travel to hosts as data.
"""

from __future__ import annotations

import os
import re

from meshq import durations
from meshq.errors import UsageError
from meshq.model import LOCAL_HOST_NAMES, LOCALHOST, Host, HostStatus, JobSpec, Status
from meshq.names import check_name, expand

#: the longest command accepted: Linux refuses longer single arguments
#: (MAX_ARG_STRLEN is 128 KiB) when the shell is started with it
MAX_COMMAND_BYTES = 100_000
_SHELL = re.compile(r"[A-Za-z0-9_./+-]{1,255}")
_GPU = re.compile(r"[A-Za-z0-9-]+(,[A-Za-z0-9-]+)*")
_SAFE_PATH = re.compile(r"[\w./+@,:=~ -]+")
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,63}")


def user_name(value: str) -> str:
    """``value`` if it can be a user name on a host."""
    if not _USER.fullmatch(value):
        raise UsageError(f"invalid user name {value!r}: use letters, digits, '.', '_' and '-'")
    return value


def text(value: str, what: str) -> str:
    """``value`` if it is UTF-8 text with no NUL byte."""
    if "\0" in value:
        raise UsageError(f"{what} holds a NUL byte: remove it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} is not valid UTF-8 text: retype it") from None
    return value


def unquote_command(command: str) -> str:
    """The command as the user meant it.

    The seed's manual asks for ``--command="'sleep 10'"``, so the command
    arrives wrapped in one extra pair of quotes; take them off when they
    enclose the whole command and nothing else uses that quote.
    """
    c = command.strip()
    if len(c) >= 2 and c[0] == c[-1] and c[0] in "'\"" and c[0] not in c[1:-1]:
        return c[1:-1]
    return command


def command(value: str) -> str:
    """A command to store: unquoted, non-empty, UTF-8, not too long."""
    value = unquote_command(text(value, "the command"))
    if not value.strip():
        raise UsageError("the command is empty: give one with --command='...'")
    size = len(value.encode("utf-8"))
    if size > MAX_COMMAND_BYTES:
        raise UsageError(
            f"the command is {size:,} bytes, more than {MAX_COMMAND_BYTES:,}: "
            "put it in a script and run the script"
        )
    return value


def experiment_path(value: str) -> str:
    """An experiment folder: absolute, and free of shell characters, since
    people paste these paths into shells on their hosts."""
    text(value, "the experiment path")
    if not _SAFE_PATH.fullmatch(value) or ".." in value.split("/"):
        raise UsageError(
            f"invalid experiment path {value!r}: use letters, digits, spaces and "
            "'./_-+@,:=~' (no '..', no shell characters such as ; $ ` ( ) |)"
        )
    return os.path.abspath(os.path.expanduser(value))


def job_spec(
    *,
    command_text: str,
    shell: str | None = None,
    directory: str | None = None,
    input: str | None = None,
    output: str | None = None,
    log: str | None = None,
    gpu: str | None = None,
    pyenv: str | None = None,
    user: str | None = None,
    host: str | None = None,
    timeout: float | str | None = None,
    status: str | None = None,
    gpus: int | str | None = None,
    retries: int | str | None = None,
    after: str | None = None,
) -> tuple[JobSpec, Status]:
    """Check a job's fields; the spec to store and its first state."""
    shell = shell or "bash"
    if not _SHELL.fullmatch(shell):
        raise UsageError(f"invalid shell {shell!r}: give a program name or path such as bash")
    if host is not None:
        host = LOCALHOST if host in LOCAL_HOST_NAMES else check_name(host, "host name")
    if user is not None:
        user_name(user)
    if gpu is not None:
        given, gpu = gpu, gpu.replace(" ", "")
        if not _GPU.fullmatch(gpu):
            raise UsageError(
                f"invalid --gpu {given!r}: give GPU ids separated by commas, such as 0 or 0,1"
            )
    for what, name in (("output file", output), ("log file", log)):
        if name is not None:
            check_name(name, what)
    for what, value in (("--directory", directory), ("--pyenv", pyenv), ("--input", input)):
        if value is not None:
            text(value, what)
    if directory is not None and host == LOCALHOST and not directory.startswith("~"):
        # on this machine a relative folder means the one the user is in now
        directory = os.path.abspath(directory)
    seconds = _timeout(timeout)
    count = _count(gpus, "--gpus", minimum=1)
    again = _count(retries, "--retries", minimum=0)
    waits_for = tuple(e.name for e in expand(after, what="--after name")) if after else ()
    if count is not None and gpu is not None:
        raise UsageError("give --gpus=N (how many) or --gpu=IDS (which), not both")
    first = _first_status(status, host)
    spec = JobSpec(
        command=command(command_text),
        shell=shell,
        directory=directory,
        input=input,
        output=output,
        log=log,
        gpu=gpu,
        pyenv=pyenv,
        user=user,
        host=host,
        timeout=seconds,
        status=first,
        gpus=count,
        retries=again,
        after=waits_for,
    )
    return spec, first


def _timeout(value: float | str | None) -> float | None:
    if value is None or value == "":
        return None
    # one parser for every duration: 90, 90s, 1h30m, [D-]HH:MM:SS
    seconds = durations.parse(value, "--timeout")
    if seconds <= 0:
        raise UsageError(f"invalid --timeout {value!r}: give a time above 0, such as 1h")
    return seconds


def _first_status(status: str | None, host: str | None) -> Status:
    if status is None:
        return Status.READY if host else Status.UNDEFINED
    first = Status.parse(status)
    if first not in (Status.READY, Status.UNDEFINED):
        raise UsageError(f"a new job can start as ready or undefined, not {first.value}")
    if first is Status.READY and not host:
        raise UsageError("a ready job needs a host: add --host=localhost (or another host)")
    return first


def queue_defaults(
    timeout: float | str | None, retries: int | str | None
) -> dict[str, float | int | None]:
    """Checked queue-wide defaults: a time limit and a number of retries."""
    return {
        "default_timeout": _timeout(timeout),
        "default_retries": _count(retries, "--retries", 0),
    }


def _count(value: int | str | None, what: str, minimum: int) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"invalid {what} {value!r}: give a whole number") from None
    if number < minimum:
        raise UsageError(f"invalid {what} {value!r}: give {minimum} or more")
    return number


_ADDRESS = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.:_-]{0,252})|\[[0-9A-Fa-f:.]+\]")


def host(
    name: str,
    *,
    ip: str | None = None,
    user: str | None = None,
    port: int | str | None = None,
    max_jobs: int | str | None = None,
    cpus: int | str | None = None,
    gpus: str | None = None,
    pyenv: str | None = None,
    check_host_key: bool = True,
) -> Host:
    """A checked inventory host. ``localhost``/``local`` is this machine; any
    other name is reached over SSH, at ``ip`` or else as ``ssh NAME`` would."""
    local = name in LOCAL_HOST_NAMES
    name = LOCALHOST if local else check_name(name, "host name")
    if ip is not None and not _ADDRESS.fullmatch(ip):
        raise UsageError(f"invalid --ip {ip!r}: give a host name or an IP address")
    if user is not None:
        user_name(user)
    number = _count(port, "--port", minimum=1)
    if number is not None and number > 65535:
        raise UsageError(f"invalid --port {port!r}: give 1 to 65535")
    ids: tuple[str, ...] = ()
    if gpus:
        gpus = gpus.replace(" ", "")
        if not _GPU.fullmatch(gpus):
            raise UsageError(f"invalid --gpus {gpus!r}: give GPU ids such as 0,1,2,3")
        ids = tuple(gpus.split(","))
        if len(set(ids)) != len(ids):
            raise UsageError(f"invalid --gpus {gpus!r}: an id is given twice")
    if pyenv is not None:
        text(pyenv, "--pyenv")
    return Host(
        name=name,
        kind="local" if local else "ssh",
        address=None if local else ip,
        user=None if local else user,
        port=None if local else number,
        max_jobs=_count(max_jobs, "--max_jobs_allowed", minimum=1) or 1,
        cpus=_count(cpus, "--cpus", minimum=1),
        gpus=ids,
        pyenv=pyenv,
        status=HostStatus.ACTIVE,
        last_probe=None,
        last_error=None,
        check_host_key=check_host_key,
    )
