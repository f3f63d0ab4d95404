"""Reading Slurm's client commands, on output captured from the real Slurm 22.05
(Debian's slurm-wlm) of the test cluster (``tests/support/slurm.py``), and writing
sbatch options."""

from __future__ import annotations

import pytest

from meshq.hosts import slurmtext
from meshq.hosts.slurmtext import ClusterSettings, RemoteState
from meshq.model import Job, Status

# squeue -h -r -t all -o '%i|%T|%r': an array's waiting tasks, a held one, a plain job
# that failed, a node failure, and a one-task array cancelled while it waited (Slurm
# then shows it under the array's own id)
SQUEUE = """\
1_0|PENDING|None
1_1|PENDING|Priority
11_998|PENDING|JobHeldUser
2|FAILED|NonZeroExitCode
8|NODE_FAIL|NodeDown
1_3|COMPLETED|None
4_0|RUNNING|None
1|CANCELLED|None
"""
# sacct -c -n -P -X -o JobID,State,ExitCode (the jobcomp file of a cluster without a
# database); a cluster with one writes who cancelled
SACCT = """\
2|FAILED|3:0
1|COMPLETED|0:0
7|CANCELLED by 0|0:15
"""
SINFO = "debug*|up|0/1/0/1|(null)\nshort|up|0/1/0/1|(null)\n"
# the same cluster with four GPUs, two nodes' worth of jobs running
SINFO_GPUS = "debug*|up|1/0/0/1|gpu:4\nshort|up|1/0/0/1|gpu:4\n"
CONFIG = """\
Configuration data as of 2026-11-30T03:11:30
AccountingStorageBackupHost = (null)
KillWait                = 5 sec
MaxArraySize            = 1001
MaxJobCount             = 10000
MinJobAge               = 600 sec
"""


def test_squeue_lines_become_states_and_reasons() -> None:
    states = slurmtext.parse_squeue(SQUEUE + "slurm_load_jobs error: Invalid job id specified\n")
    assert states["1_1"] == RemoteState("PENDING", "Priority")
    assert states["1_1"].label == "PENDING (Priority)" and states["1_1"].waiting
    assert states["1_0"].label == "PENDING"  # no reason worth showing
    assert states["4_0"].label == "RUNNING" and not states["4_0"].finished
    assert states["2"].label == "FAILED" and states["2"].finished
    assert states["2"].lost is None  # the command failed on its own
    assert "error" not in " ".join(states)


def test_states_that_mean_slurm_lost_the_job() -> None:
    states = slurmtext.parse_squeue(SQUEUE)
    assert states["8"].lost == "Slurm says NODE_FAIL: its node failed"
    assert states["1"].lost is not None and "scancel" in states["1"].lost
    for state in ("PREEMPTED", "BOOT_FAIL", "TIMEOUT"):
        assert RemoteState(state).lost is not None
    for state in ("COMPLETED", "FAILED", "OUT_OF_MEMORY", "RUNNING", "PENDING"):
        assert RemoteState(state).lost is None


def test_sacct_keeps_the_state_word() -> None:
    states = slurmtext.parse_sacct(SACCT)
    assert states == {
        "2": RemoteState("FAILED"),
        "1": RemoteState("COMPLETED"),
        "7": RemoteState("CANCELLED"),
    }


def test_squeue_that_knows_none_of_the_ids() -> None:
    assert slurmtext.unknown_ids("slurm_load_jobs error: Invalid job id specified\n")
    assert not slurmtext.unknown_ids("squeue: error: Unable to contact slurm controller")


def test_max_array_size_from_the_config() -> None:
    assert slurmtext.max_array_size(CONFIG) == 1001
    assert slurmtext.max_array_size(CONFIG.replace("1001", "40001")) == 40001
    assert slurmtext.max_array_size("") == slurmtext.DEFAULT_MAX_ARRAY


def test_sinfo_partitions_nodes_and_gpus() -> None:
    parts = slurmtext.parse_sinfo(SINFO)
    assert [(p.name, p.default, p.idle, p.total, p.gpus) for p in parts] == [
        ("debug", True, 1, 1, 0),
        ("short", False, 1, 1, 0),
    ]
    assert slurmtext.describe(parts) == (
        "debug*: 1 node(s) (0 alloc, 1 idle, 0 other); short: 1 node(s) (0 alloc, 1 idle, 0 other)"
    )
    busy = slurmtext.parse_sinfo(SINFO_GPUS)
    assert [(p.allocated, p.idle, p.gpus) for p in busy] == [(1, 0, 4), (1, 0, 4)]
    # a GPU partition whose nodes differ in GPUs comes as two lines (Slurm's %G forms)
    gpu = slurmtext.parse_sinfo("gpu|up|2/1/0/3|gpu:a100:4(S:0-1)\ngpu|up|0/0/1/1|gpu:2\n")
    assert [(p.allocated, p.idle, p.other, p.total, p.gpus) for p in gpu] == [(2, 1, 1, 4, 14)]
    assert slurmtext.describe(gpu) == "gpu: 4 node(s) (2 alloc, 1 idle, 1 other), 14 GPU(s)"
    assert slurmtext.describe([]) == "no partitions"


@pytest.mark.parametrize(
    ("seconds", "minutes"), [(None, None), (1, "2"), (55, "2"), (56, "3"), (3600, "62")]
)
def test_time_limit_leaves_meshqs_limit_room_to_fire_first(
    seconds: float | None, minutes: str | None
) -> None:
    assert slurmtext.time_limit(seconds, grace=5) == minutes


@pytest.mark.parametrize("word", ["--mem=4G", "--constraint=a100", "-c4", "--exclusive"])
def test_sbatch_options_that_are_fine(word: str) -> None:
    assert slurmtext.check_option(word) is None


@pytest.mark.parametrize(
    ("word", "why"),
    [
        ("mem=4G", "give an sbatch option"),
        ("--array=1-3", "--array"),
        ("-o/tmp/x", "-o"),
        ("--requeue", "--retries"),
        ("--time=10", "--timeout"),
        ("--wrap=true", "--wrap"),
        ("--mem=1\n--wrap=x", "one line"),
    ],
)
def test_sbatch_options_meshq_sets_itself_are_refused(word: str, why: str) -> None:
    reason = slurmtext.check_option(word)
    assert reason is not None and why in reason


def _job(**fields: object) -> Job:
    base: dict[str, object] = {
        "id": 1,
        "queue": "sweep",
        "name": "j1",
        "index": "1",
        "command": "true",
        "shell": "bash",
        "directory": None,
        "input": None,
        "output": "j1.out",
        "log": "j1.log",
        "gpu": None,
        "pyenv": None,
        "user": None,
        "host": "hpc",
        "timeout": None,
        "status": Status.RUN,
        "exit_code": None,
        "pid": None,
        "pstart": None,
        "attempts": 1,
        "submitted": 0.0,
        "started": None,
        "ended": None,
        "error": None,
    }
    base.update(fields)
    return Job(**base)  # type: ignore[arg-type]


def test_sbatch_words_of_a_job_on_a_cluster() -> None:
    settings = ClusterSettings(partition="gpu", account="lab", qos="high", extra=("--mem=4G",))
    words = slurmtext.sbatch_words(settings, _job(gpus=2, timeout=120), grace=5)
    assert words == (
        "--job-name=meshq-sweep",
        "--partition=gpu",
        "--account=lab",
        "--qos=high",
        "--gres=gpu:2",
        "--time=4",
        "--mem=4G",
    )
    assert slurmtext.sbatch_words(ClusterSettings(), _job(), grace=5) == ("--job-name=meshq-sweep",)


def test_id_lists_stay_under_the_argument_limit() -> None:
    ids = [f"12345_{i}" for i in range(30_000)]
    words = slurmtext.id_lists(ids, limit=100_000)
    assert all(len(w) <= 100_000 for w in words) and len(words) > 1
    assert ",".join(words).split(",") == ids
    assert slurmtext.id_lists([]) == []
