"""Name patterns (``job[1-10]``, ``red,red0[1-3]``, ``a[0-1]b[0-1]``) and the
rules every queue, job and host name must follow.

Ranges are parsed by python-hostlist, so meshq reads a pattern exactly as
Slurm and pdsh users expect. This module adds what hostlist does not give:
the *index* each name came from (``07`` for ``job07``), which a job sees as
``MESHQ_INDEX``, and a size check before anything is expanded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product

import hostlist

from meshq.errors import UsageError, shown

#: one name: starts with a letter or digit; letters, digits, ``.``, ``_``, ``-``
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_GLOB = re.compile(r"[*?]")

DEFAULT_MAX_NAMES = 1_000_000
#: a range bound longer than this is a typo or an attack, never a job count
_MAX_DIGITS = 18


def max_names() -> int:
    """How many names one pattern may give (``MESHQ_MAX_NAMES``, default 1,000,000)."""
    raw = os.environ.get("MESHQ_MAX_NAMES", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_NAMES


def check_name(name: str, what: str = "job name") -> str:
    """Return ``name`` if it is a safe name, else raise :class:`UsageError`.

    A safe name can be a folder name and a shell word on any host: no ``/``,
    no ``..``, no spaces or shell characters.
    """
    if not _NAME.fullmatch(name) or name in {".", ".."} or ".." in name:
        raise UsageError(
            f"invalid {what} {shown(name)}: use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit, at most 128 characters, no '..')"
        )
    return name


#: the seed names a queue's file EXPERIMENT/<queue>-queue.yaml and takes
#: either form where a queue is named
QUEUE_FILE_SUFFIX = "-queue.yaml"


def queue_name(text: str) -> str:
    """The queue a seed-style name means: ``a-queue.yaml`` is queue ``a``
    (the seed adds the suffix to a name without it); other names are as given."""
    if text.endswith(QUEUE_FILE_SUFFIX) and len(text) > len(QUEUE_FILE_SUFFIX):
        return text[: -len(QUEUE_FILE_SUFFIX)]
    return text


def is_pattern(text: str) -> bool:
    """Whether a ``--name`` is a name pattern (``job[1-5]``, ``a,b``) rather
    than one name or a glob: its brackets are ranges, not glob sets."""
    return "[" in text or "," in text


def is_glob(text: str) -> bool:
    """Whether a ``--name`` selects jobs as a glob (``job*``, ``run?``): it
    has ``*`` or ``?`` and is not a pattern. No valid name holds either."""
    return not is_pattern(text) and ("*" in text or "?" in text)


@dataclass(frozen=True, slots=True)
class Expanded:
    """One name a pattern gave, with the index it came from."""

    name: str
    index: str


def split_items(pattern: str) -> list[str]:
    """The comma-separated items of ``pattern``, commas inside brackets kept
    (``a,b[1,3]`` → ``a``, ``b[1,3]``)."""
    return [item.strip() for item in _split_top_level(pattern) if item.strip()]


def _split_top_level(pattern: str) -> list[str]:
    """Split on the commas that are outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(pattern):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise UsageError(f"invalid name pattern {shown(pattern)}: unbalanced brackets")
        elif ch == "," and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    if depth != 0:
        raise UsageError(f"invalid name pattern {shown(pattern)}: unbalanced brackets")
    parts.append(pattern[start:])
    return parts


def _range_values(rangelist: str, pattern: str, limit: int) -> list[str]:
    """The values of one bracket's range list, in order, as hostlist reads them."""
    # hostlist refuses a bracket of more than its MAX_SIZE values (100,000), a
    # module setting meant to be configured. meshq has counted the names and
    # refused more than ``limit`` before it gets here, so hostlist's cap is
    # raised to that limit: the documented limit is then the only one.
    hostlist.MAX_SIZE = max(hostlist.MAX_SIZE, limit)
    try:
        # hostlist expands names, not bare ranges: give it a throwaway prefix.
        values = hostlist.expand_hostlist(f"x[{rangelist}]", allow_duplicates=True)
    except hostlist.BadHostlist as err:
        raise UsageError(f"invalid name pattern {shown(pattern)}: {err}") from None
    return [v[1:] for v in values]


def _count(rangelist: str) -> int:
    """How many values ``rangelist`` has, without expanding it."""
    total = 0
    for part in rangelist.split(","):
        low, sep, high = part.partition("-")
        if max(len(low), len(high)) > _MAX_DIGITS:
            raise UsageError(
                f"a range bound in [{rangelist[:20]}…] has over {_MAX_DIGITS} digits: "
                "no queue needs that many names"
            )
        if sep and low.strip().isdigit() and high.strip().isdigit():
            total += max(int(high) - int(low) + 1, 1)
        else:
            total += 1
    return total


def expand(
    pattern: str, *, what: str = "job name", limit: int | None = None, globs: bool = False
) -> list[Expanded]:
    """Expand a name pattern into validated, distinct names in pattern order.

    Raises :class:`UsageError` for a malformed pattern, an invalid or repeated
    name, or more than ``limit`` names (default :func:`max_names`). With
    ``globs``, a name may hold the wildcards ``*`` and ``?`` (a selection,
    see :mod:`meshq.selection`).
    """
    pattern = pattern.strip()
    if not pattern:
        raise UsageError(f"empty {what} pattern: give a name such as job1 or job[1-10]")
    limit = limit if limit is not None else max_names()
    items = _split_top_level(pattern)
    size = 0
    for item in items:
        n = 1
        for rangelist in _BRACKET.findall(item):
            n *= _count(rangelist)
        size += n
    if size > limit:
        raise UsageError(
            f"name pattern {shown(pattern)} gives {size:,} names, more than the limit of "
            f"{limit:,}: split it, or raise MESHQ_MAX_NAMES"
        )
    out: list[Expanded] = []
    seen: set[str] = set()
    for item in items:
        for exp in _expand_item(item, pattern, limit):
            # a wildcard stands for name characters: the rest must be a name
            check_name(_GLOB.sub("x", exp.name) if globs else exp.name, what)
            if exp.name in seen:
                raise UsageError(f"name pattern {shown(pattern)} gives {shown(exp.name)} twice")
            seen.add(exp.name)
            out.append(exp)
    return out


def _expand_item(item: str, pattern: str, limit: int) -> Iterator[Expanded]:
    literals = _BRACKET.split(item)[::2]
    groups = [_range_values(r, pattern, limit) for r in _BRACKET.findall(item)]
    if "[" in "".join(literals) or "]" in "".join(literals):
        raise UsageError(f"invalid name pattern {shown(pattern)}: unbalanced brackets")
    if not groups:
        yield Expanded(item, item)
        return
    for combo in product(*groups):
        name = literals[0] + "".join(v + lit for v, lit in zip(combo, literals[1:], strict=True))
        yield Expanded(name, ",".join(combo))


_DIGITS = "0123456789"


def collapse(names: list[str]) -> str:
    """A short pattern that names exactly ``names`` (``job[1-5,9]``), each
    prefix in the order it first appears.

    Written here rather than taken from ``hostlist.collect_hostlist``: that
    one takes 0.4 s for 100,000 names, and ``queue status`` shows every
    state's names at once. This is one linear pass; ``expand`` reads its
    output back to the same names.
    """
    numbered: dict[str, list[str]] = {}
    out: list[str] = []
    rstrip = str.rstrip
    for name in names:
        prefix = rstrip(name, _DIGITS)
        if len(prefix) == len(name):
            out.append(name)
            continue
        numbers = numbered.get(prefix)
        if numbers is None:
            numbered[prefix] = numbers = []
            out.append("\0" + prefix)  # a place holder, filled in below
        numbers.append(name[len(prefix) :])
    return ",".join(
        _bracket(item[1:], numbered[item[1:]]) if item[:1] == "\0" else item for item in out
    )


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """The runs of consecutive numbers in sorted, distinct ``values``."""
    runs: list[tuple[int, int]] = []
    start = prev = values[0]
    for value in values[1:]:
        if value != prev + 1:
            runs.append((start, prev))
            start = value
        prev = value
    runs.append((start, prev))
    return runs


def _bracket(prefix: str, numbers: list[str]) -> str:
    if len(numbers) == 1:
        return prefix + numbers[0]
    # a zero-padded number keeps its width (job07 is not job7); the usual
    # case, no padding at all, sorts plain ints, which is 3x faster
    if not any(d[0] == "0" and len(d) > 1 for d in numbers):
        spans = [(0, low, high) for low, high in _runs(sorted(set(map(int, numbers))))]
    else:
        # hostlist writes t01..t20 as t[01-20]: a number as long as a padded
        # one (t10 beside t01) shares its width, so the range is not split
        padded = {len(d) for d in numbers if d[0] == "0" and len(d) > 1}
        keyed = {(len(d) if len(d) in padded else 0, int(d)) for d in numbers}
        spans = []
        for width in sorted({w for w, _ in keyed}):
            values = sorted(v for w, v in keyed if w == width)
            spans += [(width, low, high) for low, high in _runs(values)]
        spans.sort(key=lambda span: (span[1], span[0]))  # in numeric order
    parts = []
    for width, low, high in spans:
        lo = str(low).zfill(width)
        parts.append(lo if low == high else f"{lo}-{str(high).zfill(width)}")
    return f"{prefix}[{','.join(parts)}]"
