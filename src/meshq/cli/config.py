"""The config file: defaults for the flags people type every time.

``$MESHQ_CONFIG``, else ``$XDG_CONFIG_HOME/meshq/config.toml``, else
``~/.config/meshq/config.toml``; a missing file is no error::

    experiment = "~/runs"      # queue create --experiment
    max_parallel = 4           # queue run fifo -j, demo -j
    policy = "smart"           # queue run fifo_multi --policy
    timeout = "2h"             # queue create --timeout (the queue's default)
    retries = 1                # queue create --retries (the queue's default)
    notify = 'notify-send "meshq: $MESHQ_QUEUE" "$MESHQ_END end, $MESHQ_FAIL fail"'
                               # queue run fifo/fifo_multi --notify

A flag on the command line wins over the file. The values become click's
``default_map``, so ``--help`` shows them as the defaults. A file meshq
cannot use is one clear line and exit status 2, whatever the command.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meshq import durations
from meshq.errors import UsageError

POLICIES = ("sequential", "random", "smart", "frugal")


def config_path() -> Path:
    """Where meshq looks for its config file."""
    given = os.environ.get("MESHQ_CONFIG")
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "meshq" / "config.toml"


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError('give a folder as a string, such as "~/runs"')
    return value


def _count(least: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"give a whole number of {least} or more")
        return value

    return check


def _shell_text(value: object) -> str:
    if not isinstance(value, str) or "\0" in value:
        raise ValueError("give a command as a string, such as 'notify-send meshq \"$MESHQ_QUEUE\"'")
    return value


def _policy(value: object) -> str:
    if value not in POLICIES:
        raise ValueError(f"give one of {', '.join(POLICIES)}")
    return str(value)


def _duration(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError('give a duration such as "2h" or 3600')
    if durations.parse(value, "timeout") <= 0:
        raise ValueError("give a time above 0")
    return str(value)


#: each key: how it is checked, and the (command path, option) it sets
KEYS: dict[str, tuple[Callable[[object], Any], list[tuple[tuple[str, ...], str]]]] = {
    "experiment": (_text, [(("queue", "create"), "experiment")]),
    "max_parallel": (
        _count(1),
        [(("queue", "run", "fifo"), "max_parallel"), (("demo",), "max_parallel")],
    ),
    "policy": (_policy, [(("queue", "run", "fifo_multi"), "policy")]),
    "timeout": (_duration, [(("queue", "create"), "timeout")]),
    "retries": (_count(0), [(("queue", "create"), "retries")]),
    "notify": (
        _shell_text,
        [(("queue", "run", "fifo"), "notify"), (("queue", "run", "fifo_multi"), "notify")],
    ),
}


def load(path: Path | None = None) -> dict[str, Any]:
    """The defaults the config file sets, as click's ``default_map``
    (nested by command); empty when there is no file."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise UsageError(f"cannot read the config file {path}: {err.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"{path}: {err}: fix the file (TOML)") from None
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(KEYS)
            raise UsageError(f"{path}: unknown key {key!r}{hint}: meshq reads {known}")
        check, targets = KEYS[key]
        try:
            checked = check(value)
        except (ValueError, UsageError) as err:
            raise UsageError(f"{path}: {key} = {value!r}: {err}") from None
        for command, option in targets:
            node = out
            for part in command:
                node = node.setdefault(part, {})
            node[option] = checked
    return out
