"""The older seed's job states, mapped from meshq's by one table.

The ``cms job`` manual knows five states: ``ready``, ``submitted``,
``done``, ``failed`` and ``timeout`` (its code also writes ``killed``).
meshq's states are finer; each maps to exactly one old word:

========================================  ===========
meshq state                               old state
========================================  ===========
undefined, ready                          ready
run, start                                submitted
end                                       done
fail, fail_start, crash, skip             failed
timeout                                   timeout
kill                                      killed
========================================  ===========

Read the other way (``job list --status=failed``, a jobset file's
``status:``), an old word names every meshq state it covers. meshq's own
names are taken too, and ``open`` (which the manual uses, though it lists it
nowhere) means every job that has not finished.
"""

from __future__ import annotations

from meshq.errors import UsageError, shown
from meshq.model import ACTIVE, WAITING, Status

#: meshq's state → the old word the ``job`` commands show
OLD_WORD: dict[Status, str] = {
    Status.UNDEFINED: "ready",
    Status.READY: "ready",
    Status.RUN: "submitted",
    Status.START: "submitted",
    Status.END: "done",
    Status.FAIL: "failed",
    Status.FAIL_START: "failed",
    Status.CRASH: "failed",
    Status.SKIP: "failed",
    Status.TIMEOUT: "timeout",
    Status.KILL: "killed",
}

#: the old words, in the order a job lives through them
OLD_WORDS = ("ready", "submitted", "done", "failed", "timeout", "killed")

#: what ``open`` means: not finished
_OPEN = frozenset(WAITING | ACTIVE)

#: the state a job read from a file gets for each old word: a file records
#: a finished job's outcome, so ``done`` is ``end``; ``submitted`` is not
#: here, since meshq cannot take over a job it did not start
FROM_FILE: dict[str, Status] = {
    "ready": Status.READY,
    "done": Status.END,
    "failed": Status.FAIL,
    "timeout": Status.TIMEOUT,
    "killed": Status.KILL,
}

assert set(OLD_WORD) == set(Status), "every meshq state has its old word"
assert set(OLD_WORD.values()) == set(OLD_WORDS)


def old_word(status: Status) -> str:
    """The old word for ``status``."""
    return OLD_WORD[status]


def regroup(by_status: dict[Status, list[str]]) -> dict[str, list[str]]:
    """Job names grouped by meshq state, regrouped by old word (in the order
    of :data:`OLD_WORDS`, names in the order given)."""
    out: dict[str, list[str]] = {}
    for word in OLD_WORDS:
        for status, found in by_status.items():
            if OLD_WORD[status] == word:
                out.setdefault(word, []).extend(found)
    return out


def covered(word: str) -> frozenset[Status]:
    """The meshq states an old word (or meshq's own name, or ``open``)
    stands for; :class:`UsageError` naming the words otherwise."""
    text = word.strip().lower()
    if text == "open":
        return _OPEN
    found = frozenset(s for s, old in OLD_WORD.items() if old == text)
    if found:
        return found
    try:
        return frozenset({Status(text)})
    except ValueError:
        raise UsageError(
            f"unknown state {shown(word)}: use one of {', '.join(OLD_WORDS)} or open "
            f"(meshq's own {', '.join(s.value for s in Status)} work too)"
        ) from None


def selected(text: str) -> frozenset[Status]:
    """The states a ``--status`` of the ``job`` commands names: one word or
    several, comma separated."""
    words = [w for w in text.split(",") if w.strip()]
    if not words:
        raise UsageError("--status is empty: give a state such as ready or done")
    out: frozenset[Status] = frozenset()
    for word in words:
        out |= covered(word)
    return out


def from_file(word: str, where: str) -> Status:
    """The state of a job a seed file records as ``word`` (an old word or
    meshq's own name); a :class:`UsageError` saying why otherwise."""
    text = word.strip().lower()
    if text in FROM_FILE:
        return FROM_FILE[text]
    if text == "submitted" or text in (Status.RUN, Status.START):
        raise UsageError(
            f"{where} is {text} (running under the system that wrote the file): meshq "
            "cannot follow a job it did not start; set its status to ready to run it "
            "again, or to done or failed"
        )
    try:
        return Status(text)
    except ValueError:
        raise UsageError(
            f"{where} has the unknown status {shown(word)}: use ready, done, failed, "
            "timeout or killed (or a meshq state)"
        ) from None
