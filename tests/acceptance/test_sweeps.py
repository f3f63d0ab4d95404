"""Sweeps from the command line and from a job file: one job per
combination, readable names, each value in the command (quoted) and in the
job's environment, and in ``queue show`` and JSON."""

from __future__ import annotations

import json
import textwrap

from tests.acceptance.conftest import Meshq


def test_queue_add_grid_makes_one_job_per_combination(mq: Meshq) -> None:
    mq.ok("queue", "create", "s")
    done = mq.ok(
        "queue", "add", "s", "--grid", "lr=0.1,0.01", "--grid", "seed=1-3", "--host=localhost",
        "--command=echo lr={lr} seed={seed} env=$MESHQ_PARAM_LR,$MESHQ_PARAM_SEED",
    )
    assert "added 6 job(s)" in done.stdout
    jobs = mq.jobs("s")
    assert [j["name"] for j in jobs] == [
        "lr0.1-seed1", "lr0.1-seed2", "lr0.1-seed3", "lr0.01-seed1", "lr0.01-seed2",
        "lr0.01-seed3",
    ]
    assert jobs[4]["params"] == {"lr": "0.01", "seed": "2"}
    assert jobs[4]["command"] == "echo lr=0.01 seed=2 env=$MESHQ_PARAM_LR,$MESHQ_PARAM_SEED"
    mq.ok("queue", "run", "fifo", "s", "-j", "3")
    out = mq.ok("queue", "logs", "s", "lr0.01-seed2").stdout
    assert out == "lr=0.01 seed=2 env=0.01,2\n"
    shown = json.loads(mq.ok("queue", "show", "s", "lr0.01-seed2", "--format=json").stdout)
    assert shown["params"] == {"lr": "0.01", "seed": "2"}
    table = mq.ok("queue", "show", "s", "lr0.01-seed2").stdout
    assert any(line.split() == ["params", "lr=0.01", "seed=2"] for line in table.splitlines())


def test_a_grid_value_is_data_never_shell_text(mq: Meshq) -> None:
    mq.ok("queue", "create", "s")
    evil = "x; touch pwned; $(touch pwned2)"
    mq.ok("queue", "add", "s", f"--grid=v={evil}", "--name=r-{index}", "--host=localhost",
          "--command=printf '%s|%s' {v} \"$MESHQ_PARAM_V\"")
    mq.ok("queue", "run", "fifo", "s")
    assert mq.ok("queue", "logs", "s", "r-1").stdout == f"{evil}|{evil}"
    assert not list(mq.work.rglob("pwned*"))


def test_a_job_file_sweep(mq: Meshq) -> None:
    mq.ok("queue", "create", "s")
    (mq.work / "jobs.yaml").write_text(textwrap.dedent(
        """
        - name: prep
          command: echo prep
          host: localhost
        - name: lr-sweep
          command: echo {lr} {seed}
          host: localhost
          after: prep
          grid:
            lr: [0.1, 0.01]
            seed: 1-2
        """
    ))
    mq.ok("queue", "add", "s", "--file=jobs.yaml")
    assert [j["name"] for j in mq.jobs("s")] == [
        "prep", "lr-sweep-lr0.1-seed1", "lr-sweep-lr0.1-seed2", "lr-sweep-lr0.01-seed1",
        "lr-sweep-lr0.01-seed2",
    ]
    mq.ok("queue", "run", "fifo", "s", "-j", "2")
    assert mq.ok("queue", "logs", "s", "lr-sweep-lr0.01-seed1").stdout == "0.01 1\n"


def test_bad_sweeps_get_one_line_and_add_nothing(mq: Meshq) -> None:
    mq.ok("queue", "create", "s")
    for args, words in [
        (("--grid", "lr=0.1", "--command=echo {nope}"), "names {nope}, which is no sweep"),
        (("--grid", "lr", "--command=echo"), "write NAME=VALUES"),
        (("--grid", "seed=8-1", "--command=echo"), "goes down"),
        (("--grid", "lr=1", "--name=job[1-2]", "--command=echo"), "invalid"),
        (("--grid", "lr=1"), "give --command with --grid"),
    ]:
        done = mq("queue", "add", "s", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and words in done.stderr, (args, done.stderr)
    assert mq.jobs("s") == []
