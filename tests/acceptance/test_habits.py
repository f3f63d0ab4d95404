"""Habits people bring: change a host or jobs in place (``hosts set``,
``queue set --name``), shell completion, a config file of defaults, and a
question before a whole queue is deleted."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.acceptance.conftest import Meshq, alive
from tests.support.cli import MESHQ
from tests.support.terminal import Terminal


def one_line_exit_2(mq: Meshq, *argv: str, **kw: object) -> str:
    done = mq(*argv, **kw)  # type: ignore[arg-type]
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    (line,) = done.stderr.splitlines()
    return line


# -- hosts set ------------------------------------------------------------------


def test_hosts_set_changes_a_host_in_place(mq: Meshq) -> None:
    mq.ok("hosts", "add", "gpu1", "--ip=10.0.0.20", "--max_jobs_allowed=2")
    mq.ok("hosts", "disable", "gpu1")
    mq.ok("hosts", "set", "gpu1", "--max_jobs_allowed=8", "--gpus=4", "--pyenv=~/ENV3/bin/activate",
          "--user=me")
    (host,) = mq.json("hosts", "list")
    assert (host["max_jobs_allowed"], host["gpu"], host["pyenv"], host["user"]) == (
        8, ["0", "1", "2", "3"], "~/ENV3/bin/activate", "me")
    assert host["ip"] == "10.0.0.20" and host["status"] == "disabled"  # kept
    mq.ok("hosts", "set", "gpu1", "--gpu=1,3", "--pyenv=", "--no-host-key-check")
    (host,) = mq.json("hosts", "list")
    assert (host["gpu"], host["pyenv"], host["host_key_check"]) == (["1", "3"], None, False)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["hosts", "set", "gpu1"], "nothing to set"),
        (["hosts", "set", "nope", "--cpus=2"], "no host 'nope'"),
        (["hosts", "set", "gpu1", "--max_jobs_allowed=0"], "--max_jobs_allowed"),
        (["hosts", "set", "gpu1", "--gpus=0"], "--gpu="),
        (["hosts", "set", "gpu1", "--user=a b"], "user"),
    ],
)
def test_hosts_set_refuses_bad_input_and_changes_nothing(
    mq: Meshq, argv: list[str], says: str
) -> None:
    mq.ok("hosts", "add", "gpu1", "--max_jobs_allowed=2", "--gpu=0")
    before = mq.json("hosts", "list")
    assert says in one_line_exit_2(mq, *argv)
    assert mq.json("hosts", "list") == before


# -- queue set ------------------------------------------------------------------


def test_queue_set_changes_waiting_and_finished_jobs(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "done[1-2]", "echo old")
    mq.ok("queue", "add", "q", "--name=loose[1-2]", "--command=echo old", "--gpus=2")
    mq.ok("queue", "run", "fifo", "q")
    changed = json.loads(mq.ok("queue", "set", "q", "--name=loose*", "--host=localhost",
                               "--command=echo new $MESHQ_JOB", "--timeout=1h30m",
                               "--retries=2", "--gpu=0", "--format=json").stdout)
    assert changed == {"queue": "q", "changed": ["loose1", "loose2"]}
    jobs = {j["name"]: j for j in mq.jobs("q")}
    loose = jobs["loose1"]
    # no host, undefined; given one, ready; --gpu replaces --gpus
    assert (loose["status"], loose["host"], loose["command"]) == (
        "ready", "localhost", "echo new $MESHQ_JOB")
    assert (loose["timeout"], loose["retries"], loose["gpu"], loose["gpus"]) == (
        5400, 2, ["0"], None)
    assert jobs["done1"]["command"] == "echo old"
    mq.ok("queue", "set", "q", "--status=end", "--command=echo again")
    assert {j["command"] for j in mq.jobs("q", "--status=end")} == {"echo again"}
    mq.ok("queue", "run", "fifo", "q")
    assert (mq.experiment() / "q" / "loose2" / "loose2.out").read_text() == "new loose2\n"


def test_queue_set_refuses_a_running_job_and_changes_nothing(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.add_local("q", "busy", "sleep 30")
    mq.add_local("q", "idle", "true", "--status=undefined")
    run = mq.popen("queue", "run", "fifo", "q")
    (job,) = mq.wait_status("q", ["busy"], {"start"})
    def stored() -> list[dict[str, object]]:
        return [{k: v for k, v in j.items() if k != "runtime"} for j in mq.jobs("q")]

    before = stored()
    line = one_line_exit_2(mq, "queue", "set", "q", "--name=*", "--command=echo x")
    assert "busy" in line and "running" in line and "nothing was changed" in line
    assert stored() == before
    assert alive(job["pid"])
    run.kill()


def test_queue_set_without_a_selection_sets_the_queue_defaults_only(mq: Meshq) -> None:
    mq.ok("queue", "create", "q")
    mq.ok("queue", "add", "q", "--name=j", "--command=true")
    out = mq.ok("queue", "set", "q", "--timeout=30m", "--retries=2").stdout
    assert out.strip() == "q: timeout 30m00s, retries 2, policy sequential"
    assert mq.job("q", "j")["timeout"] is None
    line = one_line_exit_2(mq, "queue", "set", "q", "--command=echo x")
    assert "--name" in line and "--command" in line
    line = one_line_exit_2(mq, "queue", "set", "q", "--name=j", "--output=json")
    assert "--format=json" in line
    assert mq.job("q", "j")["command"] == "true"


# -- completion -------------------------------------------------------------------


def complete(mq: Meshq, *words: str) -> list[str]:
    """What bash completion offers for the words typed so far (the last is
    the one being completed), through the script ``meshq completion bash``
    prints, run by a real bash."""
    words_list = " ".join(f"'{w}'" for w in words)
    script = (
        f'eval "$({" ".join(MESHQ)} completion bash)"\n'
        f"COMP_WORDS=({words_list}); COMP_CWORD={len(words) - 1}\n"
        '_meshq_completion meshq; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", "-c", script], env=mq.env, cwd=mq.work,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


@pytest.fixture
def known(mq: Meshq) -> Meshq:
    mq.ok("queue", "create", "sweep")
    mq.ok("queue", "create", "other")
    mq.ok("queue", "add", "sweep", "--name=job[1-3],prep", "--command=true")
    mq.ok("hosts", "add", "red0[1-2]")
    return mq


@pytest.mark.parametrize(
    ("words", "offered"),
    [
        (["meshq", "qu"], ["queue", "queues"]),
        (["meshq", "queue", "su"], ["summary"]),
        (["meshq", "queue", "list", "sw"], ["sweep"]),
        (["meshq", "queue", "list", ""], ["sweep", "other"]),
        (["meshq", "queue", "show", "sweep", "jo"], ["job1", "job2", "job3"]),
        (["meshq", "queue", "reset", "sweep", "--name", "p"], ["prep"]),
        (["meshq", "queue", "reset", "sweep", "--name", "=", ""],
         ["job1", "job2", "job3", "prep"]),
        (["meshq", "queue", "list", "sweep", "--status", "=", "fail,ki"],
         ["fail,kill", "fail,killed"]),
        (["meshq", "queue", "list", "sweep", "--status", "ti"], ["timeout"]),
        (["meshq", "queue", "add", "sweep", "--host", "red"], ["red01", "red02"]),
        (["meshq", "hosts", "set", "r"], ["red01", "red02"]),
        (["meshq", "queue", "list", "sweep", "--format", "j"], ["json", "joblog"]),
    ],
)
def test_bash_completes_commands_queues_jobs_states_and_hosts(
    known: Meshq, words: list[str], offered: list[str]
) -> None:
    assert complete(known, *words) == offered


def test_completion_without_a_store_offers_nothing_and_creates_none(mq: Meshq) -> None:
    assert complete(mq, "meshq", "queue", "list", "") == []
    assert not (mq.home / "meshq.db").exists()


@pytest.mark.parametrize(("shell", "marker"), [("zsh", "#compdef meshq"),
                                               ("fish", "complete --no-files --command meshq")])
def test_zsh_and_fish_scripts(mq: Meshq, shell: str, marker: str) -> None:
    assert marker in mq.ok("completion", shell).stdout


# -- config file ------------------------------------------------------------------


def with_config(mq: Meshq, text: str) -> dict[str, str]:
    path = mq.root / "config.toml"
    path.write_text(text)
    return {**mq.env, "MESHQ_CONFIG": str(path)}


def test_the_config_file_gives_defaults_and_flags_win(mq: Meshq) -> None:
    env = with_config(mq, 'experiment = "runs"\ntimeout = "2h"\nretries = 1\n'
                          'max_parallel = 2\npolicy = "smart"\n')
    created = json.loads(mq.ok("queue", "create", "q", "--format=json", env=env).stdout)
    assert (created["experiment"], created["timeout"], created["retries"]) == (
        str(mq.work / "runs"), 7200, 1)
    flags = json.loads(mq.ok("queue", "create", "r", "--retries=0", "--experiment=x",
                             "--format=json", env=env).stdout)
    assert (flags["experiment"], flags["retries"]) == (str(mq.work / "x"), 0)
    assert "[default: 2" in mq.ok("queue", "run", "fifo", "--help", env=env).stdout
    assert "[default: smart]" in mq.ok("queue", "run", "fifo_multi", "--help", env=env).stdout
    # the -j of the file is the one a run keeps to
    spans = mq.work / "spans.txt"
    mq.add_local("q", "j[1-4]", f'echo start >> {spans}; sleep 0.4; echo end >> {spans}')
    mq.ok("queue", "run", "fifo", "q", env=env, timeout=60)
    running = most = 0
    for line in spans.read_text().split():
        running += 1 if line == "start" else -1
        most = max(most, running)
    assert most == 2


def test_the_xdg_config_home_file_is_read(mq: Meshq) -> None:
    (mq.root / "xdg" / "meshq").mkdir(parents=True)
    (mq.root / "xdg" / "meshq" / "config.toml").write_text("retries = 3\n")
    env = {k: v for k, v in mq.env.items() if k != "MESHQ_CONFIG"}
    env["XDG_CONFIG_HOME"] = str(mq.root / "xdg")
    assert json.loads(mq.ok("queue", "create", "q", "--format=json", env=env).stdout)[
        "retries"] == 3


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("max_paralel = 3\n", "did you mean 'max_parallel'"),
        ('policy = "fastest"\n', "sequential, random, smart, frugal"),
        ('timeout = "soon"\n', "timeout"),
        ("max_parallel = 0\n", "1 or more"),
        ("retries = \n", "TOML"),
    ],
)
def test_a_bad_config_file_is_one_line_on_any_command(mq: Meshq, text: str, says: str) -> None:
    env = with_config(mq, text)
    for argv in (["queues"], ["queue", "create", "q"]):
        line = one_line_exit_2(mq, *argv, env=env)
        assert "config.toml" in line and says in line
    assert mq.queues() == []


# -- delete a whole queue -----------------------------------------------------------


@pytest.fixture
def doomed(mq: Meshq) -> Meshq:
    mq.ok("queue", "create", "q")
    mq.ok("queue", "add", "q", "--name=j[1-3]", "--command=true")
    return mq


@pytest.mark.parametrize(("answer", "rc", "kept"), [(b"n\n", 1, True), (b"\n", 1, True),
                                                   (b"y\n", 0, False)])
def test_deleting_a_queue_at_a_terminal_asks_first(
    doomed: Meshq, answer: bytes, rc: int, kept: bool
) -> None:
    term = Terminal(("queue", "delete", "q"), cols=80, rows=24, env=doomed.env, cwd=doomed.work)
    term.wait_for(lambda text: "delete queue q and its 3 job(s)? [y/N]" in text, 20, "the question")
    term.type(answer)
    result = term.finish(timeout=20)
    assert result.returncode == rc, result.text
    assert [q["queue"] for q in doomed.queues()] == (["q"] if kept else [])


def test_deleting_a_queue_off_a_terminal_needs_yes(doomed: Meshq) -> None:
    line = one_line_exit_2(doomed, "queue", "delete", "q")
    assert "--yes" in line
    assert [q["queue"] for q in doomed.queues()] == ["q"]
    doomed.ok("queue", "delete", "q", "--name=j1")  # a selection is not asked about
    doomed.ok("queue", "delete", "q", "-y")
    assert doomed.queues() == []


