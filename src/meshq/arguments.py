"""Arguments of the public API checked before a call: a misspelt keyword
is a :class:`~meshq.errors.ArgumentError` naming the closest one, not
Python's ``TypeError: add() got an unexpected keyword argument 'bogus'``
from somewhere inside.

:func:`checked` wraps one method; :func:`check_all` every public method of
a class, so the public API cannot forget one.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from meshq.errors import ArgumentError, shown

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` most likely misspells, if one is close enough."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7)
    return found[0] if found else None


def unknown_argument(operation: str, word: str, choices: Iterable[str]) -> ArgumentError:
    """The error for an argument ``word`` that ``operation`` does not take."""
    names = [c for c in choices if not c.startswith("_")]
    guess = closest(word, names)
    advice = f"did you mean {guess!r}?" if guess else f"it takes {', '.join(names)}"
    return ArgumentError(f"{operation}() has no argument {shown(word)}: {advice}")


def _explain(operation: str, signature: inspect.Signature, err: TypeError) -> ArgumentError:
    """Python's binding error for a call of ``operation``, in meshq's words."""
    text = str(err)
    accepted = [p for p in signature.parameters if p != "self"]
    if "unexpected keyword argument" in text:
        word = text.rsplit(" ", 1)[-1].strip("'")
        return unknown_argument(operation, word, accepted)
    return ArgumentError(f"{operation}(): {text}; it takes {', '.join(accepted)}")


def checked(fn: F) -> F:
    """``fn``, whose arguments are bound to its signature first: a call
    that does not fit is an :class:`ArgumentError`, raised at the call (for
    a coroutine function, when the coroutine is awaited)."""
    signature = inspect.signature(fn)
    operation = fn.__name__

    def check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as err:
            raise _explain(operation, signature, err) from None

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def acall(*args: Any, **kwargs: Any) -> Any:
            check(args, kwargs)
            return await fn(*args, **kwargs)

        return acall  # type: ignore[return-value]

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        def agen(*args: Any, **kwargs: Any) -> Any:
            check(args, kwargs)
            return fn(*args, **kwargs)

        return agen  # type: ignore[return-value]

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        check(args, kwargs)
        return fn(*args, **kwargs)

    return call  # type: ignore[return-value]


def check_all(cls: C) -> C:
    """Wrap every public method defined by ``cls`` itself in :func:`checked`."""
    for name, value in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(value):
            continue
        setattr(cls, name, checked(value))
    return cls
