"""Running the ``meshq`` CLI as a user does, as a new process: shared by
the acceptance and fault tiers, whose fixtures add their own set-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MESHQ = [sys.executable, "-m", "meshq"]
TRACEBACK = "Traceback (most recent call last)"


def run_meshq(
    args: tuple[str, ...], *, cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``meshq ARGS`` to its end; the result, whatever its status.
    Running past ``timeout`` or printing a traceback fails the test."""
    try:
        done = subprocess.run(
            [*MESHQ, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as err:
        raise AssertionError(
            f"meshq {' '.join(args)} ran past {timeout} s: "
            f"stdout={err.stdout!r} stderr={err.stderr!r}"
        ) from None
    assert TRACEBACK not in done.stderr, f"meshq {' '.join(args)}:\n{done.stderr}"
    return done


def require_success(
    done: subprocess.CompletedProcess[str], args: tuple[str, ...], tail: int | None = None
) -> None:
    """Fail the test, showing the output (its last ``tail`` characters),
    unless ``meshq ARGS`` exited 0."""
    out, err = (
        (done.stdout, done.stderr) if tail is None else (done.stdout[-tail:], done.stderr[-tail:])
    )
    assert done.returncode == 0, (
        f"meshq {' '.join(args)} exited {done.returncode}\nstdout: {out}\nstderr: {err}"
    )
