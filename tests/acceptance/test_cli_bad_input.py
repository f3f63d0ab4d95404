"""Acceptance tests: the ``meshq`` command line refuses bad input with one
line on stderr and exit status 2, and changes nothing.

As in ``test_cli.py``, every test drives the real CLI (``python -m meshq``)
in a subprocess, on a store of its own, and runs real jobs on this machine.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.cli_support import names_of
from tests.acceptance.conftest import BASE_QUEUE, Meshq

# -- bad input -----------------------------------------------------------------------


def _add(*extra: str, name: str = "new") -> list[str]:
    return [
        "queue",
        "add",
        BASE_QUEUE,
        f"--name={name}",
        "--command=true",
        "--host=localhost",
        *extra,
    ]


BAD_INPUTS = [
    pytest.param(_add(name="job[5-1]"), id="pattern-reversed-range"),
    pytest.param(_add(name="job[1-"), id="pattern-unclosed"),
    pytest.param(_add(name="job]1["), id="pattern-backwards-brackets"),
    pytest.param(_add(name="job[a-c]"), id="pattern-letters"),
    pytest.param(_add(name="job1"), id="duplicate-name"),
    pytest.param(_add(name="job[3-5]"), id="pattern-overlaps-existing"),
    pytest.param(_add(name="x,y,x"), id="pattern-repeats-a-name"),
    pytest.param(["queue", "add", "nope", "--name=x", "--command=true"], id="add-unknown-queue"),
    pytest.param(_add(name="a/b"), id="name-slash"),
    pytest.param(_add(name=".."), id="name-dotdot"),
    pytest.param(_add(name="../x"), id="name-parent"),
    pytest.param(_add(name="a b"), id="name-space"),
    pytest.param(_add(name="a;b"), id="name-semicolon"),
    pytest.param(_add(name="$(x)"), id="name-command-substitution"),
    pytest.param(_add(name=""), id="name-empty"),
    pytest.param(_add("--status=bogus"), id="add-unknown-state"),
    pytest.param(_add("--status=end"), id="add-state-not-a-first-state"),
    pytest.param(
        ["queue", "add", BASE_QUEUE, "--name=new", "--command=true", "--status=ready"],
        id="add-ready-without-host",
    ),
    pytest.param(["queue", "list", BASE_QUEUE, "--status=bogus"], id="list-unknown-state"),
    pytest.param(["queue", "reset", BASE_QUEUE, "--status=bogus"], id="reset-unknown-state"),
    pytest.param(_add("--bogus"), id="add-unknown-option"),
    pytest.param(["queue", "list", BASE_QUEUE, "--frobnicate=1"], id="list-unknown-option"),
    pytest.param(["queue", "nosuchcommand", BASE_QUEUE], id="unknown-command"),
    pytest.param(["queue", "list", BASE_QUEUE, "--output=xml"], id="unknown-output-format"),
    pytest.param(["queue", "add", BASE_QUEUE, "--command=true"], id="add-without-name"),
    pytest.param(_add("--command="), id="add-empty-command"),
    pytest.param(["queue", "run", "fifo", BASE_QUEUE, "--max_parallel=0"], id="max_parallel-0"),
    pytest.param(["queue", "run", "fifo", BASE_QUEUE, "--max-parallel=0"], id="max-parallel-0"),
    pytest.param(
        ["queue", "run", "fifo", BASE_QUEUE, "--max_parallel=two"], id="max_parallel-not-a-number"
    ),
    pytest.param(["queue", "run", "fifo", "nope", "--max_parallel=1"], id="run-unknown-queue"),
    pytest.param(_add("--gpu=0;1"), id="gpu-semicolon"),
    pytest.param(_add("--gpu=$(x)"), id="gpu-substitution"),
    pytest.param(_add("--gpu="), id="gpu-empty"),
    pytest.param(_add("--timeout=abc"), id="timeout-text"),
    pytest.param(_add("--timeout=0"), id="timeout-zero"),
    pytest.param(_add("--timeout=-5"), id="timeout-negative"),
    pytest.param(_add("--timeout=nan"), id="timeout-nan"),
    pytest.param(_add("--shell=bash;id"), id="shell-semicolon"),
    pytest.param(_add("--user=a b"), id="user-space"),
    pytest.param(_add("--host=a;b"), id="host-semicolon"),
    pytest.param(_add("--output=../x.out"), id="output-path"),
    pytest.param(_add("--experiment=/somewhere/else"), id="add-wrong-experiment"),
    pytest.param(["queue", "create", "z", "--experiment=/tmp/a;b"], id="experiment-semicolon"),
    pytest.param(
        ["queue", "create", "z", "--experiment=$(touch pwned)"], id="experiment-substitution"
    ),
    pytest.param(["queue", "create", "z", "--experiment=a/../b"], id="experiment-dotdot"),
    pytest.param(["queue", "create", BASE_QUEUE], id="create-existing-queue"),
    pytest.param(["queue", "create", "a/b"], id="create-bad-queue-name"),
    pytest.param(["queue", "list", "nope"], id="list-unknown-queue"),
    pytest.param(["queue", "status", "nope"], id="status-unknown-queue"),
    pytest.param(["queue", "delete", "nope"], id="delete-unknown-queue"),
    pytest.param(["queue", "delete", BASE_QUEUE, "--name=job9"], id="delete-unknown-job"),
    pytest.param(
        ["queue", "delete", BASE_QUEUE, "--name=job[7-9]"], id="delete-range-matching-no-job"
    ),
    pytest.param(["queue", "reset", BASE_QUEUE, "--name=nojob*"], id="reset-glob-matching-no-job"),
    pytest.param(["queue", "kill", BASE_QUEUE, "--name=job9"], id="kill-unknown-job"),
    pytest.param(["queue", "reset", BASE_QUEUE, "--name=job9"], id="reset-unknown-job"),
    pytest.param(["queue", "show", BASE_QUEUE, "job9"], id="show-unknown-job"),
    pytest.param(["queue", "logs", BASE_QUEUE, "job9"], id="logs-unknown-job"),
    pytest.param(["queue", "logs", BASE_QUEUE, "job1"], id="logs-job-not-run"),
]


def snapshot(mq: Meshq) -> list[Any]:
    """Every queue and every job, as the CLI reports them (read side by side)."""
    commands = [["queues"], ["queue", "list", BASE_QUEUE]]
    procs = [mq.popen(*c, "--output=json") for c in commands]
    out = []
    for command, proc in zip(commands, procs, strict=True):
        rc, stdout, stderr = mq.finish(proc)
        assert rc == 0, f"{command}: {stderr}"
        out.append(json.loads(stdout))
    return out


@pytest.fixture(scope="session")
def base_snapshot(
    _base_store: Path, tmp_path_factory: pytest.TempPathFactory, pycache: Path
) -> list[Any]:
    root = tmp_path_factory.mktemp("base-snapshot")
    shutil.rmtree(root)
    shutil.copytree(_base_store, root)
    cli = Meshq(root, pycache)
    try:
        return snapshot(cli)
    finally:
        cli.cleanup()


def test_base_store_is_what_the_bad_input_tests_expect(base_snapshot: list[Any]) -> None:
    queues, jobs = base_snapshot
    assert [(q["queue"], q["jobs"], q["ready"], q["undefined"]) for q in queues] == [
        ("q", 3, 3, 0),
        ("other", 1, 0, 1),
    ]
    assert names_of(jobs) == ["job1", "job2", "job3"]
    assert {j["status"] for j in jobs} == {"ready"}


@pytest.mark.parametrize("argv", BAD_INPUTS)
def test_bad_input_one_line_exit_2_nothing_changed(
    base_mq: Meshq, base_snapshot: list[Any], argv: list[str]
) -> None:
    done = base_mq(*argv)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"stderr is not one line: {done.stderr!r}"
    assert snapshot(base_mq) == base_snapshot
    assert list(base_mq.work.iterdir()) == [], "a bad input left files in the cwd"
    assert not list(base_mq.home.glob("**/pwned"))
