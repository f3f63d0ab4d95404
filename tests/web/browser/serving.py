"""A real meshq service and the browser to look at it with, for the
browser tests, the dashboard benchmark and the README's screenshot.

:func:`serve` starts ``meshq serve`` as its own process on a free loopback
port, with a store, a HOME and a token of its own, waits until ``/health``
answers, and stops it (SIGTERM, then SIGKILL) when done.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from meshq.service import Service
from tests.support.ci import under_ci

#: Debian's chromium (Playwright's own browser download cannot work here)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


ci = under_ci


@dataclass(frozen=True)
class Served:
    """A running service: where it listens, its token, its store."""

    url: str
    token: str
    db: Path
    experiment: Path
    process: subprocess.Popen[bytes]

    @property
    def page_url(self) -> str:
        """The dashboard's address as ``meshq serve`` prints it (token in the fragment)."""
        return f"{self.url}/#token={self.token}"

    @contextmanager
    def service(self) -> Iterator[Service]:
        """A Service on the same store (the tests add queues and jobs with
        it), closed after."""
        service = Service(self.db)
        try:
            yield service
        finally:
            service.close()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, wait: float) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"meshq serve exited with {proc.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"meshq serve did not answer /health in {wait} s: {log.read_text()}")


@contextmanager
def serve(folder: Path, *, wait: float = 60.0) -> Iterator[Served]:
    """``meshq serve`` on a free loopback port with its store, HOME and
    data folder under ``folder``."""
    home = folder / "home"
    home.mkdir(parents=True, exist_ok=True)
    db = folder / "meshq.db"
    experiment = folder / "experiment"
    token = secrets.token_urlsafe(24)
    port = free_port()
    env = {
        **os.environ,
        "HOME": str(home),
        "MESHQ_HOME": str(home / "meshq"),
        "MESHQ_DB": str(db),
        "MESHQ_TOKEN": token,
    }
    log = folder / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "meshq", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log, wait)
        yield Served(url, token, db, experiment, proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
