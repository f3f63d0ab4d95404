"""Starting one test host's sshd listener, and what is needed for it.

``sshd_available`` says whether the OpenSSH programs are here; ``launch_sshd`` starts
``/usr/sbin/sshd -D -e`` on a config written by ``tests/support/sshd.py``, tagged with
the host's and cluster's environment tags and tied to the test process's life;
``log_tail`` reads its log back for error messages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.support.sshd_files import CLUSTER_ENV, HOST_ENV
from tests.support.sshd_procs import die_with_parent, in_main_thread

__all__ = ["SSHD", "launch_sshd", "log_tail", "sshd_available"]

#: The sshd binary. It must be an absolute path: sshd re-execs itself for every
#: connection and refuses to run when started through a relative path.
SSHD = Path("/usr/sbin/sshd")
#: Privilege-separation directory sshd (running as root) insists on.
PRIVSEP_DIR = Path("/run/sshd")


def sshd_available() -> str | None:
    """Return ``None`` when real test hosts can be started here, else why not.

    Checks for ``/usr/sbin/sshd``, ``ssh-keygen`` and the ``ssh`` client (the fixtures'
    ``ssh_argv`` needs the client; all three come from the openssh packages).
    """
    if not (SSHD.is_file() and os.access(SSHD, os.X_OK)):
        return f"{SSHD} not found (install openssh-server)"
    for tool in ("ssh-keygen", "ssh"):
        if shutil.which(tool) is None:
            return f"{tool} not found on PATH (install openssh-client)"
    return None


def _ensure_privsep_dir() -> None:
    """Create /run/sshd when running as root; sshd refuses to start without it.

    As non-root sshd skips its privilege-separation chroot and does not need it.
    """
    if os.geteuid() != 0:
        return
    PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)


def log_tail(path: Path, limit: int = 4000) -> str:
    """Return the last ``limit`` characters of sshd's log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "<no sshd log>"
    return text[-limit:] or "<sshd log is empty>"


def launch_sshd(
    name: str, cluster_id: str, config: Path, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start ``sshd -D -e -f config`` (not waiting for it) with its log going to ``log_path``."""
    _ensure_privsep_dir()
    env = dict(os.environ)
    # The listener's own environment is inherited by its per-connection children (not by
    # sessions), which lets kill_all() find those by tag even after the listener is gone.
    env[HOST_ENV] = name
    env[CLUSTER_ENV] = cluster_id
    with open(log_path, "ab") as log:
        # Log to a file, not a pipe: nobody drains a pipe, and a full one blocks sshd.
        return subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            # PR_SET_PDEATHSIG fires when the *thread* that forked exits, so only tie
            # sshd's life to ours when we start it from the main thread.
            preexec_fn=die_with_parent if in_main_thread() else None,
        )
