"""What the command line adds to an error of the library: the command that
shows or fixes what went wrong.

The library's errors say what happened and carry its data (the queue, job
or host, what kind of thing was missing); advice in terms of ``meshq``
commands belongs here, since a Python caller has no use for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from meshq.errors import SHOWN_CHARS, AlreadyExists, MeshqError, NoHosts, NotFound, WrongFile


def _typable(name: str | None) -> bool:
    """Whether ``name`` can be quoted in a command line of a hint: a name
    too long to show whole would make the hint longer than it helps."""
    return name is not None and len(name) <= SHOWN_CHARS


def hint(err: MeshqError, args: Sequence[str] = ()) -> str | None:
    """The command line's advice for ``err`` (``args``: the command line it
    came from), or ``None`` when it has none."""
    if isinstance(err, NotFound):
        return _not_found(err)
    if isinstance(err, AlreadyExists) and err.kind == "queue" and err.name is not None:
        if "import" in args:
            return (
                f"import under another name with --name, or delete it first with "
                f"'meshq queue delete {err.name}'"
            )
        return f"use it, or delete it with 'meshq queue delete {err.name}'"
    if isinstance(err, NoHosts):
        return "add some with 'meshq hosts add NAME', or pass --hosts=user@host,…"
    if isinstance(err, WrongFile):
        if not err.kind:
            return "for meshq's own job list use 'meshq queue add QUEUE --file'"
        if err.kind == "cluster":
            return f"add them with 'meshq queue import {err.path}'"
        return f"import it with 'meshq queue import {err.path}'"
    return None


def _not_found(err: NotFound) -> str | None:
    if err.kind == "queue":
        create = f", or create it with 'meshq queue create {err.name}'"
        return "see 'meshq queues'" + (create if _typable(err.name) else "")
    if err.kind == "job" and err.queue is not None:
        return f"see 'meshq queue list {err.queue}'"
    if err.kind == "host":
        add = f", or add it with 'meshq hosts add {err.name}'"
        return "see 'meshq hosts list'" + (add if _typable(err.name) and err.job is None else "")
    return None


def with_hint(err: MeshqError, args: Sequence[str] = ()) -> str:
    """The error's line as the command line prints it: its message, then
    its hint when there is one."""
    advice = hint(err, args)
    return str(err) if advice is None else f"{err}: {advice}"
