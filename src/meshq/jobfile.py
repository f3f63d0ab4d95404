"""Job files: many kinds of jobs added at once, from YAML.

    jobs:
      - name: prep
        command: python prep.py
        host: localhost
      - name: train[1-10]
        command: python train.py --seed=$MESHQ_INDEX
        after: prep
        gpus: 1
        retries: 2
        timeout: 3600

A bare list works too. Every field is one of ``meshq queue add``'s options.
The file is checked whole before anything is added, and added in one
transaction: a mistake anywhere adds nothing.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from meshq.errors import UsageError

#: the fields an entry may have, as ``meshq queue add`` names its options
FIELDS = frozenset(
    {
        "name",
        "command",
        "input",
        "output",
        "status",
        "gpu",
        "gpus",
        "user",
        "host",
        "shell",
        "log",
        "pyenv",
        "directory",
        "timeout",
        "retries",
        "after",
    }
)
#: the longest job file read (bytes): a bigger one is a mistake, not a queue
MAX_BYTES = 16 * 1024 * 1024


def load(path: str | Path) -> list[dict[str, Any]]:
    """The entries of a job file, each a dict of :data:`FIELDS` with at least
    ``name`` and ``command``; :class:`UsageError` naming the file, the entry
    and the fix for anything else."""
    import yaml

    where = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read the job file {where}: {err.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise UsageError(f"{where} is over {MAX_BYTES // 2**20} MiB: split it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(
            f"{where} is not UTF-8 text (byte {err.start}): save it as UTF-8"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "not valid YAML"
        raise UsageError(f"{where}{at}: {problem}: fix the YAML") from None
    if isinstance(data, dict) and set(data) == {"jobs"}:
        data = data["jobs"]
    if not isinstance(data, list) or not data:
        raise UsageError(
            f"{where}: expected a list of jobs (or 'jobs:' with a list), each with a name "
            "and a command"
        )
    return [_entry(where, i, item) for i, item in enumerate(data, start=1)]


def _entry(where: str, number: int, item: object) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise UsageError(
            f"{where}: entry {number} is not a mapping of fields: "
            "write 'name: …' and 'command: …' under '- '"
        )
    for key, value in item.items():
        if key not in FIELDS:
            close = difflib.get_close_matches(str(key), FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(f"{where}: entry {number}: unknown field {key!r}{hint}")
        if isinstance(value, dict | list) or value is None:
            raise UsageError(f"{where}: entry {number}: {key} must be a single value")
    for required in ("name", "command"):
        if required not in item:
            raise UsageError(f"{where}: entry {number} has no {required}: add one")
    return {str(k): v if isinstance(v, str) else str(v) for k, v in item.items()}
