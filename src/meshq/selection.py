"""Which jobs ``--name`` selects: the one rule every command follows
(``queue list``, ``kill``, ``reset``, ``delete``, ``set``, ``show``, ``logs``).

A selection is a comma list of items. Each item is a name pattern as
hostlist reads it (``job7``, ``job[1-5]``, ``job[01-04]``, ``a[0-1]b[0-1]``),
and an item with ``*`` or ``?`` is a glob over the queue's names (``job*``,
``train[1-2]-*``: brackets are expanded first, so they always mean ranges,
never a character class). Nothing else matches: no substring.

A name typed as it is (``job7``) must exist: a typo is an error, never a
silent no-op. A range (``job[1-100]``) or a glob (``job*``) selects the jobs
of the queue it matches, however many of its names are jobs. Commands that
act on jobs (kill, reset, delete, set) refuse a selection that matches no
job at all; ``list`` shows none. ``docs/rules.md`` states the rule for people.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from meshq.names import expand, is_glob, is_pattern, split_items


@dataclass(frozen=True, slots=True)
class NameSelection:
    """What one ``--name`` value selects: plain names and globs."""

    #: the value as typed
    text: str
    #: the plain names (typed, or from a range), in the order given
    names: tuple[str, ...]
    #: the items with wildcards (``*``, ``?``), matched against whole names
    globs: tuple[str, ...]
    #: the names typed as they are (no range): each must be a job of the queue
    required: tuple[str, ...] = ()
    _plain: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plain", frozenset(self.names))

    def matches(self, name: str) -> bool:
        """Whether the job called ``name`` is selected."""
        return name in self._plain or any(fnmatch.fnmatchcase(name, g) for g in self.globs)


def parse(text: str) -> NameSelection:
    """The selection ``text`` names; a :class:`~meshq.errors.UsageError`
    for a malformed pattern or a name that can be no job's name."""
    plain: list[str] = []
    globs: list[str] = []
    for item in expand(text, what="job name", globs=True):
        (globs if "*" in item.name or "?" in item.name else plain).append(item.name)
    typed = [n for n in split_items(text) if not is_pattern(n) and not is_glob(n)]
    return NameSelection(text, tuple(plain), tuple(globs), tuple(typed))
