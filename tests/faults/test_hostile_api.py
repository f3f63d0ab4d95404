"""Hostile input through the Python API: Hypothesis properties with any
text as a name pattern, as ``--input`` and inside a command, as an
experiment path, as ``--directory`` / ``--pyenv``; and a few plain checks
that the API refuses bad fields with one :class:`UsageError` and changes
nothing. Jobs really run (a few hundred ``printf``s in all, batched into
few runs) and a canary file that hostile text tries to create must never
appear. The CLI half is ``test_hostile_input.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from meshq import paths
from meshq.errors import UsageError
from meshq.model import Status
from meshq.service import Service

# -- Hypothesis properties -----------------------------------------------------------

#: stands for the canary's absolute path in generated text
CANARY = "@CANARY@"
#: what a job name may look like once stored
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SAFE_PATH_RE = re.compile(r"[\w./+@,:=~ -]+")

#: text that does something when a shell reads it
CANARY_TEXTS = [
    f"$(touch {CANARY})",
    f"`touch {CANARY}`",
    f"; touch {CANARY}",
    f"x; touch {CANARY}; y",
    f"' ; touch {CANARY} ; '",
    f'" ; touch {CANARY} ; "',
    f'"$(touch {CANARY})"',
    f"\ntouch {CANARY}\n",
    f"| touch {CANARY}",
    f"&& touch {CANARY} &",
    f"${{IFS}}touch${{IFS}}{CANARY}",
    f"$'\\n'touch {CANARY}",
    f"%s %n %b \\x41 $(touch {CANARY})",
    f"-e 'touch {CANARY}' -- --",
]

HYPOTHESIS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: any text but NUL (what argv, the store and bash variables can carry)
any_text = st.text(st.characters(exclude_characters="\x00"), max_size=40)
#: text salted with shell syntax that would create the canary
salted = st.builds(
    lambda a, b, c: a + b + c,
    st.text(max_size=4),
    st.sampled_from(CANARY_TEXTS),
    st.text(max_size=4),
)
hostile_text = st.one_of(any_text, salted)


def _tokens(*tokens: str) -> st.SearchStrategy[str]:
    """Text made of ``tokens``: near misses of valid input, valid input too."""
    return st.lists(st.sampled_from(tokens), min_size=1, max_size=6).map("".join)


#: name patterns, mostly good: near misses (leading '-', '..', a name twice)
good_pattern = _tokens(
    "job", "a", "Z", "0", "7", "-", "_", ".", "[1-3]", "[01-02]", "[2,4]", "[0-1]", ","
)
#: name patterns, good and bad, and the characters shells care about
pattern_text = _tokens(
    "job",
    "a",
    "Z",
    "0",
    "7",
    "-",
    "_",
    ".",
    "..",
    "[1-3]",
    "[01-02]",
    "[2,4]",
    "[0-1]",
    "[3-1]",
    "[",
    "]",
    ",",
    "/",
    "~",
    "*",
    " ",
    "$",
    ";",
    "`",
    "(",
    ")",
    "|",
    "&",
    "'",
    "\n",
    "é",
)
#: experiment paths, mostly good
good_path = _tokens("exp", "a b", "run-1", "/", ".", "_", "+", "@", ",", ":", "=", "ü", "~")
#: experiment paths, good and bad
path_text = _tokens(
    "exp",
    "a b",
    "run-1",
    "/",
    ".",
    "..",
    "~",
    "_",
    "+",
    "@",
    ",",
    ":",
    "=",
    "ü",
    "$",
    ";",
    "`",
    "(",
    ")",
    "|",
    "&",
    "'",
    '"',
    "\\",
    "\n",
    "*",
    "?",
)


@dataclass
class HostileApi:
    mq: Service
    root: Path
    canary: Path
    queues: Iterator[int]

    def fresh_queue(self, experiment: str | None = None) -> str:
        name = f"h{next(self.queues)}"
        self.mq.create_queue(name, str(self.root / "exp") if experiment is None else experiment)
        return name

    def salt(self, text: str) -> str:
        return text.replace(CANARY, str(self.canary))

    def run(self, queue: str) -> None:
        asyncio.run(self.mq.run_fifo(queue, max_parallel=8))
        assert not self.mq.jobs(queue, status=[Status.READY, Status.RUN, Status.START])

    def no_canary(self) -> None:
        assert not self.canary.exists()
        assert not list(self.root.rglob("*canary*"))

    @staticmethod
    def out(job: Any) -> bytes:
        return Path(paths.job_paths(job, local=True).stdout).read_bytes()


@pytest.fixture
def hostile_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileApi]:
    """A store of its own; the process's cwd is an empty folder in tmp, so a
    relative path lands there (and a shell acting on text would too)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("MESHQ_INPUT", raising=False)
    monkeypatch.setenv("MESHQ_MAX_NAMES", "1000")
    mq = Service(tmp_path / "db", warn=lambda line: None)
    try:
        yield HostileApi(mq, tmp_path, tmp_path / "canary", itertools.count(1))
    finally:
        mq.close()


@HYPOTHESIS
@given(pattern=st.one_of(any_text, good_pattern, pattern_text, salted))
@example(pattern="job[1-3]")
@example(pattern="a[01-03]b[1-2],c")
@example(pattern="a/b")
@example(pattern="..")
@example(pattern="a..b")
@example(pattern="x[1-2]..")
@example(pattern="-rf")
@example(pattern=".hidden")
@example(pattern="base")
@example(pattern="a,base")
@example(pattern="job[1-2000]")
@example(pattern=f"$(touch {CANARY})")
def test_any_text_as_a_name_pattern(hostile_api: HostileApi, pattern: str) -> None:
    api = hostile_api
    queue = api.fresh_queue()
    api.mq.add(queue, "base", "true")
    before = [(j.name, j.status) for j in api.mq.jobs(queue)]
    try:
        added = api.mq.add(queue, api.salt(pattern), "true", host="localhost")
    except UsageError as err:
        event("pattern refused")
        assert str(err).strip() and "\n" not in str(err).strip()
        assert [(j.name, j.status) for j in api.mq.jobs(queue)] == before
    else:
        event("pattern added")
        stored = [j.name for j in api.mq.jobs(queue)]
        assert stored == ["base", *added]
        for name in stored:
            assert NAME_RE.fullmatch(name) and ".." not in name, name
    api.no_canary()


@HYPOTHESIS
@given(texts=st.lists(hostile_text, min_size=1, max_size=2))
@example(texts=CANARY_TEXTS)
@example(texts=["", " ", "-n", "--", "%s%s", "\\", "'", '"', "\r\n", "\t", "é€😀", "a\x01b\x7f"])
def test_any_text_reaches_the_job_exactly_once(hostile_api: HostileApi, texts: list[str]) -> None:
    """As ``--input`` ($MESHQ_INPUT) and as a quoted word of the command:
    the job prints exactly the text, and nothing else reads it."""
    api = hostile_api
    texts = [api.salt(t) for t in texts]
    queue = api.fresh_queue()
    for i, text in enumerate(texts):
        api.mq.add(queue, f"input{i}", "printf '%s' \"$MESHQ_INPUT\"", host="localhost", input=text)
        api.mq.add(queue, f"word{i}", "printf '%s' " + shlex.quote(text), host="localhost")
    api.run(queue)
    jobs = {j.name: j for j in api.mq.jobs(queue)}
    for i, text in enumerate(texts):
        for name in (f"input{i}", f"word{i}"):
            job = jobs[name]
            assert (job.status, job.exit_code, job.attempts) == (Status.END, 0, 1), job
            assert api.out(job) == text.encode(), (name, text)
    api.no_canary()


@HYPOTHESIS
@given(path=st.one_of(any_text, good_path, path_text, salted))
@example(path="exp")
@example(path="my exp/run-1")
@example(path="a:b=c@d,e+f~g/x.y")
@example(path="ünï/cödé")
@example(path="a/../b")
@example(path="x\ny")
@example(path=f"$(touch {CANARY})")
@example(path=f"`touch {CANARY}`")
@example(path=f"exp;touch {CANARY}")
def test_any_text_as_an_experiment_path(hostile_api: HostileApi, path: str) -> None:
    api = hostile_api
    path = api.salt(path)
    queues = [s.queue.name for s in api.mq.queues()]
    try:
        queue = api.fresh_queue(path)
    except UsageError:
        event("path refused")
        assert [s.queue.name for s in api.mq.queues()] == queues
        api.no_canary()
        return
    experiment = api.mq.queue(queue).experiment
    assert os.path.isabs(experiment), experiment
    assert SAFE_PATH_RE.fullmatch(experiment) and ".." not in experiment.split("/"), experiment
    if path.startswith(("/", "~")):
        event("path accepted, not run")
        api.no_canary()  # runs only where it cannot write outside the test's folder
        return
    assert experiment.startswith(str(api.root / "cwd"))
    api.mq.add(queue, "job", "printf ok", host="localhost")
    api.run(queue)
    job = api.mq.job(queue, "job")
    event(f"path accepted, job {job.status.value}")
    if job.status is Status.END:
        assert api.out(job) == b"ok"
    else:  # a folder name the file system refuses (too long, say)
        assert job.status is Status.FAIL_START and job.error, job
    api.no_canary()


@HYPOTHESIS
@given(texts=st.lists(hostile_text, min_size=1, max_size=2))
@example(texts=CANARY_TEXTS)
@example(texts=["", ".", "~", "/", "/nonexistent", "a b", "-x", "--", "\n", "exp/h1"])
def test_any_text_as_directory_or_pyenv(hostile_api: HostileApi, texts: list[str]) -> None:
    """A job with such a ``--directory`` or ``--pyenv`` runs, or ends
    ``fail_start`` with a reason; the text is never executed."""
    api = hostile_api
    texts = [api.salt(t) for t in texts]
    queue = api.fresh_queue()
    for i, text in enumerate(texts):
        api.mq.add(queue, f"dir{i}", "printf ok", host="localhost", directory=text)
        api.mq.add(queue, f"env{i}", "printf ok", host="localhost", pyenv=text)
    api.run(queue)
    for job in api.mq.jobs(queue):
        event(f"{job.name.rstrip('0123456789')}: {job.status.value}")
        if job.status is Status.END:
            assert api.out(job) == b"ok", job
        else:
            assert job.status is Status.FAIL_START, job
            assert job.error and job.error.strip(), job
    api.no_canary()


# -- a few plain API checks -----------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"command": "a" * 1_000_000}, id="command-1MB"),
        pytest.param({"command": "echo a\x00b"}, id="command-nul"),
        pytest.param({"input": "a\x00b"}, id="input-nul"),
        pytest.param({"directory": "/tmp\x00/x"}, id="directory-nul"),
        pytest.param({"pyenv": "a\x00"}, id="pyenv-nul"),
        pytest.param({"name": "job[1-" + "9" * 5000 + "]"}, id="name-5000-digit-range"),
        pytest.param({"name": "job[1-10000000]"}, id="name-10-million"),
        pytest.param({"after": "job\x00"}, id="after-nul"),
    ],
)
def test_api_refuses_with_a_usage_error_and_changes_nothing(
    hostile_api: HostileApi, fields: dict[str, str]
) -> None:
    api = hostile_api
    queue = api.fresh_queue()
    api.mq.add(queue, "base", "true")
    name, command = fields.pop("name", "new"), fields.pop("command", "true")
    began = time.monotonic()
    with pytest.raises(UsageError) as err:
        api.mq.add(queue, name, command, host="localhost", **fields)
    assert time.monotonic() - began < 5
    assert "\n" not in str(err.value).strip()
    if len(command) > 100_000:
        assert "script" in str(err.value)
    assert [j.name for j in api.mq.jobs(queue)] == ["base"]
