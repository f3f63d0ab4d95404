"""Hostile input: whatever a user (or a script gone wrong) types, meshq answers
bad input with ONE clear line on stderr and exit status 2, changes nothing,
and never lets a shell on the manager read what was typed.

This module is the half that runs the ``meshq`` CLI as a subprocess, fed
malformed job files, name patterns that expand to millions of names, names
and paths with shell characters, non-UTF-8 bytes in argv, a command too
long to store, unknown options and bad ``--after`` lists (the table is
``hostile_cases.py``). Each case runs against a private copy of a small
store (queue ``q``: job1 ended, job2/job3 ready; queue ``other``: one
undefined job) and checks the exit status, the one stderr line, that
``meshq queues -o json`` and ``meshq queue list Q -o json`` read the same
before and after, and that no file appeared (cwd, store folder, the
queues' experiment folders). The Hypothesis properties through the Python
API are ``test_hostile_api.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshq.cli.main import main as meshq_main
from meshq.service import Service
from tests.faults.hostile_cases import CLI_CASES, FILE, HQ, HQ_OTHER, Hostile, add_argv
from tests.support.cli import MESHQ, TRACEBACK

#: the longest error line a refusal may print
MAX_LINE = 400


@dataclass(frozen=True)
class HostileBase:
    """The base store: made once, copied for each case."""

    root: Path
    experiments: tuple[Path, ...]


@pytest.fixture(scope="session")
def hostile_pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-pycache")


@pytest.fixture(scope="session")
def hostile_base(tmp_path_factory: pytest.TempPathFactory) -> HostileBase:
    """``q``: job1 (ran, ``end``), job2 and job3 (``ready`` on localhost);
    ``other``: ``lonely`` (``undefined``), in its own experiment folder."""
    root = tmp_path_factory.mktemp("hostile-base")
    (root / "home").mkdir()
    (root / "work").mkdir()
    exp, elsewhere = root / "work" / "experiment", root / "elsewhere"
    api = Service(root / "home" / "meshq.db")
    try:
        api.create_queue(HQ, str(exp))
        api.add(HQ, "job1", "echo one", host="localhost")
        result = asyncio.run(api.run_fifo(HQ, max_parallel=1))
        assert result.ok, result
        api.add(HQ, "job[2-3]", "echo more", host="localhost")
        api.create_queue(HQ_OTHER, str(elsewhere))
        api.add(HQ_OTHER, "lonely", "true")
    finally:
        api.close()
    assert (exp / HQ / "job1" / "job1.out").read_text() == "one\n"
    return HostileBase(root, (exp, elsewhere))


class HostileCli:
    """``meshq`` run as a subprocess on a private copy of the base store."""

    def __init__(self, base: HostileBase, root: Path, pycache: Path) -> None:
        shutil.copytree(base.root, root)
        self.base = base
        self.root = root
        self.home = root / "home"
        self.work = root / "work"
        self.files = root / "files"
        self.files.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MESHQ_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(MESHQ_HOME=str(self.home), PYTHONPYCACHEPREFIX=str(pycache))
        self.env = env

    def __call__(
        self, argv: list[str | bytes], env: dict[str, str] | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                [*MESHQ, *argv],
                cwd=self.work,
                env={**self.env, **(env or {})},
                capture_output=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise AssertionError(f"meshq {argv!r} ran past {timeout} s") from None

    def json(self, *args: str) -> Any:
        """``meshq --db STORE ARGS --output=json``, in this process (the same
        code as the ``meshq`` command, without a Python start per read)."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = meshq_main(["--db", str(self.home / "meshq.db"), *args, "--output=json"])
        assert status == 0, (args, out.getvalue())
        return json.loads(out.getvalue())

    def snapshot(self) -> list[Any]:
        """Every queue and every job, as ``queues`` and ``queue list`` report them."""
        return [
            self.json("queues"),
            self.json("queue", "list", HQ),
            self.json("queue", "list", HQ_OTHER),
            self.json("hosts", "list"),
        ]

    def files_now(self) -> set[str]:
        """Every file and folder under this copy, the base store and the
        queues' experiment folders (the store's own files aside)."""
        found: set[str] = set()
        for top in (self.root, self.base.root, *self.base.experiments):
            for path in top.rglob("*"):
                if path.parent.name == "home" and path.name.startswith("meshq.db"):
                    continue  # the store itself (a read may add -wal/-shm)
                found.add(str(path))
        return found


@pytest.fixture
def hostile_cli(hostile_base: HostileBase, hostile_pycache: Path, tmp_path: Path) -> HostileCli:
    return HostileCli(hostile_base, tmp_path / "mq", hostile_pycache)


def test_hostile_base_store_is_as_described(hostile_cli: HostileCli) -> None:
    queues, jobs, others, hosts = hostile_cli.snapshot()
    assert [(r["queue"], r["jobs"]) for r in queues] == [(HQ, 3), (HQ_OTHER, 1)]
    assert [(j["name"], j["status"]) for j in jobs] == [
        ("job1", "end"),
        ("job2", "ready"),
        ("job3", "ready"),
    ]
    assert [(j["name"], j["status"]) for j in others] == [("lonely", "undefined")]
    assert hosts == []


@pytest.mark.parametrize("case", CLI_CASES)
def test_hostile_cli_input_is_refused_in_one_line_and_changes_nothing(
    hostile_cli: HostileCli,
    case: Hostile,
) -> None:
    argv: list[str | bytes] = list(case.argv)
    if case.yaml is not None:
        path = hostile_cli.files / "jobs.yaml"
        path.write_bytes(case.yaml)
        argv = [a.replace(FILE, str(path)) if isinstance(a, str) else a for a in argv]
    before, files_before = hostile_cli.snapshot(), hostile_cli.files_now()

    began = time.monotonic()
    done = hostile_cli(argv, env=dict(case.env))
    took = time.monotonic() - began

    err = done.stderr.decode("utf-8", "backslashreplace")
    assert TRACEBACK not in err, err
    assert done.returncode == 2, (done.returncode, done.stdout, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("meshq: error: ") and len(lines[0]) > 20, (
        f"not one clear line: {err[:2000]!r}"
    )
    # user text of any length is quoted shortened: the line stays short
    assert len(lines[0]) <= MAX_LINE, f"a line of {len(lines[0]):,} characters: {lines[0][:500]}"
    assert case.words.lower() in lines[0].lower(), lines[0]
    assert not case.absent or case.absent not in lines[0], f"a wrong reason: {lines[0]}"
    assert done.stdout == b"", done.stdout
    assert took < case.within, f"refused after {took:.1f} s"
    assert hostile_cli.snapshot() == before
    assert hostile_cli.files_now() == files_before


def test_max_names_is_the_only_reason_for_the_refusal(hostile_cli: HostileCli) -> None:
    """The control for the limit cases: at the limit, the pattern is fine."""
    done = hostile_cli(list(add_argv(name="new[1-5]")), env={"MESHQ_MAX_NAMES": "5"})
    assert done.returncode == 0, done.stderr
    assert [j["name"] for j in hostile_cli.json("queue", "list", HQ)][3:] == [
        f"new{i}" for i in range(1, 6)
    ]


def test_hostile_text_runs_as_written_through_the_cli(hostile_cli: HostileCli) -> None:
    """End to end: text a shell would act on travels from argv to the job
    as data; only the job's own shell reads the command, once."""
    canary = hostile_cli.root / "canary"
    weird = (
        f"$(touch {canary}) `touch {canary}` ; touch {canary} | touch {canary} "
        f"&& touch {canary}\n' \" \\ \t $HOME %s %n end"
    )
    cmd = f"printf '%s|' \"$MESHQ_INPUT\" {shlex.quote(weird)}"
    exp = hostile_cli.root / "exp"
    done = hostile_cli(["queue", "create", "w", f"--experiment={exp}"])
    assert done.returncode == 0, done.stderr
    done = hostile_cli(
        [
            "queue",
            "add",
            "w",
            "--name=weird",
            f"--command={cmd}",
            f"--input={weird}",
            "--host=localhost",
        ]
    )
    assert done.returncode == 0, done.stderr
    done = hostile_cli(["queue", "run", "fifo", "w", "--max_parallel=2"])
    assert done.returncode == 0, done.stderr
    done = hostile_cli(["queue", "logs", "w", "weird"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == f"{weird}|{weird}|"
    assert not canary.exists()
    assert not list(hostile_cli.root.rglob("canary*"))
