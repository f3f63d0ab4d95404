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
