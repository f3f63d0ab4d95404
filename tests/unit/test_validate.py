"""Checks on what users type."""

from __future__ import annotations

import os

import pytest

from meshq.errors import UsageError
from meshq.model import Status
from meshq.validate import MAX_COMMAND_BYTES, command, experiment_path, job_spec, unquote_command


@pytest.mark.parametrize(
    ("raw", "meant"),
    [
        ("'sleep 10'", "sleep 10"),
        ('"sleep 10"', "sleep 10"),
        ("sleep 10", "sleep 10"),
        ("'a' && 'b'", "'a' && 'b'"),
        ('echo "a;b" | wc -c', 'echo "a;b" | wc -c'),
        ("'", "'"),
    ],
)
def test_unquote_command_takes_off_only_the_seeds_extra_quotes(raw: str, meant: str) -> None:
    assert unquote_command(raw) == meant


def test_command_limits() -> None:
    with pytest.raises(UsageError, match="empty"):
        command("''")
    with pytest.raises(UsageError, match="put it in a script"):
        command("x" * (MAX_COMMAND_BYTES + 1))
    with pytest.raises(UsageError, match="NUL"):
        command("a\0b")
    with pytest.raises(UsageError, match="UTF-8"):
        command("caf\udce9")


def test_experiment_path_is_absolute_and_free_of_shell_characters() -> None:
    assert experiment_path("./exp") == os.path.abspath("exp")
    for bad in ("a;b", "$(id)", "x`y`", "a|b", "../x"):
        with pytest.raises(UsageError, match="invalid experiment path"):
            experiment_path(bad)


def test_host_makes_a_job_ready_and_none_leaves_it_undefined() -> None:
    assert job_spec(command_text="true", host="local")[1] is Status.READY
    assert job_spec(command_text="true", host="local")[0].host == "localhost"
    assert job_spec(command_text="true")[1] is Status.UNDEFINED


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"gpu": "0;1"}, "invalid --gpu"),
        ({"timeout": "soon"}, "invalid --timeout"),
        ({"timeout": "-1"}, "invalid --timeout"),
        ({"timeout": "0"}, "above 0"),
        ({"timeout": "nan"}, "invalid --timeout"),
        ({"shell": "bash -x"}, "invalid shell"),
        ({"status": "end"}, "ready or undefined"),
        ({"status": "ready"}, "needs a host"),
        ({"status": "bogus"}, "unknown state"),
        ({"output": "../x"}, "invalid output file"),
        ({"host": "a;b"}, "invalid host name"),
        ({"user": "$(id)"}, "invalid user name"),
    ],
)
def test_bad_fields(fields: dict[str, str], words: str) -> None:
    with pytest.raises(UsageError, match=words.replace("(", r"\(")):
        job_spec(command_text="true", **fields)  # type: ignore[arg-type]


def test_gpu_ids_and_timeout_are_normalised() -> None:
    spec, _ = job_spec(command_text="true", gpu="0, 1", timeout="2.5")
    assert spec.gpu == "0,1" and spec.timeout == 2.5


# -- a Slurm cluster as a host ----------------------------------------------------


def test_a_slurm_cluster_on_its_login_node_and_over_ssh() -> None:
    from meshq.model import HostKind
    from meshq.validate import host

    here = host("hpc", kind="slurm", login="local", partition="gpu", qos="high")
    assert (here.kind, here.address, here.user, here.max_jobs) == (HostKind.SLURM, None, None, 100)
    assert here.paths_are_local and here.options == (("partition", "gpu"), ("qos", "high"))
    there = host(
        "hpc", kind="slurm", login="me@login.hpc.example.org", max_jobs="500",
        sbatch_options=("--mem=4G", "--constraint=a100"),
    )  # fmt: skip
    assert (there.address, there.user, there.max_jobs) == ("login.hpc.example.org", "me", 500)
    assert not there.paths_are_local
    assert there.options_of("sbatch") == ("--mem=4G", "--constraint=a100")


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"kind": "slurm"}, "needs --login"),
        ({"kind": "slurm", "login": "a;b"}, "invalid --login"),
        ({"kind": "slurm", "login": "bad user@x"}, "invalid user name"),
        ({"kind": "slurm", "login": "local", "port": "22"}, "--port is for a login node"),
        ({"kind": "slurm", "login": "x", "ip": "10.0.0.1"}, "--ip is not for a Slurm cluster"),
        ({"kind": "slurm", "login": "x", "gpus": "0,1"}, "gives out GPUs itself"),
        ({"kind": "slurm", "login": "x", "partition": "a b"}, "invalid --partition"),
        ({"kind": "slurm", "login": "x", "account": "$(id)"}, "invalid --account"),
        ({"kind": "slurm", "login": "x", "sbatch_options": ("--array=1-9",)}, "--array"),
        ({"kind": "slurm", "login": "x", "sbatch_options": ("mem=4G",)}, "give an sbatch option"),
        ({"kind": "slurm", "login": "x", "max_jobs": "0"}, "--max_jobs_allowed"),
        ({"partition": "gpu"}, "--partition is for a Slurm cluster"),
        ({"login": "local"}, "--login is for a Slurm cluster"),
        ({"kind": "nope"}, "unknown host kind"),
        ({"kind": "local"}, "cannot be of kind local"),
    ],
)
def test_bad_slurm_hosts_get_one_clear_line(fields: dict[str, object], says: str) -> None:
    from meshq.validate import host

    with pytest.raises(UsageError) as err:
        host("hpc", **fields)  # type: ignore[arg-type]
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_slurm_cluster_is_not_called_localhost() -> None:
    from meshq.validate import host

    with pytest.raises(UsageError, match="a name of its own"):
        host("localhost", kind="slurm", login="local")
