"""Checking what users type before anything is stored.

Every check raises :class:`~meshq.errors.UsageError` with one line that
says what is wrong, where, and how to fix it. Values that pass are still
never formatted into shell text: they travel to hosts as data.
"""

from __future__ import annotations

import math
import os
import re

from meshq import durations, paths
from meshq.errors import UsageError, shown
from meshq.limits import (
    MAX_CPUS,
    MAX_GPUS,
    MAX_PARALLEL,
    MAX_PORT,
    MAX_RETRIES,
    MAX_SLOTS,
    MAX_TIMEOUT,
)
from meshq.model import LOCAL_HOST_NAMES, LOCALHOST, Host, HostKind, HostStatus, JobSpec, Status
from meshq.names import check_name, expand

#: the longest command accepted: Linux refuses longer single arguments
#: (MAX_ARG_STRLEN is 128 KiB) when the shell is started with it
MAX_COMMAND_BYTES = 100_000

#: a whole number as meshq reads one: ASCII digits, an optional sign
_WHOLE = re.compile(r"[+-]?[0-9]+")
_SHELL = re.compile(r"[A-Za-z0-9_./+-]{1,255}")
_GPU = re.compile(r"[A-Za-z0-9-]+(,[A-Za-z0-9-]+)*")
_SAFE_PATH = re.compile(r"[\w./+@,:=~ -]+")
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,63}")


def user_name(value: str) -> str:
    """``value`` if it can be a user name on a host."""
    if not _USER.fullmatch(value):
        raise UsageError(f"invalid user name {shown(value)}: use letters, digits, '.', '_' and '-'")
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
            f"invalid experiment path {shown(value)}: use letters, digits, spaces and "
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
    in_job_folder: bool = False,
) -> tuple[JobSpec, Status]:
    """Check a job's fields; the spec to store and its first state.

    A job given no ``directory`` runs where it is added: the folder this
    process runs in is stored as its directory (:func:`meshq.paths.submit_folder`).
    ``in_job_folder`` stores none instead, so that it runs in its own job
    folder (a newer seed's queue file, whose jobs ran there)."""
    shell = shell or "bash"
    if not _SHELL.fullmatch(shell):
        raise UsageError(f"invalid shell {shown(shell)}: give a program name or path such as bash")
    if host is not None:
        host = LOCALHOST if host in LOCAL_HOST_NAMES else check_name(host, "host name")
    if user is not None:
        user_name(user)
    if gpu is not None:
        given, gpu = gpu, gpu.replace(" ", "")
        if not _GPU.fullmatch(gpu):
            raise UsageError(
                f"invalid --gpu {shown(given)}: give GPU ids separated by commas, such as 0 or 0,1"
            )
    if output is not None:
        output = output_file(output)
    if log is not None:
        check_name(log, "log file")
    for what, value in (("--directory", directory), ("--pyenv", pyenv), ("--input", input)):
        if value is not None:
            text(value, what)
    # a relative folder means the one the user is in now, on every host (on
    # another machine: the same folder relative to the home, see meshq.paths);
    # ~/… is kept as typed, since each host has its own home
    if directory is not None:
        directory = paths.user_path(directory)
    elif not in_job_folder:
        directory = text(paths.submit_folder(), "the folder you are in")
    if pyenv is not None:
        pyenv = paths.user_path(pyenv)
    seconds = _timeout(timeout)
    count = _count(gpus, "--gpus", 1, MAX_GPUS)
    again = _count(retries, "--retries", 0, MAX_RETRIES)
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


def output_file(value: str) -> str:
    """A job's stdout file: a name, or a path inside the job's folder (the
    seed's ``./output/ls_j``), each part a safe name; never absolute, never
    ``..``, so it cannot leave the job's folder."""
    parts = [p for p in value.split("/") if p not in ("", ".")]
    bad = value.startswith("/") or not parts or value.endswith("/")
    for part in parts:
        try:
            check_name(part, "output file")
        except UsageError:
            bad = True
    if bad:
        raise UsageError(
            f"invalid output file {shown(value)}: give a file name or a path inside the "
            "job's folder such as output/run.txt (letters, digits, '.', '_', '-'; no '..', "
            "not absolute)"
        )
    return value


def _timeout(value: float | str | None) -> float | None:
    """Seconds above 0 and at most :data:`MAX_TIMEOUT`, or ``None`` (no limit)."""
    if value is None or value == "":
        return None
    try:
        # a plain number, in any notation float() reads (1.5e3; inf, nan and
        # 1e999 too, refused below with the range rather than the forms)
        seconds = float(value)
    except (TypeError, ValueError):
        # one parser for every other duration: 90s, 1h30m, [D-]HH:MM:SS
        seconds = durations.parse(value, "--timeout")
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_TIMEOUT:
        raise UsageError(
            f"invalid --timeout {shown(value)}: give a time above 0 and at most "
            f"{MAX_TIMEOUT:,} s (365 days), such as 1h, or no --timeout for no limit"
        )
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
        "default_retries": _count(retries, "--retries", 0, MAX_RETRIES),
    }


def max_parallel(value: int | str) -> int:
    """A checked ``--max_parallel``: 1 to :data:`MAX_PARALLEL`."""
    number = _count(value, "--max_parallel", 1, MAX_PARALLEL)
    if number is None:
        raise UsageError(f"--max_parallel is empty: give 1 to {MAX_PARALLEL:,}")
    return number


def _count(value: int | str | None, what: str, minimum: int, maximum: int) -> int | None:
    """``value`` as a whole number from ``minimum`` to ``maximum``, or
    ``None`` when it is not given; :class:`UsageError` otherwise.

    Written out rather than left to ``int()``: that one also reads ``1_000``,
    non-ASCII digits and floats, and a string of 5,000 digits makes it raise
    a ValueError of its own; here anything but plain digits is refused, and
    a number too long to be in range is refused before it is converted.
    """
    if value is None or value == "":
        return None
    fix = f"give a whole number from {minimum:,} to {maximum:,}"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UsageError(f"invalid {what} {shown(value)}: {fix}")
    raw = str(value).strip()
    if not _WHOLE.fullmatch(raw):
        raise UsageError(f"invalid {what} {shown(value)}: {fix}")
    digits = raw.lstrip("+-").lstrip("0")
    number = int(raw) if len(digits) <= len(str(maximum)) else None
    if number is None or not minimum <= number <= maximum:
        raise UsageError(f"invalid {what} {shown(value)}: {fix}")
    return number


_ADDRESS = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.:_-]{0,252})|\[[0-9A-Fa-f:.]+\]")


def host(
    name: str,
    *,
    kind: str | None = None,
    ip: str | None = None,
    user: str | None = None,
    port: int | str | None = None,
    max_jobs: int | str | None = None,
    cpus: int | str | None = None,
    gpus: str | None = None,
    pyenv: str | None = None,
    check_host_key: bool = True,
    login: str | None = None,
    partition: str | None = None,
    account: str | None = None,
    qos: str | None = None,
    sbatch_options: tuple[str, ...] = (),
) -> Host:
    """A checked inventory host. ``localhost``/``local`` is this machine; any
    other name is reached over SSH, at ``ip`` or else as ``ssh NAME`` would;
    ``kind="slurm"`` makes it a Slurm cluster (see :func:`_cluster`)."""
    local = name in LOCAL_HOST_NAMES
    chosen = HostKind.parse(kind) if kind is not None else None
    if chosen is not None and chosen.cluster:
        return _cluster(
            name,
            chosen,
            ip=ip,
            user=user,
            port=port,
            max_jobs=max_jobs,
            cpus=cpus,
            gpus=gpus,
            pyenv=pyenv,
            check_host_key=check_host_key,
            login=login,
            settings=(("partition", partition), ("account", account), ("qos", qos)),
            sbatch_options=sbatch_options,
        )
    given = [
        flag
        for flag, value in (
            ("--login", login),
            ("--partition", partition),
            ("--account", account),
            ("--qos", qos),
            ("--sbatch-option", sbatch_options or None),
        )
        if value is not None
    ]
    if given:
        raise UsageError(f"{given[0]} is for a Slurm cluster: add --kind=slurm")
    inferred = HostKind.LOCAL if local else HostKind.SSH
    if chosen is not None and chosen is not inferred:
        raise UsageError(
            f"host {shown(name)} cannot be of kind {chosen.value}: localhost is this machine "
            "(local), any other name an ssh host (ssh)"
        )
    name = LOCALHOST if local else check_name(name, "host name")
    if ip is not None and not _ADDRESS.fullmatch(ip):
        raise UsageError(f"invalid --ip {shown(ip)}: give a host name or an IP address")
    if user is not None:
        user_name(user)
    number = _count(port, "--port", 1, MAX_PORT)
    if pyenv is not None:
        text(pyenv, "--pyenv")
    return Host(
        name=name,
        kind=inferred,
        address=None if local else ip,
        user=None if local else user,
        port=None if local else number,
        max_jobs=_count(max_jobs, "--max_jobs_allowed", 1, MAX_SLOTS) or 1,
        cpus=_count(cpus, "--cpus", 1, MAX_CPUS),
        gpus=_gpu_ids(gpus),
        pyenv=pyenv,
        status=HostStatus.ACTIVE,
        last_probe=None,
        last_error=None,
        check_host_key=check_host_key,
    )


def _gpu_ids(gpus: str | None) -> tuple[str, ...]:
    if not gpus:
        return ()
    gpus = gpus.replace(" ", "")
    if not _GPU.fullmatch(gpus):
        raise UsageError(f"invalid --gpus {shown(gpus)}: give GPU ids such as 0,1,2,3")
    ids = tuple(gpus.split(","))
    if len(set(ids)) != len(ids):
        raise UsageError(f"invalid --gpus {shown(gpus)}: an id is given twice")
    return ids


#: how many jobs a cluster holds for meshq at once, unless told
CLUSTER_SLOTS = 100
#: a partition, account or qos name (a list of partitions: a,b)
_SLURM_NAME = re.compile(r"[A-Za-z0-9_.:+-]{1,128}(,[A-Za-z0-9_.:+-]{1,128})*")


def _cluster(
    name: str,
    kind: HostKind,
    *,
    ip: str | None,
    user: str | None,
    port: int | str | None,
    max_jobs: int | str | None,
    cpus: int | str | None,
    gpus: str | None,
    pyenv: str | None,
    check_host_key: bool,
    login: str | None,
    settings: tuple[tuple[str, str | None], ...],
    sbatch_options: tuple[str, ...],
) -> Host:
    """A Slurm cluster: ``login`` is ``local`` (meshq runs on the login node)
    or ``[user@]host`` (reached over SSH, as ``ssh`` would); its partition,
    account, qos and further sbatch options are stored as its options."""
    from meshq.hosts.slurmtext import check_option

    if name in LOCAL_HOST_NAMES:
        raise UsageError(
            f"a Slurm cluster needs a name of its own, not {name!r}: "
            "meshq hosts add hpc --kind=slurm --login=local"
        )
    check_name(name, "host name")
    if login is None:
        raise UsageError(
            "a Slurm cluster needs --login: --login=user@login-node, or --login=local "
            "when meshq runs on the login node"
        )
    for flag, value in (("--ip", ip), ("--user", user)):
        if value is not None:
            raise UsageError(f"{flag} is not for a Slurm cluster: give --login=[user@]login-node")
    if gpus:
        raise UsageError(
            "--gpus is not for a Slurm cluster: it gives out GPUs itself "
            "(ask for them per job with 'queue add --gpus=N')"
        )
    address: str | None = None
    login_user: str | None = None
    if login != "local":
        login_user, at, address = login.rpartition("@")
        if not at:
            login_user = None
        if login_user is not None:
            user_name(login_user)
        if not address or not _ADDRESS.fullmatch(address):
            raise UsageError(
                f"invalid --login {shown(login)}: give user@login-node, login-node, or local"
            )
    elif port is not None:
        raise UsageError("--port is for a login node reached over SSH, not --login=local")
    options: list[tuple[str, str]] = []
    for key, value in settings:
        if value is None:
            continue
        if not _SLURM_NAME.fullmatch(value):
            raise UsageError(
                f"invalid --{key} {shown(value)}: give a Slurm {key} name (letters, digits, "
                "'_', '.', '-')"
            )
        options.append((key, value))
    for word in sbatch_options:
        text(word, "--sbatch-option")
        why = check_option(word)
        if why is not None:
            raise UsageError(f"invalid --sbatch-option {shown(word)}: {why}")
        options.append(("sbatch", word))
    if pyenv is not None:
        text(pyenv, "--pyenv")
    return Host(
        name=name,
        kind=kind,
        address=address,
        user=login_user,
        port=_count(port, "--port", 1, MAX_PORT),
        max_jobs=_count(max_jobs, "--max_jobs_allowed", 1, MAX_SLOTS) or CLUSTER_SLOTS,
        cpus=_count(cpus, "--cpus", 1, MAX_CPUS),
        gpus=(),
        pyenv=pyenv,
        status=HostStatus.ACTIVE,
        last_probe=None,
        last_error=None,
        check_host_key=check_host_key,
        options=tuple(options),
    )
