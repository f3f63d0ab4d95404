"""Hostile input: whatever a user (or a script gone wrong) types, meshq answers
bad input with ONE clear line on stderr and exit status 2, changes nothing,
and never lets a shell on the manager read what was typed.

Two halves:

* the ``meshq`` CLI as a subprocess, fed malformed job files, name patterns
  that expand to millions of names, names and paths with shell characters,
  non-UTF-8 bytes in argv, a command too long to store, unknown options and
  bad ``--after`` lists. Each case runs against a private copy of a small
  store (queue ``q``: job1 ended, job2/job3 ready; queue ``other``: one
  undefined job) and checks the exit status, the one stderr line, that
  ``meshq queues -o json`` and ``meshq queue list Q -o json`` read the same
  before and after, and that no file appeared (cwd, store folder, the
  queues' experiment folders);
* Hypothesis properties through the Python API: any text as a name pattern,
  as ``--input`` and inside a command, as an experiment path, as
  ``--directory`` / ``--pyenv``. Jobs really run (a few hundred ``printf``s
  in all, batched into few runs) and a canary file that hostile text tries
  to create must never appear.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from meshq import paths
from meshq.cli.main import main as meshq_main
from meshq.errors import UsageError
from meshq.model import Status
from meshq.service import Service
from tests.support.cli import MESHQ, TRACEBACK

# -- the CLI half ---------------------------------------------------------------

#: the queues of the base store, and the folders their jobs live in
HQ = "q"
HQ_OTHER = "other"
#: a file some hostile inputs try to create (relative: in the cwd of whatever
#: shell would run them)
PWNED = "pwned"
#: stands for the path of the job file a case writes
FILE = "@FILE@"
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


@dataclass(frozen=True)
class Hostile:
    """One bad input: the arguments, a job file to write first (``@FILE@``
    in the arguments names it), extra environment, a word the error line
    must hold (and one it must not: a wrong reason), and how long the
    refusal may take."""

    argv: tuple[str | bytes, ...]
    yaml: bytes | None = None
    env: tuple[tuple[str, str], ...] = ()
    words: str = ""
    within: float = 30.0
    absent: str = ""


def _add(
    *extra: str | bytes, name: str | bytes = "new", command: str | bytes = "true"
) -> tuple[str | bytes, ...]:
    name_arg = b"--name=" + name if isinstance(name, bytes) else f"--name={name}"
    cmd_arg = b"--command=" + command if isinstance(command, bytes) else f"--command={command}"
    return ("queue", "add", HQ, name_arg, cmd_arg, "--host=localhost", *extra)


def _file(content: str | bytes, words: str = "", within: float = 30.0, absent: str = "") -> Hostile:
    data = content.encode() if isinstance(content, str) else content
    return Hostile(
        ("queue", "add", HQ, f"--file={FILE}"), yaml=data, words=words, within=within, absent=absent
    )


def _laughs() -> bytes:
    """The billion laughs: 9**9 strings if anyone expanded the aliases."""
    lines = ["- &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"- &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    return ("\n".join(lines) + "\n").encode()


_OK_ENTRY = "- name: fine\n  command: echo fine\n  host: localhost\n"
_TEN_MILLION = "job[1-10000000]"
#: one past the largest signed 64-bit integer: what SQLite cannot store
_2_63 = str(2**63)
#: 100,000 characters: an error line quotes 60 of them and the length
_LONG = "a" * 100_000

CLI_CASES = [
    # -- job files: checked whole, nothing of a bad file is added --------------------
    pytest.param(
        _file("jobs:\n  - name: a\n    command: [unclosed\n", "YAML"), id="yaml-syntax-error"
    ),
    pytest.param(_file("jobs:\n\t- name: a\n\t  command: 'true'\n"), id="yaml-tab-indent"),
    pytest.param(
        _file(
            _OK_ENTRY + f"- name: b\n  command: !!python/object/apply:os.system ['touch {PWNED}']\n"
        ),
        id="yaml-python-tag",
    ),
    pytest.param(_file("just some words\n", "list"), id="yaml-top-level-string"),
    pytest.param(_file("42\n", "list"), id="yaml-top-level-number"),
    pytest.param(_file("name: a\ncommand: 'true'\n", "list"), id="yaml-top-level-mapping"),
    pytest.param(_file("jobs:\n  name: a\n  command: 'true'\n", "list"), id="yaml-jobs-mapping"),
    pytest.param(
        _file(
            "jobs:\n" + _OK_ENTRY.replace("- ", "  - ").replace("\n  ", "\n    ") + "extra: 1\n",
            "list",
        ),
        id="yaml-jobs-and-more",
    ),
    pytest.param(_file("", "list"), id="yaml-empty-file"),
    pytest.param(_file("[]\n", "list"), id="yaml-empty-list"),
    pytest.param(_file(_OK_ENTRY + "- just a string\n", "mapping"), id="yaml-entry-string"),
    pytest.param(_file(_OK_ENTRY + "- [a, b]\n", "mapping"), id="yaml-entry-list"),
    pytest.param(_file(_OK_ENTRY + "-\n", "mapping"), id="yaml-entry-null"),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  comand: x\n", "unknown"),
        id="yaml-unknown-field",
    ),
    pytest.param(_file(_OK_ENTRY + "- command: 'true'\n", "name"), id="yaml-missing-name"),
    pytest.param(_file(_OK_ENTRY + "- name: b\n", "command"), id="yaml-missing-command"),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: [echo, hi]\n", "single value"),
        id="yaml-list-command",
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: [b, c]\n  command: 'true'\n", "single value"),
        id="yaml-list-name",
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  host: {a: 1}\n", "single value"),
        id="yaml-mapping-value",
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command:\n", "single value"), id="yaml-null-value"
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: job[5-1]\n  command: 'true'\n", "job[5-1]"),
        id="yaml-pattern-reversed",
    ),
    pytest.param(_file(_OK_ENTRY + "- name: b[1-\n  command: 'true'\n"), id="yaml-pattern-open"),
    pytest.param(
        _file(_OK_ENTRY + "- name: a/b\n  command: 'true'\n", "a/b"), id="yaml-name-slash"
    ),
    pytest.param(
        _file(_OK_ENTRY + f"- name: $(touch {PWNED})\n  command: 'true'\n"),
        id="yaml-name-substitution",
    ),
    pytest.param(
        _file(
            _OK_ENTRY + "- name: 'x[1-3]'\n  command: 'true'\n- name: x2\n  command: 'true'\n",
            "x2",
            absent="already",
        ),
        id="yaml-duplicate-across-entries",
    ),
    pytest.param(
        _file(_OK_ENTRY + _OK_ENTRY, "fine", absent="already"), id="yaml-same-entry-twice"
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: job2\n  command: 'true'\n", "job2"), id="yaml-name-in-queue"
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  timeout: abc\n", "timeout"),
        id="yaml-bad-timeout",
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  gpu: 0;1\n", "gpu"), id="yaml-bad-gpu"
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  status: end\n"), id="yaml-bad-status"
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  after: nope\n", "nope"),
        id="yaml-after-missing",
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  after: b\n"), id="yaml-after-itself"
    ),
    pytest.param(
        _file(_OK_ENTRY.encode() + b"- name: b\n  command: echo \xff\xfe\n", "UTF-8"),
        id="yaml-not-utf8",
    ),
    pytest.param(_file(_OK_ENTRY.encode("utf-16"), "UTF-8"), id="yaml-utf16"),
    pytest.param(_file(_laughs(), "mapping", within=5.0), id="yaml-billion-laughs"),
    pytest.param(
        _file(_OK_ENTRY + "- name: big\n  command: " + "a" * 1_000_000 + "\n", "script"),
        id="yaml-command-1MB",
    ),
    pytest.param(
        _file(b"# " + b"x" * (17 * 2**20) + b"\n", "MiB", within=5.0), id="yaml-over-16MiB"
    ),
    pytest.param(
        Hostile(("queue", "add", HQ, "--file=/nonexistent/jobs.yaml"), words="read"),
        id="yaml-missing-file",
    ),
    pytest.param(Hostile(("queue", "add", HQ, "--file=.")), id="yaml-file-is-a-folder"),
    pytest.param(
        Hostile(
            ("queue", "add", HQ, f"--file={FILE}", "--name=x", "--command=true"),
            yaml=_OK_ENTRY.encode(),
        ),
        id="yaml-and-name-too",
    ),
    # -- name patterns that expand to too many names ---------------------------------
    pytest.param(
        Hostile(_add(name=_TEN_MILLION), words="limit", within=5.0), id="names-10-million"
    ),
    pytest.param(
        Hostile(_add(name="a[1-100000]b[1-100000]"), words="limit", within=5.0),
        id="names-product-10-billion",
    ),
    pytest.param(
        Hostile(_add(name="job[1-6]"), env=(("MESHQ_MAX_NAMES", "5"),), words="limit"),
        id="names-over-MESHQ_MAX_NAMES",
    ),
    pytest.param(
        Hostile(_add(name="a[1-3]b[1-2]"), env=(("MESHQ_MAX_NAMES", "5"),), words="limit"),
        id="names-product-over-MESHQ_MAX_NAMES",
    ),
    pytest.param(
        Hostile(_add(name="job[1-" + "9" * 5000 + "]"), within=5.0), id="names-5000-digit-range"
    ),
    # -- names with path or shell characters -----------------------------------------
    *[
        pytest.param(Hostile(_add(name=name)), id=f"name-{what}")
        for what, name in [
            ("slash", "a/b"),
            ("dotdot", ".."),
            ("parent", "../x"),
            ("dot", "."),
            ("absolute", "/etc/passwd"),
            ("substitution", f"$(touch {PWNED})"),
            ("backticks", f"`touch {PWNED}`"),
            ("semicolon", f"a;touch {PWNED}"),
            ("newline", f"a\ntouch {PWNED}"),
            ("carriage-return", "a\rb"),
            ("tab", "a\tb"),
            ("space", "a b"),
            ("pipe", "a|b"),
            ("ampersand", "a&b"),
            ("redirect", "a>b"),
            ("glob", "*"),
            ("dash", "-rf"),
            ("tilde", "~root"),
            ("dots-inside", "a..b"),
            ("quote", "a'b"),
            ("dollar", "$HOME"),
            ("unicode", "jöb"),
            ("too-long", "a" * 129),
            ("pattern-slash", "x[1-2]/y"),
            ("list-substitution", f"ok,$(touch {PWNED})"),
            ("pattern-repeats", "x,y,x"),
            ("in-queue", "job[3-4]"),
        ]
    ],
    pytest.param(Hostile(("queue", "create", f"$(touch {PWNED})")), id="queue-name-substitution"),
    pytest.param(Hostile(("queue", "create", "a/b")), id="queue-name-slash"),
    pytest.param(Hostile(_add(f"--output=../{PWNED}")), id="output-parent"),
    pytest.param(Hostile(_add(f"--log=$(touch {PWNED})")), id="log-substitution"),
    pytest.param(Hostile(_add(f"--host=a;touch {PWNED}")), id="host-semicolon"),
    pytest.param(Hostile(_add(f"--shell=bash -c 'touch {PWNED}'")), id="shell-with-args"),
    pytest.param(Hostile(_add(f"--user=$(touch {PWNED})")), id="user-substitution"),
    pytest.param(Hostile(_add(f"--gpu=0;touch {PWNED}")), id="gpu-semicolon"),
    # -- experiment paths with shell characters --------------------------------------
    *[
        pytest.param(
            Hostile(("queue", "create", "z", f"--experiment={path}"), words="experiment"),
            id=f"experiment-{what}",
        )
        for what, path in [
            ("semicolon", f"/tmp/a;touch {PWNED}"),
            ("substitution", f"$(touch {PWNED})"),
            ("backticks", f"`touch {PWNED}`"),
            ("pipe", "a|b"),
            ("ampersand", "a&b"),
            ("redirect", f">{PWNED}"),
            ("newline", f"a\ntouch {PWNED}"),
            ("dotdot", "a/../b"),
            ("dollar", "$HOME/x"),
            ("quote", "it's"),
            ("backslash", "a\\b"),
            ("glob", "a*"),
        ]
    ],
    pytest.param(
        Hostile(_add(f"--experiment=$(touch {PWNED})"), words="experiment"),
        id="add-experiment-substitution",
    ),
    # -- non-UTF-8 bytes in argv ---------------------------------------------------------
    pytest.param(Hostile(_add(command=b"echo \xff")), id="bytes-command"),
    pytest.param(Hostile(_add(name=b"x\xff")), id="bytes-name"),
    pytest.param(Hostile(_add(name=b"job[1-2]\xfe")), id="bytes-pattern"),
    pytest.param(Hostile(_add(b"--input=\xff")), id="bytes-input"),
    pytest.param(Hostile(_add(b"--directory=/tmp/\xff")), id="bytes-directory"),
    pytest.param(Hostile(_add(b"--pyenv=\xc3\x28")), id="bytes-pyenv"),
    pytest.param(Hostile(_add(b"--after=job\xff")), id="bytes-after"),
    pytest.param(Hostile(_add(b"--host=\xff")), id="bytes-host"),
    pytest.param(Hostile(_add(b"--\xff")), id="bytes-option"),
    pytest.param(
        Hostile(("queue", "create", "z", b"--experiment=/tmp/\xff")), id="bytes-experiment"
    ),
    pytest.param(Hostile(("queue", "create", b"z\xff")), id="bytes-create-queue-name"),
    pytest.param(
        Hostile(("queue", "add", b"q\xff", "--name=x", "--command=true")), id="bytes-add-queue-name"
    ),
    pytest.param(Hostile(("queue", "list", b"q\xff")), id="bytes-list-queue-name"),
    pytest.param(Hostile(("queue", "status", b"q\xff")), id="bytes-status-queue-name"),
    pytest.param(Hostile(("queue", "show", HQ, b"job\xff")), id="bytes-show-job-name"),
    # -- a command too long to store ---------------------------------------------------
    # (one argv string can hold at most 128 KiB, so 1 MB goes through a job file above)
    pytest.param(Hostile(_add(command="a" * 120_000), words="script"), id="command-120KB"),
    pytest.param(Hostile(_add(command=" \t\n")), id="command-blank"),
    # -- unknown options -----------------------------------------------------------------
    pytest.param(Hostile(_add("--bogus")), id="option-unknown"),
    pytest.param(Hostile(_add("-x")), id="option-unknown-short"),
    pytest.param(Hostile(_add(f"--bogus=$(touch {PWNED})")), id="option-unknown-with-value"),
    pytest.param(Hostile(("queue", "add", HQ, "--command=true", "--name")), id="option-no-value"),
    pytest.param(Hostile(("queue", "create", "z", "--bogus")), id="option-unknown-create"),
    pytest.param(Hostile(("queue", "list", HQ, "--frobnicate=1")), id="option-unknown-list"),
    pytest.param(Hostile(("queue", "run", "fifo", HQ, "--bogus")), id="option-unknown-run"),
    pytest.param(Hostile(("queues", "--bogus")), id="option-unknown-queues"),
    pytest.param(Hostile(("--bogus", "queues")), id="option-unknown-global"),
    pytest.param(Hostile(("queue", f"$(touch {PWNED})")), id="command-unknown"),
    # -- --after naming a missing job, or the job itself ---------------------------------
    pytest.param(Hostile(_add("--after=nope"), words="nope"), id="after-missing"),
    pytest.param(Hostile(_add("--after=job[1-9]")), id="after-partly-missing"),
    pytest.param(Hostile(_add("--after=new"), words="new"), id="after-itself"),
    pytest.param(Hostile(_add("--after=x2", name="x[1-2]")), id="after-itself-in-pattern"),
    pytest.param(Hostile(_add(f"--after=$(touch {PWNED})")), id="after-substitution"),
    pytest.param(Hostile(_add("--after=a/b")), id="after-slash"),
    pytest.param(Hostile(_add("--after=job[3-1]")), id="after-bad-pattern"),
    # -- numbers: each option has an upper bound, and nothing overflows ---------------
    *[
        pytest.param(Hostile(argv, words=words), id=f"number-{what}")
        for what, argv, words in [
            ("retries-2^63", _add(f"--retries={_2_63}"), "0 to 1,000"),
            ("retries-1001", _add("--retries=1001"), "0 to 1,000"),
            ("retries-5000-digits", _add("--retries=" + "9" * 5000), "5,000 characters"),
            ("retries-float", _add("--retries=1.5"), "whole number"),
            ("retries-underscore", _add("--retries=1_0"), "whole number"),
            ("gpus-2^63", _add(f"--gpus={_2_63}"), "1 to 1,024"),
            ("gpus-1025", _add("--gpus=1025"), "1 to 1,024"),
            ("timeout-2^63", _add(f"--timeout={_2_63}"), "31,536,000"),
            ("timeout-past-a-year", _add("--timeout=31536001"), "365 days"),
            ("timeout-inf", _add("--timeout=inf"), "31,536,000"),
            ("create-retries-2^63", ("queue", "create", "z", f"--retries={_2_63}"), "--retries"),
            ("create-timeout-2^63", ("queue", "create", "z", f"--timeout={_2_63}"), "--timeout"),
            ("set-retries-2^63", ("queue", "set", HQ, f"--retries={_2_63}"), "--retries"),
            ("set-timeout-1e400", ("queue", "set", HQ, "--timeout=1e400"), "--timeout"),
            ("max-jobs-2^63", ("hosts", "add", "h1", f"--max_jobs_allowed={_2_63}"), "10,000"),
            ("max-jobs-10001", ("hosts", "add", "h1", "--max-jobs-allowed=10001"), "10,000"),
            ("cpus-2^63", ("hosts", "add", "h1", f"--cpus={_2_63}"), "100,000"),
            ("port-2^63", ("hosts", "add", "h1", f"--port={_2_63}"), "65,535"),
            ("port-5000-digits", ("hosts", "add", "h1", "--port=" + "9" * 5000), "characters"),
            ("port-word", ("hosts", "add", "h1", "--port=ssh"), "whole number"),
            (
                "max-parallel-2^63",
                ("queue", "run", "fifo", HQ, f"--max_parallel={_2_63}"),
                "1 to 10,000",
            ),
            (
                "max-parallel-10001",
                ("queue", "run", "fifo", HQ, "--max-parallel=10001"),
                "1 to 10,000",
            ),
            ("max-parallel-0", ("queue", "run", "fifo", HQ, "--max_parallel=0"), "1 to 10,000"),
            (
                "max-parallel-5000-digits",
                ("queue", "run", "fifo", HQ, "--max_parallel=" + "9" * 5000),
                "characters",
            ),
        ]
    ],
    pytest.param(
        _file(_OK_ENTRY + f"- name: b\n  command: 'true'\n  retries: {_2_63}\n", "retries"),
        id="yaml-retries-2^63",
    ),
    pytest.param(
        _file(_OK_ENTRY + f"- name: b\n  command: 'true'\n  gpus: {_2_63}\n", "gpus"),
        id="yaml-gpus-2^63",
    ),
    pytest.param(
        _file(_OK_ENTRY + f"- name: b\n  command: 'true'\n  timeout: {_2_63}\n", "timeout"),
        id="yaml-timeout-2^63",
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  retries: !!int 2000\n", "retries"),
        id="yaml-tagged-retries-2000",
    ),
    # -- job files that are not files, or never end -----------------------------------
    pytest.param(
        Hostile(("queue", "add", HQ, "--file=/dev/zero"), words="regular file", within=5.0),
        id="file-dev-zero",
    ),
    pytest.param(
        Hostile(("queue", "add", HQ, "--file=/dev/null"), words="regular file"), id="file-dev-null"
    ),
    pytest.param(Hostile(("queue", "add", HQ, "--file=."), words="folder"), id="file-folder"),
    # -- job files: a text field holds text; YAML's other types are refused -----------
    pytest.param(
        _file(_OK_ENTRY + "- name: !!bool yes\n  command: 'true'\n", "name must be text"),
        id="yaml-tagged-bool-name",
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: !!int 16\n", "command must be text"),
        id="yaml-tagged-int-command",
    ),
    pytest.param(
        _file(
            _OK_ENTRY + "- name: b\n  command: 'true'\n  host: !!float 1.5\n", "host must be text"
        ),
        id="yaml-tagged-float-host",
    ),
    pytest.param(
        _file(
            _OK_ENTRY + "- name: b\n  command: 'true'\n  user: !!timestamp 2024-01-01\n",
            "user must be text",
        ),
        id="yaml-tagged-date-user",
    ),
    pytest.param(
        _file(
            _OK_ENTRY + "- name: b\n  command: 'true'\n  gpus: !!bool true\n",
            "gpus must be a number",
        ),
        id="yaml-tagged-bool-gpus",
    ),
    pytest.param(
        _file(_OK_ENTRY + "- name: b\n  command: 'true'\n  retries: 0x10\n", "whole number"),
        id="yaml-hex-retries-is-text",
    ),
    # -- a name pattern one past the documented limit of 1,000,000 names --------------
    pytest.param(
        Hostile(_add(name="n[1-1000001]"), words="1,000,000", within=5.0), id="names-1000001"
    ),
    pytest.param(
        Hostile(_add(name="a[1-1000]b[0-1000]"), words="1,000,000", within=5.0),
        id="names-product-1001000",
    ),
    # -- kill/reset/delete: a glob that matches nothing is an error, as a missing name -
    pytest.param(
        Hostile(("queue", "kill", HQ, "--name=zz*"), words="matches"),
        id="kill-glob-matches-nothing",
    ),
    pytest.param(
        Hostile(("queue", "reset", HQ, "--name=zz?"), words="matches"),
        id="reset-glob-matches-nothing",
    ),
    pytest.param(
        Hostile(("queue", "delete", HQ, "--name=*x*"), words="matches"),
        id="delete-glob-matches-nothing",
    ),
    pytest.param(
        Hostile(("queue", "delete", HQ, "--name=job"), words="has no job"),
        id="delete-part-of-a-name-is-not-a-glob",
    ),
    # -- 100,000 characters of text: the line quotes 60 and says how long it was ------
    *[
        pytest.param(Hostile(argv, words="100,0"), id=f"long-{what}")
        for what, argv in [
            ("name", _add(name=_LONG)),
            ("name-pattern", _add(name=_LONG + "[1-2]")),
            ("name-list", _add(name="ok," + _LONG)),
            ("queue-create", ("queue", "create", _LONG)),
            ("queue-lookup", ("queue", "list", _LONG)),
            ("queue-add", ("queue", "add", _LONG, "--name=x", "--command=true")),
            ("job-lookup", ("queue", "show", HQ, _LONG)),
            ("host", _add(f"--host={_LONG}")),
            ("user", _add(f"--user={_LONG}")),
            ("gpu", _add(f"--gpu={_LONG};")),
            ("shell", _add(f"--shell={_LONG}")),
            ("output", _add(f"--output={_LONG}")),
            ("after", _add(f"--after={_LONG}")),
            ("status", ("queue", "list", HQ, f"--status={_LONG}")),
            ("experiment", ("queue", "create", "z", f"--experiment=a;{_LONG}")),
            ("experiment-check", ("queue", "list", HQ, f"--experiment=/{_LONG}")),
            ("kill-glob", ("queue", "kill", HQ, f"--name={_LONG}*")),
            ("kill-pattern", ("queue", "kill", HQ, f"--name={_LONG}[1-2]")),
            ("hosts-add", ("hosts", "add", f"{_LONG};")),
            ("hosts-add-ip", ("hosts", "add", "h1", f"--ip={_LONG};")),
            ("hosts-gpus", ("hosts", "add", "h1", f"--gpus={_LONG};")),
            ("hosts-delete", ("hosts", "delete", _LONG)),
            ("option", _add(f"--{_LONG}")),
            ("option-value", _add(f"--{_LONG}=x")),
            ("command", ("queue", _LONG)),
            ("extra-argument", ("queues", _LONG)),
            ("max-parallel", ("queue", "run", "fifo", HQ, f"--max_parallel={_LONG}")),
            ("file-path", ("queue", "add", HQ, f"--file=/{_LONG}")),
            ("db-path", ("--db", f"/nonexistent/{_LONG}", "queues")),
        ]
    ],
    pytest.param(
        _file(_OK_ENTRY + f"- name: {_LONG}\n  command: 'true'\n", "100,0"), id="long-yaml-name"
    ),
    # (YAML keys end at 1,024 characters)
    pytest.param(
        _file(_OK_ENTRY + f"- name: b\n  command: 'true'\n  {'a' * 1000}: x\n", "1,000 characters"),
        id="long-yaml-field",
    ),
    pytest.param(
        _file(_OK_ENTRY + f"- name: b\n  command: 'true'\n  gpu: {_LONG};\n", "100,0"),
        id="long-yaml-gpu",
    ),
]


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
    done = hostile_cli(list(_add(name="new[1-5]")), env={"MESHQ_MAX_NAMES": "5"})
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


# -- the API half: Hypothesis properties ------------------------------------------------

#: stands for the canary's absolute path in generated text
CANARY = "@CANARY@"
#: what a job name may look like once stored
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SAFE_PATH_RE = re.compile(r"[\w./+@,:=~ -]+")

#: text that does something when a shell reads it
CANARY_TEXTS = [
    f"$(touch {CANARY})",
    f"`touch {CANARY}`",
    f"; touch {CANARY}",
    f"x; touch {CANARY}; y",
    f"' ; touch {CANARY} ; '",
    f'" ; touch {CANARY} ; "',
    f'"$(touch {CANARY})"',
    f"\ntouch {CANARY}\n",
    f"| touch {CANARY}",
    f"&& touch {CANARY} &",
    f"${{IFS}}touch${{IFS}}{CANARY}",
    f"$'\\n'touch {CANARY}",
    f"%s %n %b \\x41 $(touch {CANARY})",
    f"-e 'touch {CANARY}' -- --",
]

HYPOTHESIS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: any text but NUL (what argv, the store and bash variables can carry)
any_text = st.text(st.characters(exclude_characters="\x00"), max_size=40)
#: text salted with shell syntax that would create the canary
salted = st.builds(
    lambda a, b, c: a + b + c,
    st.text(max_size=4),
    st.sampled_from(CANARY_TEXTS),
    st.text(max_size=4),
)
hostile_text = st.one_of(any_text, salted)


def _tokens(*tokens: str) -> st.SearchStrategy[str]:
    """Text made of ``tokens``: near misses of valid input, valid input too."""
    return st.lists(st.sampled_from(tokens), min_size=1, max_size=6).map("".join)


#: name patterns, mostly good: near misses (leading '-', '..', a name twice)
good_pattern = _tokens(
    "job", "a", "Z", "0", "7", "-", "_", ".", "[1-3]", "[01-02]", "[2,4]", "[0-1]", ","
)
#: name patterns, good and bad, and the characters shells care about
pattern_text = _tokens(
    "job",
    "a",
    "Z",
    "0",
    "7",
    "-",
    "_",
    ".",
    "..",
    "[1-3]",
    "[01-02]",
    "[2,4]",
    "[0-1]",
    "[3-1]",
    "[",
    "]",
    ",",
    "/",
    "~",
    "*",
    " ",
    "$",
    ";",
    "`",
    "(",
    ")",
    "|",
    "&",
    "'",
    "\n",
    "é",
)
#: experiment paths, mostly good
good_path = _tokens("exp", "a b", "run-1", "/", ".", "_", "+", "@", ",", ":", "=", "ü", "~")
#: experiment paths, good and bad
path_text = _tokens(
    "exp",
    "a b",
    "run-1",
    "/",
    ".",
    "..",
    "~",
    "_",
    "+",
    "@",
    ",",
    ":",
    "=",
    "ü",
    "$",
    ";",
    "`",
    "(",
    ")",
    "|",
    "&",
    "'",
    '"',
    "\\",
    "\n",
    "*",
    "?",
)


@dataclass
class HostileApi:
    mq: Service
    root: Path
    canary: Path
    queues: Iterator[int]

    def fresh_queue(self, experiment: str | None = None) -> str:
        name = f"h{next(self.queues)}"
        self.mq.create_queue(name, str(self.root / "exp") if experiment is None else experiment)
        return name

    def salt(self, text: str) -> str:
        return text.replace(CANARY, str(self.canary))

    def run(self, queue: str) -> None:
        asyncio.run(self.mq.run_fifo(queue, max_parallel=8))
        assert not self.mq.jobs(queue, status=[Status.READY, Status.RUN, Status.START])

    def no_canary(self) -> None:
        assert not self.canary.exists()
        assert not list(self.root.rglob("*canary*"))

    @staticmethod
    def out(job: Any) -> bytes:
        return Path(paths.job_paths(job, local=True).stdout).read_bytes()


@pytest.fixture
def hostile_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileApi]:
    """A store of its own; the process's cwd is an empty folder in tmp, so a
    relative path lands there (and a shell acting on text would too)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("MESHQ_INPUT", raising=False)
    monkeypatch.setenv("MESHQ_MAX_NAMES", "1000")
    mq = Service(tmp_path / "db", warn=lambda line: None)
    try:
        yield HostileApi(mq, tmp_path, tmp_path / "canary", itertools.count(1))
    finally:
        mq.close()


@HYPOTHESIS
@given(pattern=st.one_of(any_text, good_pattern, pattern_text, salted))
@example(pattern="job[1-3]")
@example(pattern="a[01-03]b[1-2],c")
@example(pattern="a/b")
@example(pattern="..")
@example(pattern="a..b")
@example(pattern="x[1-2]..")
@example(pattern="-rf")
@example(pattern=".hidden")
@example(pattern="base")
@example(pattern="a,base")
@example(pattern="job[1-2000]")
@example(pattern=f"$(touch {CANARY})")
def test_any_text_as_a_name_pattern(hostile_api: HostileApi, pattern: str) -> None:
    api = hostile_api
    queue = api.fresh_queue()
    api.mq.add(queue, "base", "true")
    before = [(j.name, j.status) for j in api.mq.jobs(queue)]
    try:
        added = api.mq.add(queue, api.salt(pattern), "true", host="localhost")
    except UsageError as err:
        event("pattern refused")
        assert str(err).strip() and "\n" not in str(err).strip()
        assert [(j.name, j.status) for j in api.mq.jobs(queue)] == before
    else:
        event("pattern added")
        stored = [j.name for j in api.mq.jobs(queue)]
        assert stored == ["base", *added]
        for name in stored:
            assert NAME_RE.fullmatch(name) and ".." not in name, name
    api.no_canary()


@HYPOTHESIS
@given(texts=st.lists(hostile_text, min_size=1, max_size=2))
@example(texts=CANARY_TEXTS)
@example(texts=["", " ", "-n", "--", "%s%s", "\\", "'", '"', "\r\n", "\t", "é€😀", "a\x01b\x7f"])
def test_any_text_reaches_the_job_exactly_once(hostile_api: HostileApi, texts: list[str]) -> None:
    """As ``--input`` ($MESHQ_INPUT) and as a quoted word of the command:
    the job prints exactly the text, and nothing else reads it."""
    api = hostile_api
    texts = [api.salt(t) for t in texts]
    queue = api.fresh_queue()
    for i, text in enumerate(texts):
        api.mq.add(queue, f"input{i}", "printf '%s' \"$MESHQ_INPUT\"", host="localhost", input=text)
        api.mq.add(queue, f"word{i}", "printf '%s' " + shlex.quote(text), host="localhost")
    api.run(queue)
    jobs = {j.name: j for j in api.mq.jobs(queue)}
    for i, text in enumerate(texts):
        for name in (f"input{i}", f"word{i}"):
            job = jobs[name]
            assert (job.status, job.exit_code, job.attempts) == (Status.END, 0, 1), job
            assert api.out(job) == text.encode(), (name, text)
    api.no_canary()


@HYPOTHESIS
@given(path=st.one_of(any_text, good_path, path_text, salted))
@example(path="exp")
@example(path="my exp/run-1")
@example(path="a:b=c@d,e+f~g/x.y")
@example(path="ünï/cödé")
@example(path="a/../b")
@example(path="x\ny")
@example(path=f"$(touch {CANARY})")
@example(path=f"`touch {CANARY}`")
@example(path=f"exp;touch {CANARY}")
def test_any_text_as_an_experiment_path(hostile_api: HostileApi, path: str) -> None:
    api = hostile_api
    path = api.salt(path)
    queues = [s.queue.name for s in api.mq.queues()]
    try:
        queue = api.fresh_queue(path)
    except UsageError:
        event("path refused")
        assert [s.queue.name for s in api.mq.queues()] == queues
        api.no_canary()
        return
    experiment = api.mq.queue(queue).experiment
    assert os.path.isabs(experiment), experiment
    assert SAFE_PATH_RE.fullmatch(experiment) and ".." not in experiment.split("/"), experiment
    if path.startswith(("/", "~")):
        event("path accepted, not run")
        api.no_canary()  # runs only where it cannot write outside the test's folder
        return
    assert experiment.startswith(str(api.root / "cwd"))
    api.mq.add(queue, "job", "printf ok", host="localhost")
    api.run(queue)
    job = api.mq.job(queue, "job")
    event(f"path accepted, job {job.status.value}")
    if job.status is Status.END:
        assert api.out(job) == b"ok"
    else:  # a folder name the file system refuses (too long, say)
        assert job.status is Status.FAIL_START and job.error, job
    api.no_canary()


@HYPOTHESIS
@given(texts=st.lists(hostile_text, min_size=1, max_size=2))
@example(texts=CANARY_TEXTS)
@example(texts=["", ".", "~", "/", "/nonexistent", "a b", "-x", "--", "\n", "exp/h1"])
def test_any_text_as_directory_or_pyenv(hostile_api: HostileApi, texts: list[str]) -> None:
    """A job with such a ``--directory`` or ``--pyenv`` runs, or ends
    ``fail_start`` with a reason; the text is never executed."""
    api = hostile_api
    texts = [api.salt(t) for t in texts]
    queue = api.fresh_queue()
    for i, text in enumerate(texts):
        api.mq.add(queue, f"dir{i}", "printf ok", host="localhost", directory=text)
        api.mq.add(queue, f"env{i}", "printf ok", host="localhost", pyenv=text)
    api.run(queue)
    for job in api.mq.jobs(queue):
        event(f"{job.name.rstrip('0123456789')}: {job.status.value}")
        if job.status is Status.END:
            assert api.out(job) == b"ok", job
        else:
            assert job.status is Status.FAIL_START, job
            assert job.error and job.error.strip(), job
    api.no_canary()


# -- a few plain API checks -----------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"command": "a" * 1_000_000}, id="command-1MB"),
        pytest.param({"command": "echo a\x00b"}, id="command-nul"),
        pytest.param({"input": "a\x00b"}, id="input-nul"),
        pytest.param({"directory": "/tmp\x00/x"}, id="directory-nul"),
        pytest.param({"pyenv": "a\x00"}, id="pyenv-nul"),
        pytest.param({"name": "job[1-" + "9" * 5000 + "]"}, id="name-5000-digit-range"),
        pytest.param({"name": "job[1-10000000]"}, id="name-10-million"),
        pytest.param({"after": "job\x00"}, id="after-nul"),
    ],
)
def test_api_refuses_with_a_usage_error_and_changes_nothing(
    hostile_api: HostileApi, fields: dict[str, str]
) -> None:
    api = hostile_api
    queue = api.fresh_queue()
    api.mq.add(queue, "base", "true")
    name, command = fields.pop("name", "new"), fields.pop("command", "true")
    began = time.monotonic()
    with pytest.raises(UsageError) as err:
        api.mq.add(queue, name, command, host="localhost", **fields)
    assert time.monotonic() - began < 5
    assert "\n" not in str(err.value).strip()
    if len(command) > 100_000:
        assert "script" in str(err.value)
    assert [j.name for j in api.mq.jobs(queue)] == ["base"]
