"""The two public APIs have the same operations, and the CLI adds its
advice to the library's errors."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from meshq.aio import AsyncMeshq
from meshq.api import Meshq, _plain_doc
from meshq.cli.hints import with_hint
from meshq.cli.main import main
from meshq.errors import AlreadyExists, NoHosts, NotFound


def _public(cls: type) -> set[str]:
    return {
        name
        for name, value in vars(cls).items()
        if not name.startswith("_") and (callable(value) or hasattr(value, "__get__"))
    }


def test_meshq_has_every_operation_of_async_meshq_and_no_other() -> None:
    assert _public(AsyncMeshq) - {"close"} == _public(Meshq) - {"close"}


def test_each_plain_method_has_its_coroutines_signature_and_docstring() -> None:
    for name in _public(AsyncMeshq) - {"close"}:
        made = vars(Meshq)[name]
        original = inspect.unwrap(vars(AsyncMeshq)[name])
        assert made.__doc__ == _plain_doc(original.__doc__), name
        assert "await " not in (made.__doc__ or ""), name
        params = list(inspect.signature(original).parameters)[1:]
        assert list(made.__signature__.parameters) == params, name


def test_the_cli_adds_its_hints_to_library_errors() -> None:
    queue = NotFound("no queue 'x'", kind="queue", name="x", queue="x")
    assert with_hint(queue) == (
        "no queue 'x': see 'meshq queues', or create it with 'meshq queue create x'"
    )
    job = NotFound("queue 'q' has no job 'j'", kind="job", name="j", queue="q", job="j")
    assert with_hint(job) == "queue 'q' has no job 'j': see 'meshq queue list q'"
    host = NotFound("no host 'h' in the inventory", kind="host", name="h", host="h")
    assert with_hint(host).endswith("see 'meshq hosts list', or add it with 'meshq hosts add h'")
    exists = AlreadyExists("queue 'q' exists already", kind="queue", name="q")
    assert with_hint(exists).endswith("use it, or delete it with 'meshq queue delete q'")
    assert "--hosts=" in with_hint(NoHosts("no hosts to run on"))
    assert "x" * 100 not in with_hint(NotFound("no queue", kind="queue", name="x" * 100))


def test_the_cli_prints_the_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MESHQ_HOME", str(tmp_path))
    monkeypatch.delenv("MESHQ_DB", raising=False)
    assert main(["queue", "list", "nope"]) == 2
    assert capsys.readouterr().err == (
        "meshq: error: no queue 'nope': see 'meshq queues', or create it with "
        "'meshq queue create nope'\n"
    )
