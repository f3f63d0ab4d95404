"""The README's "From Python" examples run as written: each code block is run
as a script, in order, as a reader would paste them, on a store of the
test's own; the Executor's over two sshd hosts named ``h1`` and ``h2`` that
log in as another user, with a ``~/venv`` there."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import pytest

from tests.support.ci import unavailable
from tests.support.fixtures import ClusterFactory
from tests.support.sshd_user import TEST_USER

ROOT = Path(__file__).resolve().parents[2]
TRAIN = """\
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--seed")
parser.add_argument("--lr")
args = parser.parse_args()
print("trained", args.lr, args.seed)
"""

pytestmark = pytest.mark.timeout(180)


def python_blocks() -> list[str]:
    """The ```python blocks of the README's "From Python" section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## From Python") : text.index("## Development")]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def run_block(code: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 0, f"{code}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHQ_")}
    env["MESHQ_HOME"] = str(tmp_path / "home")
    env["MESHQ_CONFIG"] = str(tmp_path / "no-config.toml")
    # the jobs' python3 must find cloudpickle: this venv's
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def test_the_examples_on_this_machine(tmp_path: Path) -> None:
    blocks = python_blocks()
    assert len(blocks) == 5, "the test knows the README's blocks by their order"
    basics, errors, sweep, _, aio = blocks
    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text(TRAIN)
    env = environment(tmp_path)

    out = run_block(basics, work, env).splitlines()
    assert out[0].startswith("True Counter({<Status.END: 'end'>: 4})"), out
    assert out[1].split()[:3] == ["job1", "end", "0"] and out[1].endswith("trained None 1"), out
    assert out[-1].startswith("['seeds'] ") and out[-1].endswith("+00:00"), out

    assert run_block(errors, work, env).splitlines() == [
        "add() has no argument 'hots': did you mean 'host'?",
        "job seeds job99",
    ]

    out = run_block(sweep, work, env).splitlines()
    assert len(out) == 16 and out[0] == "lr0.1-seed0 {'lr': '0.1', 'seed': '0'}", out

    assert run_block(aio, work, env) == "end trained None 1\n\n"


@pytest.fixture
def venv_on_hosts() -> Iterator[None]:
    """``~/venv`` of the hosts' user: an activate script that puts a copy of
    this machine's cloudpickle on PYTHONPATH (their python3 is this one)."""
    try:
        home = Path(pwd.getpwnam(TEST_USER).pw_dir)
    except KeyError:
        unavailable(f"no user {TEST_USER}")
    venv = home / "venv"
    if venv.exists():
        unavailable(f"{venv} exists: not ours to replace")
    site = venv / "site"
    shutil.copytree(Path(cloudpickle.__file__).parent, site / "cloudpickle")
    (venv / "bin").mkdir()
    (venv / "bin" / "activate").write_text(f'export PYTHONPATH="{site}"\n')
    for path in [venv, *venv.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    try:
        yield
    finally:
        shutil.rmtree(venv, ignore_errors=True)


@pytest.mark.ssh
def test_the_executor_example_on_two_ssh_hosts(
    make_ssh_cluster: ClusterFactory,
    home_experiment: str,
    tmp_path: Path,
    venv_on_hosts: None,
) -> None:
    cluster = make_ssh_cluster(2, name_prefix="h")
    assert cluster.names == ["h1", "h2"]
    executor = python_blocks()[3]
    env = environment(tmp_path)
    env["MESHQ_SSH_CONFIG"] = str(cluster.ssh_config)
    # a folder under the home: ./experiment is ~/…/experiment on the hosts too
    work = Path(home_experiment).parent
    out = run_block(executor, work, env)
    assert out == (
        "[{'lr': 0.1, 'score': 0.9}, {'lr': 0.01, 'score': 0.99}, {'lr': 0.001, 'score': 0.999}]\n"
    )
