"""This machine's processes as the test hosts see them: finding, signalling, waiting.

Every test host is this machine, so "what runs on a host" is read from /proc (a process's
parent and environment), a host dies by signals to those processes, and tests wait for
such changes with a bounded poll. Also here: a free TCP port for a new listener, and tying
a child's life to the test process's.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "die_with_parent",
    "free_port",
    "in_main_thread",
    "pid_alive",
    "poll_until",
    "proc_table",
    "self_and_ancestors",
    "send_signal",
]


def poll_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.02,
) -> None:
    """Call ``predicate`` until it returns true; raise ``TimeoutError`` after ``timeout`` s.

    Tests use this instead of fixed sleeps: it returns as soon as the condition holds
    and fails with ``what`` in the message when it never does.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def free_port(address: str) -> int:
    """Return a TCP port that is free on ``address`` right now.

    Found by binding port 0 on that very address, so the kernel picks one that nothing
    listens on there. There is a small window before sshd binds it; loopback test hosts
    accept that race.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def pid_alive(pid: int) -> bool:
    """Return whether ``pid`` is a live process (zombies count as dead).

    A killed process whose parent has not reaped it yet stays in /proc as a zombie; for
    "did the job die?" questions that is dead.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The command name (field 2) may contain spaces and parentheses; the state is the
    # first field after the *last* ')'.
    state = stat.rpartition(")")[2].split()[0]
    return state not in ("Z", "X")


def die_with_parent() -> None:
    """In the sshd child before exec: get SIGTERM when the test process dies.

    Without this a test run killed with SIGKILL leaves sshd listeners behind. The death
    signal survives execve and sshd -D does not fork the listener, so it sticks.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def in_main_thread() -> bool:
    """Whether the caller runs on the interpreter's main thread."""
    return threading.current_thread() is threading.main_thread()


def proc_table() -> Iterator[tuple[int, int, frozenset[bytes] | None]]:
    """Yield ``(pid, ppid, environ entries or None)`` for every process we can see.

    Processes that vanish while we look, or whose stat we cannot read, are skipped;
    an unreadable environ gives ``None`` (the process may still match by ancestry).
    """
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        try:
            ppid = int(stat.rpartition(")")[2].split()[1])
        except (IndexError, ValueError):
            continue
        environ: frozenset[bytes] | None
        try:
            environ = frozenset(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
        except OSError:
            environ = None
        yield pid, ppid, environ


def self_and_ancestors() -> set[int]:
    """Return this process's pid and all its ancestors' pids: never ours to kill."""
    pids = {os.getpid()}
    pid = os.getpid()
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            break
        pids.add(pid)
    return pids


def send_signal(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to ``pid``, ignoring processes that are already gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
