"""Durations as people type them, and as meshq shows them: the one parser
behind every duration flag (``--timeout`` on ``queue add``, ``create`` and
``set``) and the ``timeout`` field of job files.

Accepted, as docs/rules.md lists them:

- a number of seconds: ``90``, ``2.5``
- numbers with units, largest first: ``90s``, ``30m``, ``1h``, ``1h30m``,
  ``2d``, ``1d12h`` (``d``, ``h``, ``m``, ``s``; spaces between parts are fine)
- Slurm's clock forms: ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``,
  ``D-HH:MM:SS`` (``01:00:00`` is an hour).

A bare number is seconds, as meshq's ``--timeout`` always was; Slurm reads a
bare number as minutes, which is why the rules page says so.
"""

from __future__ import annotations

import math
import re

from meshq.errors import UsageError

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_NUMBER = r"\d+(?:\.\d+)?"
_SECONDS = re.compile(_NUMBER)
_WITH_UNITS = re.compile(
    rf"(?:(?P<d>{_NUMBER})d)?(?:(?P<h>{_NUMBER})h)?(?:(?P<m>{_NUMBER})m)?(?:(?P<s>{_NUMBER})s)?"
)
# Slurm: [D-]HH:MM:SS, MM:SS, D-HH, D-HH:MM (the first field may exceed its
# usual range: 90:00 is ninety minutes)
_CLOCK = re.compile(r"(?:(?P<days>\d+)-)?(?P<clock>\d+(?::\d+){0,2})")
HOW = "give seconds (90), units (90s, 30m, 1h30m, 2d) or [D-]HH:MM:SS"


def parse(text: str | float, what: str = "duration") -> float:
    """Seconds that ``text`` stands for; a :class:`UsageError` that names
    ``what`` and the accepted forms for anything else (negative, not a
    number, NaN, infinite)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        seconds = _parse_text(str(text), what)
    if not math.isfinite(seconds) or seconds < 0:
        raise UsageError(f"invalid {what} {_shown(text)}: {HOW}")
    return seconds


def _parse_text(text: str, what: str) -> float:
    compact = text.strip().lower().replace(" ", "")
    if _SECONDS.fullmatch(compact):
        return float(compact)
    units = _WITH_UNITS.fullmatch(compact)
    if compact and units:
        return sum(float(v) * _UNITS[k] for k, v in units.groupdict().items() if v)
    clock = _CLOCK.fullmatch(compact)
    if clock:
        return _clock_seconds(clock.group("days"), clock.group("clock"), text, what)
    raise UsageError(f"invalid {what} {_shown(text)}: {HOW}")


def _clock_seconds(days: str | None, clock: str, text: str, what: str) -> float:
    fields = [int(f) for f in clock.split(":")]
    if days is None and len(fields) == 1:
        raise UsageError(f"invalid {what} {_shown(text)}: {HOW}")  # a bare number matched above
    # MM:SS and HH:MM:SS end with seconds; after a day, the clock starts with
    # hours (D-HH, D-HH:MM, D-HH:MM:SS)
    units = [3600, 60, 1][: len(fields)] if days is not None else [3600, 60, 1][-len(fields) :]
    limits = [24, 60, 60][: len(fields)] if days is not None else [0, 60, 60][-len(fields) :]
    # the leading field runs past its range when no day is given (90:00)
    for i, (value, limit) in enumerate(zip(fields, limits, strict=True)):
        if (i or days is not None) and value >= limit:
            raise UsageError(
                f"invalid {what} {_shown(text)}: hours go up to 23 after a day, "
                "minutes and seconds up to 59"
            )
    return float(int(days or 0) * 86400 + sum(v * u for v, u in zip(fields, units, strict=True)))


def format_seconds(seconds: float) -> str:
    """A duration as meshq prints it for people: ``45s``, ``1m30s``,
    ``2h05m``, ``3d04h``; under ten seconds with a tenth (``2.5s``)."""
    if round(seconds, 1) < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _shown(text: object) -> str:
    """What was typed, quoted, and cut short: an error stays one short line."""
    value = str(text)
    return repr(value) if len(value) <= 40 else f"{value[:40]!r}…"
