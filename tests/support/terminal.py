"""Running the ``meshq`` CLI in a real pseudo-terminal of a given size, as a
person at a terminal runs it: stdin, stdout and stderr are the terminal,
which is the process's controlling terminal (so Ctrl-C typed into it reaches
it as SIGINT), and ``COLUMNS``/``LINES`` agree with the terminal's size."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support.cli import MESHQ, TRACEBACK

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")


def plain(text: str) -> str:
    """``text`` without terminal escapes and carriage returns."""
    return _ESCAPES.sub("", text).replace("\r", "")


def screen(text: str) -> list[str]:
    """The lines a terminal would show at the end: a carriage return starts
    the line over (a progress bar redraws itself so); cursor moves up are
    not followed, so a redrawn block of lines shows each time it was drawn."""
    out = []
    for line in _ESCAPES.sub("", text).split("\n"):
        drawn = [part for part in line.split("\r") if part]
        out.append(drawn[-1] if drawn else "")
    return out


@dataclass
class TerminalRun:
    """What a command did in a terminal."""

    returncode: int
    #: everything written to the terminal, escapes included
    raw: str

    @property
    def text(self) -> str:
        return plain(self.raw)

    @property
    def lines(self) -> list[str]:
        """The lines as the terminal shows them (see :func:`screen`)."""
        return [line for line in screen(self.raw) if line.strip()]


class Terminal:
    """``meshq ARGS`` running in a pseudo-terminal ``cols`` wide."""

    def __init__(self, args: tuple[str, ...], *, cols: int, rows: int, env: dict[str, str],
                 cwd: Path) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.master = master
        env = {**env, "COLUMNS": str(cols), "LINES": str(rows), "TERM": "xterm-256color"}
        env.pop("NO_COLOR", None)

        def controlling_terminal() -> None:
            # a session of its own, with the pty as its terminal: what a shell gives
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            [*MESHQ, *args], cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
            start_new_session=True, preexec_fn=controlling_terminal,
        )
        # keep our own end of the terminal open: when the last other one
        # closes, Linux may answer reads of the master with EIO before the
        # last output was read, and that output would be lost
        self.slave = slave
        self.chunks: list[bytes] = []

    def read(self, timeout: float = 0.1) -> None:
        """Read what the command wrote, for up to ``timeout`` seconds."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            with contextlib.suppress(OSError):  # EIO: the terminal's other end closed
                data = os.read(self.master, 65536)
                if data:
                    self.chunks.append(data)

    @property
    def raw(self) -> str:
        return b"".join(self.chunks).decode("utf-8", "replace")

    def wait_for(self, check: Callable[[str], bool], timeout: float, what: str) -> None:
        """Read until ``check(plain text so far)`` holds."""
        deadline = time.monotonic() + timeout
        while not check(plain(self.raw)):
            if time.monotonic() > deadline or (self.proc.poll() is not None and not self._more()):
                raise AssertionError(f"timed out waiting for {what}; screen:\n{plain(self.raw)}")
            self.read()

    def _more(self) -> bool:
        before = len(self.chunks)
        self.read(0.05)
        return len(self.chunks) > before

    def type(self, data: bytes) -> None:
        """Type ``data`` at the terminal (b"\\x03" is Ctrl-C)."""
        os.write(self.master, data)

    def finish(self, timeout: float = 60.0) -> TerminalRun:
        """Wait for the command to end; what it wrote, and its status."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"still running after {timeout} s:\n{plain(self.raw)}")
            self.read()
        while self._more():
            pass
        os.close(self.master)
        os.close(self.slave)
        run = TerminalRun(self.proc.returncode, self.raw)
        assert TRACEBACK not in run.text, run.text
        return run


def run_in_terminal(args: tuple[str, ...], *, cols: int, env: dict[str, str], cwd: Path,
                    rows: int = 40, timeout: float = 60.0) -> TerminalRun:
    """Run ``meshq ARGS`` to its end in a terminal ``cols`` wide."""
    return Terminal(args, cols=cols, rows=rows, env=env, cwd=cwd).finish(timeout)
