"""What the seed-manual tests share: a command line of a seed manual as
data (:class:`Case`), the context it runs in (:class:`Seed`: the real
``meshq`` CLI, a working folder, an environment), and the seed's files.

A case's ``line`` is the manual's command line with ``cms`` as written
(it is dropped: ``meshq`` takes its place); a synopsis line of the manual
page (``job kill [--name=NAME]``) is given in ``source`` and instantiated in
``line``. Placeholders the manual leaves to the reader (``--ip=ip``,
``--cpus=n``, ``FILE``) are filled from ``fill``. A ``; less FILE`` after
the command is the manual showing the file: the check reads it.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.acceptance.conftest import Meshq, wait_until

Check = Callable[["Seed", subprocess.CompletedProcess[str]], None]
Setup = Callable[["Seed"], None]


def _nothing(seed: Seed) -> None:
    return None


@dataclass(frozen=True)
class Case:
    """One command line of a seed manual, what it needs first, and what it
    must do."""

    line: str
    check: Check
    setup: Setup = _nothing
    #: the manual's own text when ``line`` instantiates a synopsis line
    source: str = ""
    #: the manual's placeholders and the values this test gives them
    fill: dict[str, str] = field(default_factory=dict)
    #: the exit status expected
    rc: int = 0

    def param(self, id: str) -> Any:
        return pytest.param(self, id=id)


@dataclass
class Seed:
    """The CLI as a seed user runs it: in ``cwd``, with ``env``."""

    mq: Meshq
    cwd: Path
    env: dict[str, str]

    def __call__(self, *argv: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return self.mq(*argv, env=self.env, cwd=self.cwd, timeout=timeout)

    def ok(self, *argv: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        done = self(*argv, timeout=timeout)
        assert done.returncode == 0, f"meshq {shlex.join(argv)}: {done.stdout}\n{done.stderr}"
        return done

    def popen(self, *argv: str) -> subprocess.Popen[str]:
        from tests.support.cli import MESHQ

        proc = subprocess.Popen(
            [*MESHQ, *argv], cwd=self.cwd, env=self.env, text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.mq.started.append(proc)
        return proc

    def argv(self, case: Case) -> list[str]:
        """The case's command line as meshq's arguments (``cms`` dropped,
        placeholders filled, a ``; less FILE`` left to the check)."""
        command = case.line.split(";")[0]
        words = shlex.split(command)
        if words and words[0] == "cms":
            words = words[1:]
        out = []
        for word in words:
            option, eq, value = word.partition("=")
            if word in case.fill:
                word = self.value(case.fill[word])
            elif eq and value in case.fill:
                word = f"{option}={self.value(case.fill[value])}"
            out.append(word)
        return out

    def value(self, text: str) -> str:
        """A placeholder's value (on test hosts: ``{red.address}`` and the
        like name the host behind the seed's ``red``)."""
        return text

    def run(self, case: Case) -> subprocess.CompletedProcess[str]:
        return self(*self.argv(case), timeout=90.0)

    # -- reading state back -------------------------------------------------

    def json(self, *argv: str) -> Any:
        return json.loads(self.ok(*argv, "--output=json").stdout)

    def seed_jobs(self, *argv: str) -> dict[str, dict[str, Any]]:
        """``job list`` as records by name (the seed's fields and words)."""
        return {j["name"]: j for j in self.json("job", "list", *argv)}

    def jobs(self, queue: str) -> dict[str, dict[str, Any]]:
        """``queue list`` as records by name (meshq's fields and states)."""
        return {j["name"]: j for j in self.json("queue", "list", queue)}

    def show(self, queue: str, name: str) -> dict[str, Any]:
        record = self.json("queue", "show", queue, name)
        return record[0] if isinstance(record, list) else record  # type: ignore[no-any-return]

    def hosts(self) -> dict[str, dict[str, Any]]:
        return {h["name"]: h for h in self.json("hosts", "list")}

    def yaml(self, path: str | Path) -> Any:
        return yaml.safe_load((self.cwd / path).read_text())

    def write(self, path: str | Path, text: str) -> Path:
        target = self.cwd / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
        return target

    def wait_seed_status(self, name: str, word: str, timeout: float = 20.0) -> None:
        wait_until(lambda: self.seed_jobs().get(name, {}).get("status") == word, timeout,
                   0.1, f"{name} to be {word}")


def seed_job(name: str, *, ip: str = "localhost", executable: str = "ls",
             arguments: str = "-a", output: str | None = None, status: str = "ready") -> str:
    """One job in the seed's job spec format (as its template writes one)."""
    return textwrap.dedent(f"""\
        {name}:
          name: {name}
          directory: .
          ip: {ip}
          input: ./data
          output: {output or f'./output/{name}'}
          status: {status}
          gpu: ' '
          user: username
          arguments: '{arguments}'
          executable: '{executable}'
          shell: bash
        """)


def jobset(jobs: str, *, policy: str = "smart", hosts: str | None = None) -> str:
    """A jobset in the seed's format: the manual's template with this
    machine as its host (juliet.futuresystems.org is no test host)."""
    hosts = hosts or textwrap.dedent("""\
        localhost:
          name: localhost
          ip: localhost
          cpus: '2'
          status: free
          job_counter: '0'
          max_jobs_allowed: '2'
        """)
    return (
        "cloudmesh:\n  default:\n    user: username\n  jobset:\n    hosts:\n"
        + textwrap.indent(hosts, "      ")
        + f"    scheduler:\n      policy: {policy}\n    jobs:\n"
        + textwrap.indent(jobs, "      ")
    )


#: the seed's README template, verbatim (hosts localhost and juliet, job ls_j)
README_TEMPLATE = """\
cloudmesh:
  default:
    user: username
  jobset:
    hosts:
      localhost:
        name: localhost
        ip: localhost
        cpus: '2'
        status: free
        job_counter: '2'
        max_jobs_allowed: '1'
      juliet:
        name: juliet
        ip: juliet.futuresystems.org
        cpus: '12'
        status: free
        job_counter: '0'
        max_jobs_allowed: '4'
    scheduler:
      policy: smart
    jobs:
      ls_j:
        name: ls_j
        directory: .
        ip: juliet.futuresystems.org
        input: ./data
        output: ./output/ls_j
        status: ready
        gpu: ' '
        user: username
        arguments: ' '
        executable: 'python test.py'
        shell: bash
        submitted_to_ip: juliet.futuresystems.org
"""


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a refused command (exit status 2)."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


# -- the seed's hosts on real sshd test hosts ------------------------------------------

#: the hosts the seed's examples name (queue manual: pi@red, pi@red01, pi@red02)
SEED_HOSTS = ("red", "red01", "red02")


@dataclass
class SshSeed(Seed):
    """A :class:`Seed` whose ssh config also reaches the test hosts as the
    seed's ``red``, ``red01``, ``red02`` and by their addresses (a host
    added with ``--ip=127.0.0.x`` is reached as that address)."""

    cluster: Any = None
    #: the seed's host name → the test host behind it
    red: dict[str, Any] = field(default_factory=dict)

    def host(self, alias: str) -> Any:
        return self.red[alias]

    def value(self, text: str) -> str:
        return text.format(**self.red) if "{" in text else text


def make_ssh_seed(mq: Meshq, cluster: Any, project: Path) -> SshSeed:
    """A seed user's CLI in ``project`` (under the local home, as a real
    user's project is), reaching ``cluster`` as the seed names its hosts."""
    text = Path(cluster.ssh_config).read_text()
    blocks = ["Host " + b for b in text.split("\nHost ") if b.strip()]
    blocks[0] = blocks[0].removeprefix("Host ")
    by_name = {b.split()[1]: b for b in blocks}
    extra = []
    for alias, host in zip(SEED_HOSTS, cluster.hosts, strict=False):
        body = by_name[host.name].split("\n", 1)[1]
        extra.append(f"Host {alias} {host.address}\n{body}")
    config = mq.root / "seed_ssh_config"
    config.write_text(text + "\n" + "\n".join(extra))
    env = {**mq.env, "MESHQ_SSH_CONFIG": str(config)}
    red = dict(zip(SEED_HOSTS, cluster.hosts, strict=False))
    return SshSeed(mq, project, env, cluster=cluster, red=red)
