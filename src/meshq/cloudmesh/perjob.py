"""Values of ``job add`` that differ per job: ``--ip``, ``--input``,
``--output``, ``--gpu`` and ``--arguments``.

As in the seed, each is one value for every job, or a list (``a,b`` or a
pattern such as ``out[0-1]``, read as python-hostlist reads names) with
exactly one value per job, in the order of the names. One job takes the
value whole, commas and all. A GPU list whose length is not the number of
jobs is one value for every job (``--gpu=0,1`` gives each of three jobs
both GPUs); any other count that fits neither rule is an error.
"""

from __future__ import annotations

import hostlist

from meshq.errors import UsageError, shown

#: the options whose values are spread over the jobs
PER_JOB = ("ip", "input", "output", "gpu", "arguments")


def values(text: str) -> list[str]:
    """The values a list gives, in order (``a,b`` → a, b; ``o[0-1]`` → o0,
    o1); a text that is no list (``[a``) is one value."""
    try:
        found = hostlist.expand_hostlist(text, allow_duplicates=True)
    except hostlist.BadHostlist:
        return [text]
    return [str(v) for v in found] or [text]


def spread(option: str, text: str | None, count: int) -> list[str | None]:
    """``text`` as ``count`` values, one per job; a :class:`UsageError`
    saying how to fix a list of the wrong length."""
    if text is None:
        return [None] * count
    if count == 1:
        return [text]
    given = values(text)
    if len(given) == count:
        return list(given)
    if len(given) == 1 or option == "gpu":
        return [text if option == "gpu" else given[0]] * count
    raise UsageError(
        f"--{option}={shown(text)} gives {len(given)} values for {count} jobs: give one "
        f"value for all of them, or exactly one per job, in the order of --name"
    )
