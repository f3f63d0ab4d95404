"""A real single-node Slurm cluster on this machine, for tests and benchmarks.

``start_slurm(base_dir)`` starts Debian's ``slurmctld`` and ``slurmd`` (package
``slurm-wlm``) in the foreground as our children, with ``munged`` (package ``munge``)
for authentication, without systemd: the same daemons a department's cluster runs, on
one node called ``localhost``. Nothing is mocked; meshq talks to them with the real
client commands (``sbatch``, ``squeue``, ``scancel``, ``sinfo``).

The cluster's config is written to a folder every user can read, and its path is given
to clients through ``SLURM_CONF``: this process sets it for itself (so a ``--login=local``
cluster finds it) and a test login node (an sshd test host) sets it in its sessions.
The node advertises ``CPUS`` CPUs (``SlurmdParameters=config_overrides`` allows more
than the machine has), so that trivial jobs run many at a time, and ``GPUS`` GPUs (device
files of its own: Slurm counts them, gives them out and sets ``CUDA_VISIBLE_DEVICES``);
daemons listen on free ports, so the cluster coexists with any other Slurm here.

``munged`` is shared by every Slurm on the machine: a running one is used; one we had to
start is left running at the end (another session may be using it by then).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.sshd import SHARED_TMP
from tests.support.sshd_procs import free_port

__all__ = ["CPUS", "GPUS", "SlurmCluster", "SlurmError", "slurm_available", "start_slurm"]

#: CPUs the node advertises (each trivial job holds one while it runs)
CPUS = 32
#: GPUs the node advertises: device files of our own (see _fake_gpus); Slurm gives
#: them out and sets CUDA_VISIBLE_DEVICES, as it does real ones
GPUS = 4
#: the node's name in the cluster (slurmd -N)
NODE = "localhost"
#: how long the daemons get to answer
START_TIMEOUT_S = 30.0
_DAEMONS = ("/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged")
_CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol", "scancel", "munge", "unmunge")
_MUNGE_RUN = Path("/run/munge")


class SlurmError(RuntimeError):
    """The test Slurm cluster could not be set up or did not come up."""


def slurm_available() -> str | None:
    """``None`` when a test Slurm cluster can run here, else why not (with the fix)."""
    missing = [d for d in _DAEMONS if not os.access(d, os.X_OK)]
    missing += [c for c in _CLIENTS if shutil.which(c) is None]
    if missing:
        return (
            f"{', '.join(missing)} not found: install Debian's slurm-wlm and munge "
            "(scripts/test does so as root)"
        )
    if os.geteuid() != 0:
        return "a test Slurm cluster runs its daemons as root: run the tests as root"
    return None


def _conf_text(
    workdir: Path, ctld_port: int, slurmd_port: int, cpus: int, extra: Sequence[str] = ()
) -> str:
    """slurm.conf for one node on loopback, with ``extra`` lines at the end."""
    return "\n".join(
        [
            "# a meshq test cluster, written by tests/support/slurm.py",
            "ClusterName=meshqtest",
            "GresTypes=gpu",
            f"SlurmctldHost={NODE}",
            f"SlurmctldPort={ctld_port}",
            f"SlurmdPort={slurmd_port}",
            f"NodeName={NODE} NodeAddr=127.0.0.1 CPUs={cpus} Gres=gpu:{GPUS} State=UNKNOWN",
            f"PartitionName=debug Nodes={NODE} Default=YES MaxTime=INFINITE State=UP",
            # for the test of Slurm's own time limit (it kills 61-90 s after the start)
            f"PartitionName=short Nodes={NODE} MaxTime=1 DefaultTime=1 State=UP",
            "SlurmUser=root",
            "SlurmdUser=root",
            # the cgroup plugins need systemd or a prepared cgroupfs
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SchedulerParameters=batch_sched_delay=0",
            "SlurmdParameters=config_overrides",
            "MinJobAge=600",
            "MailProg=/bin/true",
            # a node set down by a test comes back by itself when slurmd answers
            "ReturnToService=2",
            # scancel's TERM is followed by KILL this much later
            "KillWait=5",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={workdir}/jobcomp.txt",
            f"StateSaveLocation={workdir}/state",
            f"SlurmdSpoolDir={workdir}/spool",
            f"SlurmctldPidFile={workdir}/slurmctld.pid",
            f"SlurmdPidFile={workdir}/slurmd.pid",
            f"SlurmctldLogFile={workdir}/slurmctld.log",
            f"SlurmdLogFile={workdir}/slurmd.log",
            *extra,
            "",
        ]
    )


def _fake_gpus(workdir: Path) -> None:
    """gres.conf for :data:`GPUS` GPUs whose device files are ours (character devices
    like /dev/null: Slurm only looks at them, as no cgroup confines the jobs here)."""
    for i in range(GPUS):
        os.mknod(workdir / f"gpu{i}", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    (workdir / "gres.conf").write_text(
        f"AutoDetect=off\nNodeName={NODE} Name=gpu File={workdir}/gpu[0-{GPUS - 1}]\n"
    )


def _munge_works() -> bool:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        cred = subprocess.run(["munge", "-n"], capture_output=True, timeout=5, check=True)
        done = subprocess.run(["unmunge"], input=cred.stdout, capture_output=True, timeout=5)
        return done.returncode == 0
    return False


def ensure_munge() -> None:
    """Make ``munged`` answer, starting it (as user munge) when it does not."""
    if _munge_works():
        return
    _MUNGE_RUN.mkdir(mode=0o755, exist_ok=True)
    shutil.chown(_MUNGE_RUN, "munge", "munge")
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        subprocess.run(["mungekey", "--create"], check=True, capture_output=True)
        shutil.chown(key, "munge", "munge")
    subprocess.run(
        ["runuser", "-u", "munge", "--", "/usr/sbin/munged"], check=False, capture_output=True
    )
    deadline = time.monotonic() + 10
    while not _munge_works():
        if time.monotonic() > deadline:
            raise SlurmError("munged did not start: see /var/log/munge/munged.log")
        time.sleep(0.1)


@dataclass
class SlurmCluster:
    """A running test cluster: its folder, config, and daemons."""

    workdir: Path
    conf: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """What a client's environment needs to find this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client command against this cluster."""
        return subprocess.run(
            list(argv),
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=30,
            check=check,
        )

    def node_state(self) -> str:
        """The node's state as sinfo says it (``idle``, ``alloc``, ``down*``…)."""
        return self.run("sinfo", "-h", "-n", NODE, "-o", "%T").stdout.strip()

    def set_node(self, state: str, reason: str = "meshq test") -> None:
        """``scontrol update`` the node to ``state`` (down, resume, drain)."""
        self.run(
            "scontrol",
            "update",
            f"nodename={NODE}",
            f"state={state}",
            f"reason={reason}",
            check=False,
        )

    def wait_idle(self, timeout: float = START_TIMEOUT_S) -> None:
        """Wait until the node takes jobs (idle, or busy with some)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.run("sinfo", "-h", "-n", NODE, "-o", "%T", check=False).stdout.strip()
            if state in ("idle", "mixed", "allocated"):
                return
            if time.monotonic() > deadline:
                raise SlurmError(f"node {NODE} is {state or 'unknown'}: {self.log_tail()}")
            time.sleep(0.1)

    def cancel_all(self) -> None:
        """Cancel every job of the cluster (between tests, and at the end)."""
        ids = self.run("squeue", "-h", "-o", "%A", check=False).stdout.split()
        if ids:
            self.run("scancel", *sorted(set(ids)), check=False)

    def log_tail(self, limit: int = 3000) -> str:
        parts = []
        for name in ("slurmctld.log", "slurmd.log"):
            with contextlib.suppress(OSError):
                parts.append(f"{name}: {(self.workdir / name).read_text()[-limit:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel every job, stop the daemons, remove the folder."""
        with contextlib.suppress(Exception):
            self.cancel_all()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_slurm(cpus: int = CPUS, extra: Sequence[str] = ()) -> SlurmCluster:
    """Start a one-node cluster (munged, slurmctld, slurmd) and wait until its node is
    idle; its folder (config, state, logs) is a fresh 0755 folder under ``SHARED_TMP``,
    which every user can read. ``extra`` lines go at the end of its slurm.conf (a
    benchmark's ``MaxJobCount``). The caller must ``stop()`` it."""
    reason = slurm_available()
    if reason is not None:
        raise SlurmError(reason)
    ensure_munge()
    workdir = Path(tempfile.mkdtemp(prefix="meshq-slurm-", dir=SHARED_TMP))
    workdir.chmod(0o755)
    for sub in ("state", "spool"):
        (workdir / sub).mkdir()
    _fake_gpus(workdir)
    conf = workdir / "slurm.conf"
    ports = free_port("127.0.0.1"), free_port("127.0.0.1")
    conf.write_text(_conf_text(workdir, *ports, cpus, extra))
    conf.chmod(0o644)
    cluster = SlurmCluster(workdir, conf)
    env = {**os.environ, **cluster.env}
    try:
        for argv in (
            ["/usr/sbin/slurmctld", "-D", "-i", "-f", str(conf)],
            ["/usr/sbin/slurmd", "-D", "-f", str(conf), "-N", NODE],
        ):
            cluster.procs.append(
                subprocess.Popen(
                    argv,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        cluster.wait_idle()
        for proc in cluster.procs:
            if proc.poll() is not None:
                raise SlurmError(f"{proc.args[0]} exited: {cluster.log_tail()}")
    except BaseException:
        cluster.stop()
        raise
    return cluster
