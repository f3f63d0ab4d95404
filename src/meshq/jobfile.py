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
An entry with ``grid`` is a sweep (:mod:`meshq.sweeps`): one job per
combination of the values, ``{NAME}`` in its command replaced by each value
(quoted), ``name`` a template or a prefix (or left out)::

      - command: python train.py --lr={lr} --seed={seed}
        name: lr-sweep
        grid:
          lr: [0.1, 0.01]
          seed: 1-8

The file is checked whole before anything is added, and added in one
transaction: a mistake anywhere adds nothing.
"""

from __future__ import annotations

import difflib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshq.errors import UsageError, shown, shown_path

if TYPE_CHECKING:
    import yaml

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
        "grid",
    }
)
#: the fields that hold a number; every other field holds text
NUMBER_FIELDS = frozenset({"gpus", "timeout", "retries"})
#: the longest job file read (bytes): a bigger one is a mistake, not a queue
MAX_BYTES = 16 * 1024 * 1024


def load(path: str | Path) -> list[dict[str, Any]]:
    """The entries of a job file, each a dict of :data:`FIELDS` with at least
    ``name`` and ``command``; :class:`UsageError` naming the file, the entry
    and the fix for anything else.

    Every value is the text written in the file: ``name: yes`` is the job
    ``yes`` and ``command: 0x10`` the command ``0x10`` (YAML 1.1 would read
    them as ``True`` and ``16``). A number field may also hold a number
    given with an explicit tag (``!!int 3``); a text field holding anything
    but text is refused.
    """
    return entries(shown_path(path), read_document(path))


def read_document(path: str | Path) -> Any:
    """The YAML document in the file at ``path``, every plain scalar read as
    the text written (see :func:`_text_loader`); :class:`UsageError` naming
    the file and the fix when it cannot be read or parsed."""
    import yaml

    where = shown_path(path)
    raw = _read(path, where)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(
            f"{where} is not UTF-8 text (byte {err.start}): save it as UTF-8"
        ) from None
    try:
        return yaml.load(text, Loader=_text_loader())  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "not valid YAML"
        raise UsageError(f"{where}{at}: {shown(problem)[1:-1]}: fix the YAML") from None


def entries(where: str, data: Any) -> list[dict[str, Any]]:
    """The entries of a parsed job file (see :func:`load`)."""
    if isinstance(data, dict) and set(data) == {"jobs"}:
        data = data["jobs"]
    if not isinstance(data, list) or not data:
        raise UsageError(
            f"{where}: expected a list of jobs (or 'jobs:' with a list), each with a name "
            "and a command"
        )
    return [_entry(where, i, item) for i, item in enumerate(data, start=1)]


def _read(path: str | Path, where: str) -> bytes:
    """The bytes of the job file at ``path``, if it is a regular file of at
    most :data:`MAX_BYTES`; never more than that is read (``/dev/zero``
    never ends) and a FIFO is not waited on."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; the file
        # is refused just below, and reads of a regular file ignore the flag
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise UsageError(
            f"cannot read the job file {where}: {err.strerror}: check the path"
        ) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise UsageError(f"the job file {where} is a folder: give the path of a YAML file")
        if not stat.S_ISREG(mode):
            raise UsageError(
                f"the job file {where} is not a regular file (a device, pipe or socket): "
                "save the jobs to a file and give its path"
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as err:
        raise UsageError(f"cannot read the job file {where}: {err.strerror}") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_BYTES:
        raise UsageError(f"{where} is over {MAX_BYTES // 2**20} MiB: split it")
    return raw


def _text_loader() -> type[yaml.SafeLoader]:
    """PyYAML's safe loader, reading plain scalars as the text written.

    YAML 1.1, which PyYAML implements, reads ``yes``/``no``/``on``/``off`` as
    booleans, ``0x10`` and ``0o17`` as numbers and ``2024-01-01`` as a
    date; in a job file they are names and commands. Only the implicit
    resolvers of null (an empty value, ``~``) and of merge keys (``<<``) are
    kept; numbers are read from their text by :mod:`meshq.validate`, as
    those of the command line are. (Made on use: PyYAML is imported only by
    commands that read a job file.)
    """
    import yaml

    keep = {"tag:yaml.org,2002:null", "tag:yaml.org,2002:merge"}

    class TextLoader(yaml.SafeLoader):
        pass

    # a copy: SafeLoader's own table must stay as it is for everyone else
    TextLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag in keep]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return TextLoader


#: what an explicitly tagged YAML value is, in words
_KINDS = {
    "bool": "a boolean",
    "int": "a number",
    "float": "a number",
    "date": "a date",
    "datetime": "a date",
    "bytes": "binary data",
}


def _entry(where: str, number: int, item: object) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise UsageError(
            f"{where}: entry {number} is not a mapping of fields: "
            "write 'name: …' and 'command: …' under '- '"
        )
    for key, value in item.items():
        if key == "grid":
            continue
        if key not in FIELDS:
            close = difflib.get_close_matches(str(key), FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(f"{where}: entry {number}: unknown field {shown(key)}{hint}")
        if isinstance(value, dict | list) or value is None:
            raise UsageError(f"{where}: entry {number}: {key} must be a single value")
        if isinstance(value, str):
            continue
        if key in NUMBER_FIELDS and isinstance(value, int | float) and not isinstance(value, bool):
            continue
        # only an explicit tag (!!bool, !!int, !!timestamp, !!binary) gets here
        kind = "text" if key not in NUMBER_FIELDS else "a number"
        given = _KINDS.get(type(value).__name__, type(value).__name__)
        raise UsageError(
            f"{where}: entry {number}: {key} must be {kind}, not {given}: "
            "write it without the !! tag (or in quotes)"
        )
    for required in ("command",) if "grid" in item else ("name", "command"):
        if required not in item:
            raise UsageError(f"{where}: entry {number} has no {required}: add one")
    out: dict[str, Any] = {str(k): str(v) for k, v in item.items() if k != "grid"}
    if "grid" in item:
        out["grid"] = _grid(where, number, item["grid"])
    return out


def _grid(where: str, number: int, value: object) -> dict[str, list[str]]:
    """An entry's ``grid``: each parameter's values, from a list or from
    the command line's text (``0.1,0.01``, ``1-8``)."""
    from meshq.sweeps import parse_values

    if not isinstance(value, dict) or not value:
        raise UsageError(
            f"{where}: entry {number}: grid must map each parameter to its values, "
            "such as 'lr: [0.1, 0.01]'"
        )
    out: dict[str, list[str]] = {}
    for name, values in value.items():
        if isinstance(values, list) and all(isinstance(v, str | int | float) for v in values):
            out[str(name)] = [str(v) for v in values]
        elif isinstance(values, str):
            try:
                out[str(name)] = parse_values(values)
            except UsageError as err:
                raise UsageError(f"{where}: entry {number}: grid {name}: {err}") from None
        else:
            raise UsageError(
                f"{where}: entry {number}: grid {shown(name)} must be a list of values "
                "or text such as 1-8"
            )
    return out
