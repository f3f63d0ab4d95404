"""The config file: its keys become click's default_map; anything meshq
cannot use is one line naming the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshq.cli.config import config_path, load
from meshq.errors import UsageError


def test_keys_become_the_defaults_of_the_commands_that_take_them(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('experiment = "~/runs"\nmax_parallel = 4\npolicy = "smart"\n'
                    'timeout = "1h30m"\nretries = 2\n')
    assert load(path) == {
        "queue": {
            "create": {"experiment": "~/runs", "timeout": "1h30m", "retries": 2},
            "run": {"fifo": {"max_parallel": 4}, "fifo_multi": {"policy": "smart"}},
        },
        "demo": {"max_parallel": 4},
    }


def test_no_file_is_no_defaults(tmp_path: Path) -> None:
    assert load(tmp_path / "missing.toml") == {}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("max_paralel = 3", "did you mean 'max_parallel'"),
        ("max_parallel = true", "whole number"),
        ("retries = -1", "0 or more"),
        ('timeout = "0"', "above 0"),
        ("experiment = 3", "folder"),
        ("[queue]\nx = 1", "unknown key 'queue'"),
        ("= 3", "TOML"),
    ],
)
def test_what_meshq_cannot_use_is_one_line(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text + "\n")
    with pytest.raises(UsageError) as err:
        load(path)
    assert says in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_where_the_file_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MESHQ_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_path() == tmp_path / "meshq" / "config.toml"
    monkeypatch.setenv("MESHQ_CONFIG", str(tmp_path / "other.toml"))
    assert config_path() == tmp_path / "other.toml"
