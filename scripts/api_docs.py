"""Write docs/api.md, the Python API's reference, from its docstrings, so it
is never written twice. ``python scripts/api_docs.py --check`` fails when
the file is out of date, or when a public name has no docstring or no
example (the test suite runs it)."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import meshq

TARGET = Path(__file__).resolve().parent.parent / "docs" / "api.md"

#: the order of the reference: the handles, what they give back, the errors
SECTIONS: list[tuple[str, list[str]]] = [
    ("Handles", ["Meshq", "AsyncMeshq", "Executor"]),
    ("Results", ["Job", "AsyncJob", "JobInfo", "QueueSummary", "StateChange", "HostInfo",
                 "Probe", "RunResult", "Status", "HostStatus",
                 "HostKind"]),
    ("Errors", ["MeshqError", "UsageError", "ArgumentError", "NotFound", "HostError",
                "WaitTimeout", "JobFailed", "EnvironmentMismatch"]),
]
#: classes whose methods are listed (the others are records: fields)
WITH_METHODS = {"Meshq", "Executor", "Job", "AsyncJob", "JobInfo"}
_EXAMPLE = re.compile(r"Example|>>>")


def _doc(obj: Any) -> str:
    return inspect.cleandoc(obj.__doc__ or "")


def _field_notes(cls: type) -> dict[str, str]:
    """The ``#:`` comment above each field (or enum member) of ``cls``."""
    notes: dict[str, str] = {}
    pending: list[str] = []
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return notes
    for line in lines[1:]:
        text = line.strip()
        if text.startswith("#:"):
            pending.append(text[2:].strip())
            continue
        found = re.match(r"([A-Za-z_]\w*)\s*(:|=)", text)
        at_class_level = line.startswith("    ") and not line.startswith("     ")
        if found and at_class_level and pending:
            notes[found[1]] = " ".join(pending)
        pending = []
    return notes


def _public_methods(cls: type) -> Iterator[tuple[str, Any]]:
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property | classmethod):
            continue
        if callable(value) or hasattr(value, "__signature__"):
            yield name, value


def _properties(cls: type) -> Iterator[tuple[str, property]]:
    for name, value in vars(cls).items():
        if not name.startswith("_") and isinstance(value, property):
            yield name, value


class _Raw(str):
    """An annotation kept as text (``from __future__ import annotations``),
    shown as written rather than quoted."""

    def __repr__(self) -> str:
        return str(self)


def _raw(annotation: Any) -> Any:
    return _Raw(annotation) if isinstance(annotation, str) else annotation


def _signature(obj: Any, drop_self: bool) -> str:
    sig = inspect.signature(obj)
    params = [p.replace(annotation=_raw(p.annotation)) for p in sig.parameters.values()]
    if drop_self and params and params[0].name == "self":
        params = params[1:]
    return str(sig.replace(parameters=params, return_annotation=_raw(sig.return_annotation)))


def _fields_table(cls: type) -> list[str]:
    notes = _field_notes(cls)
    rows = ["| field | type | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(cls):
        if f.name.startswith("_"):
            continue
        kind = str(f.type).replace("|", "\\|")
        rows.append(f"| `{f.name}` | `{kind}` | {notes.get(f.name, '')} |")
    return rows


def _members_table(cls: type[enum.Enum]) -> list[str]:
    notes = _field_notes(cls)
    rows = ["| value | meaning |", "|---|---|"]
    rows += [f"| `{m.value}` | {notes.get(m.name, '')} |" for m in cls]
    return rows


def render() -> str:
    parts = [
        "# meshq Python API reference",
        "",
        "Generated from the docstrings by `scripts/api_docs.py`; do not edit by hand. "
        "Every name is importable from `meshq` (`from meshq import Meshq, Executor`). "
        "`AsyncMeshq` has every method of `Meshq`, as a coroutine (`follow`: an async "
        "iterator), giving `AsyncJob` where `Meshq` gives `Job`.",
        "",
    ]
    for title, names in SECTIONS:
        parts += [f"- **{title}**: " + ", ".join(f"[`{n}`](#{n.lower()})" for n in names)]
    parts.append("")
    for title, names in SECTIONS:
        parts += [f"## {title}", ""]
        for name in names:
            parts += _render_class(name)
    return "\n".join(parts).rstrip() + "\n"


def _render_class(name: str) -> list[str]:
    cls = getattr(meshq, name)
    out = [f"### {name}", ""]
    if name not in ("Status", "HostStatus", "HostKind") and not issubclass(cls, Exception):
        init = _signature(cls, drop_self=False) if name in WITH_METHODS - {"Job", "AsyncJob",
                                                                              "JobInfo"} else ""
        out += [f"`{name}{init}`", ""] if init else []
    out += [_doc(cls), ""]
    if isinstance(cls, type) and issubclass(cls, enum.Enum):
        out += [*_members_table(cls), ""]
    elif dataclasses.is_dataclass(cls) and name not in ("Job", "AsyncJob"):
        out += [*_fields_table(cls), ""]
    for prop_name, prop in _properties(cls):
        out += [f"- `{name}.{prop_name}`: {_doc(prop)}"]
    if any(True for _ in _properties(cls)):
        out.append("")
    if name in WITH_METHODS or name == "AsyncMeshq":
        for method_name, method in _public_methods(cls):
            if name == "AsyncMeshq":
                continue  # the same methods as Meshq's (see above)
            sig = _signature(method, drop_self=not hasattr(method, "__signature__"))
            out += [f"#### `{name}.{method_name}{sig}`", "", _doc(method), ""]
    return out


def problems() -> list[str]:
    """Public names (and methods) without a docstring or an example."""
    out: list[str] = []
    for _, names in SECTIONS:
        for name in names:
            cls = getattr(meshq, name)
            if not _EXAMPLE.search(_doc(cls)):
                out.append(f"{name}: no example in its docstring")
            if name in WITH_METHODS:
                for method_name, method in _public_methods(cls):
                    if not _EXAMPLE.search(_doc(method)):
                        out.append(f"{name}.{method_name}: no example in its docstring")
    documented = {n for _, names in SECTIONS for n in names}
    out += [f"{n}: in meshq.__all__ but not in the reference" for n in
            sorted(set(meshq.__all__) - documented)]
    return out


def main() -> int:
    text = render()
    missing = problems()
    if missing:
        print("the API reference is incomplete:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    if "--check" in sys.argv[1:]:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run python scripts/api_docs.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
