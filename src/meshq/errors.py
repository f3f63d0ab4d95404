"""Every error meshq raises on purpose, under one root.

A :class:`MeshqError` carries one line meant for a person: what went wrong,
where, and how to fix it. The CLI prints that line and exits with
``exit_code``; the Python API lets it propagate.
"""

from __future__ import annotations


class MeshqError(Exception):
    """Something meshq was asked to do cannot be done."""

    #: exit status the CLI uses for this error
    exit_code = 1

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class UsageError(MeshqError):
    """The input is not valid; nothing was changed."""

    exit_code = 2


class NotFound(UsageError):
    """The queue, job or host named does not exist."""


class AlreadyExists(UsageError):
    """A queue, job or host of that name exists already."""


class TransitionError(MeshqError):
    """A job is not in a state from which that change is allowed."""


class StoreError(MeshqError):
    """The state store could not be read or written."""


class HostError(MeshqError):
    """A host could not be reached or refused a command."""

    def __init__(self, host: str, message: str) -> None:
        super().__init__(f"host {host}: {message}")
        self.host = host
        self.detail = message


class UnreadableFile(HostError):
    """A job's file on its host cannot be read; the message says which,
    where and why."""

    exit_code = 2
