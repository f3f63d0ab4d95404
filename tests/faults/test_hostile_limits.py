"""Hostile input, second part: the limits meshq documents are the real ones,
job files mean what they say, a store path typed wrong is an error, and the
store is private.

The refusals themselves (numbers past their bounds, ``/dev/zero`` as a job
file, 100,000-character names, a glob that matches nothing) are cases of
``hostile_cases.py``'s table, which ``test_hostile_input.py`` runs,
checking the one line, exit status 2 and the unchanged store. This module
holds what needs more than one command: the controls at each bound, what
a job file's scalars become, the ``--db`` folder, the names limit at
1,000,000, the globs of kill, reset and delete, and the modes of the files
meshq creates. Every check runs the real ``meshq`` CLI as a subprocess on
a real SQLite file.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshq.errors import UsageError
from meshq.service import Service
from tests.faults.helpers import Cli
from tests.support.cli import require_success, run_meshq


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, for this process and the meshq processes it starts:
    meshq's own files must be private whatever it is, job files follow it."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single ``meshq: error:`` line of a refusal with exit status 2."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("meshq: error: "), done.stderr
    assert done.stdout == ""
    return lines[0]


def state(cli: Cli, *queues: str) -> list[Any]:
    """Everything a refusal must leave as it was: queues, jobs, hosts."""
    return [
        cli.json("queues"),
        cli.json("hosts", "list"),
        *(cli.json("queue", "list", q) for q in queues),
    ]


# -- 7. numbers: each bound is taken, one past it is refused (see the table) ----


def test_numbers_at_their_documented_bounds_are_taken(cli: Cli, tmp_path: Path) -> None:
    cli.ok(
        "queue",
        "create",
        "q",
        f"--experiment={tmp_path / 'exp'}",
        "--retries=1000",
        "--timeout=31536000",
    )
    cli.ok(
        "queue",
        "add",
        "q",
        "--name=edge",
        "--command=true",
        "--retries=1000",
        "--gpus=1024",
        "--timeout=31536000",
    )
    cli.ok(
        "queue",
        "add",
        "q",
        "--name=small",
        "--command=true",
        "--host=localhost",
        "--retries=0",
        "--timeout=0.5",
    )
    cli.ok("hosts", "add", "h1", "--max_jobs_allowed=10000", "--cpus=100000", "--port=65535")
    cli.ok("queue", "set", "q", "--retries=1000", "--timeout=31536000")
    done = cli.ok("queue", "run", "fifo", "q", "--max_parallel=10000")
    assert "1 end" in done.stderr, done.stderr

    jobs = cli.jobs("q")
    assert (jobs["edge"]["retries"], jobs["edge"]["gpus"], jobs["edge"]["timeout"]) == (
        1000,
        1024,
        31536000.0,
    )
    assert jobs["small"]["status"] == "end"
    [host] = cli.json("hosts", "list")
    assert (host["name"], host["port"], host["slots_free"]) == ("h1", 65535, 10000)


# -- 7. job files: scalars are the text written --------------------------------------


def test_job_file_scalars_are_the_text_written(cli: Cli, tmp_path: Path) -> None:
    """YAML 1.1 would make ``yes`` a boolean (the job ``True``), ``0x10`` the
    number 16 and ``2024-01-01`` a date; numbers still work where numbers
    are expected."""
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(
        "- name: yes\n  command: 0x10\n"
        "- name: no\n  command: 2024-01-01\n  retries: 3\n  timeout: 3600\n  gpus: 2\n"
        "- name: on\n  command: 1e3\n  timeout: 1.5e3\n"
        "- name: '007'\n  command: 0o17 ~ .inf\n  retries: !!int 2\n"
        "- name: off\n  command: echo 1_000\n  host: localhost\n  retries: '1'\n"
    )
    cli.ok("queue", "create", "q", f"--experiment={tmp_path / 'exp'}")
    cli.ok("queue", "add", "q", f"--file={jobs}")
    got = {
        n: (j["command"], j["retries"], j["timeout"], j["gpus"], j["status"])
        for n, j in cli.jobs("q").items()
    }
    assert got == {
        "yes": ("0x10", None, None, None, "undefined"),
        "no": ("2024-01-01", 3, 3600.0, 2, "undefined"),
        "on": ("1e3", None, 1500.0, None, "undefined"),
        "007": ("0o17 ~ .inf", 2, None, None, "undefined"),
        "off": ("echo 1_000", 1, None, None, "ready"),
    }


# -- 7. a job file that is a pipe is refused, not waited on ----------------------------


def test_a_fifo_as_job_file_is_refused_at_once(cli: Cli, tmp_path: Path) -> None:
    fifo = tmp_path / "jobs.fifo"
    os.mkfifo(fifo)
    cli.ok("queue", "create", "q", f"--experiment={tmp_path / 'exp'}")
    before = state(cli, "q")
    line = one_error_line(cli("queue", "add", "q", f"--file={fifo}", timeout=10))
    assert "not a regular file" in line and str(fifo) in line, line
    assert state(cli, "q") == before


# -- 7. --db / MESHQ_DB: a folder that does not exist is a typo ---------------------------


@pytest.mark.parametrize("how", ["--db", "MESHQ_DB"])
@pytest.mark.parametrize("command", [("queues",), ("queue", "create", "q")])
def test_a_named_store_in_a_missing_folder_is_refused(
    cli: Cli, tmp_path: Path, how: str, command: tuple[str, ...]
) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    db = missing / "x.db"
    env = {"MESHQ_DB": str(db)} if how == "MESHQ_DB" else {}
    args = (f"--db={db}", *command) if how == "--db" else command
    line = one_error_line(cli(*args, env=env))
    assert f"({how})" in line, line
    assert f"mkdir -p {missing}" in line, line
    assert not (tmp_path / "no").exists()  # nothing made, not even the first folder


def test_a_named_store_that_is_a_folder_is_refused(cli: Cli, tmp_path: Path) -> None:
    line = one_error_line(cli(f"--db={tmp_path}", "queues"))
    assert "is a folder" in line and f"{tmp_path}/meshq.db" in line, line
    # nothing made but the test's own folders (its work folder is elsewhere)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "logs"]


def test_a_named_store_in_an_existing_folder_is_made_private(
    cli: Cli, tmp_path: Path, umask_022: None
) -> None:
    (tmp_path / "folder").mkdir()
    db = tmp_path / "folder" / "mine.db"
    cli.ok(f"--db={db}", "queue", "create", "q")
    assert mode(db) == 0o600
    assert mode(db.parent) == 0o755  # the user's folder: left as it is


def test_the_api_refuses_a_store_in_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        Service(tmp_path / "missing" / "x.db")
    assert not (tmp_path / "missing").exists()


# -- 8. the names limit is the documented 1,000,000 --------------------------------------


def test_a_pattern_of_100001_names_is_added(cli: Cli, tmp_path: Path) -> None:
    """python-hostlist stops at 100,000 names of one bracket unless told
    otherwise; meshq's limit is the one that counts."""
    cli.ok("queue", "create", "big", f"--experiment={tmp_path / 'exp'}")
    done = cli.ok("queue", "add", "big", "--name=n[1-100001]", "--command=true")
    assert done.stdout.strip() == "added 100001 job(s) to big: n[1-100001]"
    [summary] = cli.json("queues")
    assert summary["jobs"] == summary["undefined"] == 100_001
    tail = cli.json("queue", "list", "big", "--name=n[99998-1000000]")
    assert [j["name"] for j in tail] == ["n99998", "n99999", "n100000", "n100001"]


@pytest.mark.parametrize("pattern", ["x[1-1000000]", "a[1-1000]b[1-1000]", "x[0-999999]"])
def test_a_pattern_of_exactly_1000000_names_is_taken(
    cli: Cli, tmp_path: Path, pattern: str
) -> None:
    """The edge without storing a million jobs: ``queue list --name``
    expands the whole pattern (every name checked), then looks the names
    up; one more name is refused (a case of the hostile-input table)."""
    cli.ok("queue", "create", "q", f"--experiment={tmp_path / 'exp'}")
    cli.ok("queue", "add", "q", "--name=x[1-3],a1b1000", "--command=true")
    names = [j["name"] for j in cli.json("queue", "list", "q", f"--name={pattern}")]
    assert (
        names
        == {
            "x[1-1000000]": ["x1", "x2", "x3"],
            "a[1-1000]b[1-1000]": ["a1b1000"],
            "x[0-999999]": ["x1", "x2", "x3"],
        }[pattern]
    )
    line = one_error_line(cli("queue", "list", "q", f"--name={pattern},y"))
    assert "1,000,001 names, more than the limit of 1,000,000" in line, line


# -- 8. kill, reset and delete take the globs list takes --------------------------------


def test_kill_reset_and_delete_take_the_globs_that_list_takes(cli: Cli, tmp_path: Path) -> None:
    cli.ok("queue", "create", "q", f"--experiment={tmp_path / 'exp'}")
    cli.ok("queue", "add", "q", "--name=k1,k2,kk,other", "--command=true", "--host=localhost")
    cli.ok("queue", "run", "fifo", "q", "--max_parallel=4")
    assert set(cli.statuses("q").values()) == {"end"}
    listed = [j["name"] for j in cli.json("queue", "list", "q", "--name=k?")]
    assert listed == ["k1", "k2", "kk"]

    done = cli.ok("queue", "reset", "q", "--name=k?")
    assert sorted(line.split("\t")[0] for line in done.stdout.splitlines()) == listed
    assert cli.statuses("q") == {"k1": "ready", "k2": "ready", "kk": "ready", "other": "end"}

    done = cli.ok("queue", "kill", "q", "--name=k*")  # none of them runs
    assert done.stdout == "" and "no job was running" in done.stderr

    done = cli.ok("queue", "delete", "q", "--name=k[1-2]")  # a pattern, as before
    assert done.stdout.strip() == "deleted 2 job(s) from q"
    done = cli.ok("queue", "delete", "q", "--name=*k")
    assert done.stdout.strip() == "deleted 1 job(s) from q"
    assert cli.statuses("q") == {"other": "end"}

    # a plain name is that job only, never every name that holds it
    before = state(cli, "q")
    line = one_error_line(cli("queue", "delete", "q", "--name=othe"))
    assert "has no job 'othe'" in line, line
    line = one_error_line(cli("queue", "reset", "q", "--name=k*"))
    assert "matches" in line and "'k*'" in line, line
    assert state(cli, "q") == before


# -- 9. private by default ------------------------------------------------------------


def test_a_new_data_folder_and_store_are_private(tmp_path: Path, umask_022: None) -> None:
    """The default data folder (``$XDG_DATA_HOME/meshq``, or ``MESHQ_HOME``)
    is made 0700 and the store 0600; a parent meshq makes on the way keeps
    the umask, and so do the job files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHQ_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg" / "share")
    exp = tmp_path / "exp"
    data = tmp_path / "xdg" / "share" / "meshq"
    db = data / "meshq.db"
    # the job looks at the store's files while the run holds the store open
    look = f"stat -c '%a %n' {shlex.quote(str(db))}-wal {shlex.quote(str(db))}-shm"
    for args in (
        ("queue", "create", "q", f"--experiment={exp}"),
        ("queue", "add", "q", "--name=look", f"--command={look}", "--host=localhost"),
        ("queue", "run", "fifo", "q"),
    ):
        done = run_meshq(args, cwd=tmp_path, env=env, timeout=90)
        require_success(done, args)
        assert "warning" not in done.stderr, done.stderr
    assert mode(data) == 0o700
    assert mode(data.parent) == 0o755
    assert mode(db) == 0o600

    done = run_meshq(("queue", "logs", "q", "look"), cwd=tmp_path, env=env, timeout=90)
    require_success(done, ("queue", "logs"))
    assert done.stdout.split() == ["600", f"{db}-wal", "600", f"{db}-shm"], done.stdout
    job_dir = exp / "q" / "look"
    assert mode(job_dir) == 0o755 and mode(job_dir / "look.out") == 0o644

    home = tmp_path / "home" / "meshq"  # MESHQ_HOME too
    env["MESHQ_HOME"] = str(home)
    require_success(run_meshq(("queues",), cwd=tmp_path, env=env, timeout=90), ("queues",))
    assert (mode(home), mode(home / "meshq.db")) == (0o700, 0o600)


@pytest.mark.parametrize("loose", [0o644, 0o660, 0o606], ids=["0644", "0660", "0606"])
def test_an_open_store_is_warned_about_once_per_command(
    cli: Cli, tmp_path: Path, loose: int
) -> None:
    cli.ok("queue", "create", "q", f"--experiment={tmp_path / 'exp'}")
    assert mode(cli.db) == 0o600
    cli.db.chmod(loose)
    for args in (
        ("queues",),
        ("queue", "add", "q", "--name=a", "--command=true", "--host=localhost"),
        ("queue", "run", "fifo", "q"),
    ):
        done = cli.ok(*args)
        warnings = [line for line in done.stderr.splitlines() if "warning" in line]
        assert len(warnings) == 1, done.stderr
        assert warnings[0].startswith(f"meshq: warning: the store {cli.db} can be read or "), (
            warnings[0]
        )
        assert f"(mode {loose:04o})" in warnings[0]

    # the fix the warning gives is a command that works, and then it is quiet
    fix = re.search(r"'(chmod 600 [^']+)'", warnings[0])
    assert fix is not None and str(cli.db) in fix.group(1), warnings[0]
    subprocess.run(["sh", "-c", fix.group(1)], check=True)
    assert mode(cli.db) == 0o600
    done = cli.ok("queues")
    assert done.stderr == "", done.stderr
