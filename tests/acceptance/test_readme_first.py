"""README's first example, word for word, as a new user runs it.

The commands are read from README.md ("A first queue") and run one line at
a time with ``bash -c`` in a fresh project folder that holds a ``train.py``,
with ``HOME`` under a temporary folder as a user's home would be (no
``MESHQ_HOME``, no config file: meshq's own defaults). The jobs must find
``train.py`` in the folder ``queue add`` ran in — on this machine, and on
another machine reached through ``~/.ssh/config`` as another user, where the
same folder under that user's home holds its own copy of the project.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import TRACEBACK
from tests.support.fixtures import ClusterFactory
from tests.support.sshd import SshHost

pytestmark = pytest.mark.timeout(300)

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## A first queue"
#: one seed of the sweep fails until the user fixes it (a file ``fixed``)
TRAIN_PY = """\
import argparse
import os
import re
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, required=True)
seed = parser.parse_args().seed
if seed == 3 and not os.path.exists("fixed"):
    print("seed 3 diverged", file=sys.stderr)
    sys.exit(2)
os.makedirs("results", exist_ok=True)
with open(f"results/seed-{seed}.txt", "w") as f:
    f.write(f"{seed * seed}\\n")
print(f"seed {seed}: loss {1 / seed:.3f}")
"""
#: a system interpreter every user can run (not the tests' own venv)
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def readme_commands() -> list[str]:
    """The command lines of README's first example, continuation lines joined."""
    text = README.read_text()
    block = text[text.index(SECTION) :]
    block = block[block.index("```bash\n") + len("```bash\n") :]
    block = block[: block.index("```")]
    lines: list[str] = []
    pending = ""
    for raw in block.splitlines():
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1]
            continue
        lines.append(pending + raw)
        pending = ""
    return [line for line in lines if line.strip()]


@dataclass
class Project:
    """A user's project folder and the shell they type README's lines in."""

    folder: Path
    env: dict[str, str]
    #: where the jobs' working folder is on the host that runs them
    there: Path

    def sh(self, line: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        assert TRACEBACK not in done.stderr, f"{line}\n{done.stderr}"
        return done


def user_shell(tmp_path: Path, home_experiment: str) -> tuple[Path, dict[str, str]]:
    """A fresh HOME, and the environment of a user whose venv holds meshq
    (``python`` and ``meshq`` on PATH), with nothing of the tests' meshq
    settings; the project folder under that HOME, not yet made."""
    home = tmp_path / "home"
    bin_dir = tmp_path / "venv-bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    meshq = bin_dir / "meshq"
    meshq.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m meshq "$@"\n')
    meshq.chmod(0o755)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MESHQ_", "XDG_", "CUDA_")) and k not in ("HOME", "PATH", "COLUMNS")
    }
    env.update(HOME=str(home), PATH=f"{bin_dir}:{os.environ['PATH']}", PYTHONUNBUFFERED="1")
    # the same folder name under the other user's home is removed by home_experiment
    project = home / Path(home_experiment).parent.relative_to(Path.home()) / "proj"
    return project, env


def run_the_readme(project: Project, host_line: Callable[[str], str]) -> None:
    """Run README's lines in ``project`` and check what each one did."""
    lines = [host_line(line) for line in readme_commands()]
    assert lines[0].startswith("meshq queue create sweep")
    assert "python train.py" in lines[1]
    outcome = {}
    for line in lines[:-1]:
        outcome[line.split("#")[0].strip()] = done = project.sh(line)
        assert done.returncode in (0, 1), f"{line}\n{done.stdout}\n{done.stderr}"
    by = {line.split("#")[0].strip(): d for line, d in outcome.items()}

    def result(prefix: str) -> subprocess.CompletedProcess[str]:
        return next(d for line, d in by.items() if line.startswith(prefix))

    # every job found train.py; seed 3 failed, and the run says so (exit 1)
    run = result("meshq queue run fifo sweep -j 4")
    assert run.returncode == 1 and "job3" in run.stdout + run.stderr, run
    assert result("meshq queue create").returncode == 0
    assert result("meshq queue add").returncode == 0
    status = result("meshq queue status sweep")
    assert status.returncode == 0
    assert re.search(r"^end +9 +job\[1-2,4-10\]$", status.stdout, re.M), status.stdout
    assert re.search(r"^fail +1 +job3$", status.stdout, re.M), status.stdout
    assert result("meshq queue status sweep --watch").returncode == 0
    assert result("meshq queue summary sweep").returncode == 0
    failed = result("meshq queue list sweep --status=fail")
    assert failed.returncode == 0 and "job3" in failed.stdout and "job1 " not in failed.stdout
    logs = result("meshq queue logs sweep job3 --stderr")
    assert (logs.returncode, logs.stdout) == (0, "seed 3 diverged\n")
    show = result("meshq queue show sweep job3")
    assert show.returncode == 0 and "train.py" in show.stdout
    assert "can't open file" not in show.stdout

    # the user fixes seed 3 (on the machine the job runs on) and goes on
    (project.there / "fixed").write_text("")
    last = project.sh(lines[-1])
    assert last.returncode == 0, f"{lines[-1]}\n{last.stdout}\n{last.stderr}"
    jobs = json.loads(project.sh("meshq queue list sweep --format=json").stdout)
    assert {j["status"] for j in jobs} == {"end"}, jobs
    # the jobs ran in the project folder: their results are there, their
    # own files in the job folders
    for seed in range(1, 11):
        assert (project.there / "results" / f"seed-{seed}.txt").read_text() == f"{seed * seed}\n"
    shown = json.loads(project.sh("meshq queue show sweep job7 --format=json").stdout)
    assert shown["files"]["folder"].endswith("/proj/experiment/sweep/job7")
    assert shown["files"]["workdir"] != shown["files"]["folder"]


def test_the_first_example_runs_as_written_in_a_fresh_folder(
    tmp_path: Path, home_experiment: str
) -> None:
    folder, env = user_shell(tmp_path, home_experiment)
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(TRAIN_PY)
    project = Project(folder, env, there=folder)
    run_the_readme(project, lambda line: line)
    out = folder / "experiment" / "sweep" / "job7" / "job7.out"
    assert out.read_text() == "seed 7: loss 0.143\n"


@pytest.mark.ssh
def test_the_first_example_runs_on_another_machine_as_another_user(
    tmp_path: Path,
    home_experiment: str,
    shared_dir: Path,
    make_ssh_cluster: ClusterFactory,
) -> None:
    # the other machine has python on its PATH, as a user's lab machine does
    remote_bin = shared_dir / "bin"
    remote_bin.mkdir()
    system_python = shutil.which("python3", path=SYSTEM_PATH)
    assert system_python is not None
    (remote_bin / "python").symlink_to(system_python)
    cluster = make_ssh_cluster(1, session_env={"PATH": f"{remote_bin}:{SYSTEM_PATH}"})
    [host] = cluster.hosts
    folder, env = user_shell(tmp_path, home_experiment)
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(TRAIN_PY)
    # the user's ssh config, where ssh (and so meshq) reads it
    ssh_dir = Path(env["HOME"]) / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    (ssh_dir / "config").write_text(cluster.ssh_config.read_text())
    # the project checked out at the same place under the other user's home
    there = _remote_project(host, folder, Path(env["HOME"]))
    project = Project(folder, env, there=there)
    run_the_readme(project, lambda line: line.replace("--host=localhost", f"--host={host.name}"))
    assert not (folder / "results").exists(), "the jobs ran on the other machine"
    out = there / "experiment" / "sweep" / "job7" / "job7.out"
    assert out.read_text() == "seed 7: loss 0.143\n"


def _remote_project(host: SshHost, folder: Path, home: Path) -> Path:
    """A copy of the project on ``host``, as its user's, at the same path
    relative to the home; where this test reads it."""
    there = host.home / folder.relative_to(home)
    top = there
    while not top.parent.exists():
        top = top.parent
    there.mkdir(parents=True)
    shutil.copy(folder / "train.py", there / "train.py")
    # every folder made here belongs to that user, as if they had made it
    subprocess.run(["chown", "-R", f"{host.user}:", str(top)], check=True)
    return there
