"""Parameter sweeps: one job per combination of parameter values.

    mq.sweep("lr-sweep", "python train.py --lr={lr} --seed={seed}",
             lr=[0.1, 0.01], seed=range(8))

makes 16 jobs, ``lr0.1-seed0`` … ``lr0.01-seed7``, in the order of
:func:`itertools.product` (the last parameter varies fastest).

How values reach a job, decided once:

* ``{name}`` in the command becomes the value **quoted for the shell**
  (:func:`shlex.quote`): ``--lr={lr}`` is ``--lr=0.1``, and a value
  ``a b; rm -rf ~`` is one word, ``'a b; rm -rf ~'``, never shell text.
  A format spec applies to the value first (``{lr:.0e}``); ``{{`` and ``}}``
  are literal braces (so ``${HOME}`` is written ``${{HOME}}``).
* Every job also sees each value in its environment, as
  ``MESHQ_PARAM_<NAME>`` (the name in upper case): a script may read them
  instead. The job records them (``params`` in ``queue show`` and JSON).
* Names: a template such as ``"run-{lr}-{seed}"`` (values as text, not
  quoted; the result must be a valid job name), or a prefix (``"lr"`` gives
  ``lr-lr0.1-seed0``), or, by default, ``lr0.1-seed0``: each parameter's
  name and value, joined by ``-``, with characters a name cannot hold
  replaced by ``_``. ``{index}`` in a name template is the combination's
  number, from 1; it is also the job's ``MESHQ_INDEX``.

Values are given as lists (any iterable but a string); on the command line
and in job files as text: ``0.1,0.01`` (a list) or ``1-8`` (whole numbers
from 1 to 8, both included).

No I/O here: the service stores what :func:`points` gives.
"""

from __future__ import annotations

import itertools
import re
import shlex
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshq.errors import UsageError, shown
from meshq.names import check_name, max_names

#: a parameter's name: what can follow MESHQ_PARAM_ in a variable name
_PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
#: what a job name may not hold (see meshq.names)
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9._-]")
#: a range of whole numbers on the command line: 1-8, -2-2
_RANGE = re.compile(r"(-?\d+)-(-?\d+)")
#: the longest value, as text
MAX_VALUE_CHARS = 1_000
#: what a name template may name besides the parameters
INDEX = "index"


@dataclass(frozen=True, slots=True)
class Point:
    """One combination: the job's name, its index, its command (values
    quoted in) and its parameters as text, in order."""

    name: str
    index: str
    command: str
    params: tuple[tuple[str, str], ...]


def value_text(value: object) -> str:
    """A parameter value as a job sees it: ``str(value)``, one line."""
    text = str(value)
    if "\n" in text or "\0" in text or "\r" in text:
        raise UsageError(f"the sweep value {shown(text)} holds a line break or NUL: give one line")
    if len(text) > MAX_VALUE_CHARS:
        raise UsageError(
            f"the sweep value {shown(text)} is over {MAX_VALUE_CHARS:,} characters: "
            "pass a file name instead"
        )
    return text


def check_params(params: Mapping[str, Iterable[Any]]) -> dict[str, list[Any]]:
    """The parameters as lists of values, checked: names that can be
    environment variables (unique in upper case), at least one value each,
    no more combinations than a name pattern may give."""
    if not params:
        raise UsageError("a sweep needs at least one parameter, such as lr=[0.1, 0.01]")
    out: dict[str, list[Any]] = {}
    upper: set[str] = set()
    total = 1
    for name, values in params.items():
        if not _PARAM.fullmatch(name) or name == INDEX:
            raise UsageError(
                f"invalid sweep parameter name {shown(name)}: use letters, digits and '_' "
                f"(it becomes MESHQ_PARAM_<NAME>; '{INDEX}' is taken)"
            )
        if name.upper() in upper:
            raise UsageError(f"two sweep parameters are {name.upper()} in upper case: rename one")
        upper.add(name.upper())
        listed = list(values)
        if not listed:
            raise UsageError(f"the sweep parameter {name} has no values: give at least one")
        for value in listed:
            value_text(value)
        out[name] = listed
        total *= len(listed)
    if total > max_names():
        raise UsageError(
            f"the sweep makes {total:,} jobs, more than {max_names():,} (MESHQ_MAX_NAMES)"
        )
    return out


def parse_values(text: str) -> list[str]:
    """Values as the command line and job files write them: a comma list
    (``0.1,0.01``), where an item ``A-B`` of whole numbers is every number
    from A to B (``1-8``)."""
    out: list[str] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise UsageError(f"the sweep values {shown(text)} have an empty item: remove it")
        found = _RANGE.fullmatch(item)
        if found:
            low, high = int(found[1]), int(found[2])
            if high < low:
                raise UsageError(f"the range {item!r} goes down: write {high}-{low}")
            if high - low >= max_names():
                raise UsageError(f"the range {item!r} has more than {max_names():,} values")
            out += [str(n) for n in range(low, high + 1)]
        else:
            out.append(item)
    return out


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """``--grid NAME=VALUES`` options (see :func:`parse_values`) as parameters."""
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(
                f"invalid --grid {shown(item)}: write NAME=VALUES, such as lr=0.1,0.01 or seed=1-8"
            )
        if name in out:
            raise UsageError(f"--grid names {name} twice: give all its values at once")
        out[name] = parse_values(values)
    return out


def _parsed(template: str, what: str) -> list[tuple[str, str | None, str | None, str | None]]:
    """``template`` as Python's format reads it: (literal text, field name,
    format spec, conversion) pieces; a :class:`UsageError` when it cannot."""
    try:
        return list(string.Formatter().parse(template))
    except ValueError as err:
        raise UsageError(
            f"the {what} {shown(template)} cannot be read ({err}): write a literal brace "
            "as {{ or }}"
        ) from None


#: the conversions a field may ask for (``{lr!r}``)
_CONVERSIONS: dict[str, Callable[[object], str]] = {"r": repr, "s": str, "a": ascii}


def _render(template: str, values: Mapping[str, Any], what: str, *, quote: bool) -> str:
    """``template`` with each ``{name}`` replaced by its value, formatted as
    its spec says and, with ``quote``, quoted for the shell."""
    out: list[str] = []
    for literal, name, spec, conversion in _parsed(template, what):
        out.append(literal)
        if name is None:
            continue
        if name not in values:
            known = ", ".join(values)
            raise UsageError(
                f"the {what} names {{{name}}}, which is no sweep parameter ({known}): "
                "write a shell variable as ${{VAR}} and a literal brace as {{ or }}"
            )
        value = values[name]
        if conversion:
            value = _CONVERSIONS[conversion](value)
        try:
            text = format(value, spec or "")
        except (ValueError, TypeError) as err:
            raise UsageError(f"the {what} cannot format {{{name}}} as {spec!r}: {err}") from None
        value_text(text)
        out.append(shlex.quote(text) if quote else text)
    return "".join(out)


def _default_name(values: Mapping[str, str]) -> str:
    return "-".join(f"{k}{_NOT_IN_NAME.sub('_', v)}" for k, v in values.items())


def points(
    command: str, params: Mapping[str, Iterable[Any]], name: str | None = None
) -> list[Point]:
    """One :class:`Point` per combination of ``params``' values, with its
    command (values quoted in) and name (see the module's docstring)."""
    checked = check_params(params)
    keys = list(checked)
    templated = name is not None and ("{" in name or "}" in name)
    if name is not None and not templated:
        check_name(name, "sweep name prefix")
    out: list[Point] = []
    seen: dict[str, int] = {}
    for number, combo in enumerate(itertools.product(*checked.values()), start=1):
        raw = dict(zip(keys, combo, strict=True))
        texts = {k: value_text(v) for k, v in raw.items()}
        job_command = _render(command, raw, "command", quote=True)
        if templated:
            assert name is not None
            job_name = _render(name, {**raw, INDEX: number}, "name template", quote=False)
        else:
            job_name = _default_name(texts)
            if name is not None:
                job_name = f"{name}-{job_name}"
        try:
            check_name(job_name)
        except UsageError as err:
            raise UsageError(
                f"{err}: give the sweep a name template such as 'run-{{index}}'"
            ) from None
        if job_name in seen:
            raise UsageError(
                f"the sweep names two jobs {job_name!r} (combinations {seen[job_name]} and "
                f"{number}): give a name template that tells them apart, such as 'run-{{index}}'"
            )
        seen[job_name] = number
        out.append(Point(job_name, str(number), job_command, tuple(texts.items())))
    return out
