"""Round trips of every seed file format through a real store: import →
export → import into a fresh store → export gives the same text, and the
first export keeps every field of the file it came from (in meaning: a
relative directory is made absolute, a blank value written empty, a
host's job counter recounted). Jobs that ran did so as real processes.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from meshq.errors import UsageError
from meshq.service import Service
from tests.acceptance.seed_support import README_TEMPLATE


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder the user works in (relative paths of the files mean it)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def stores(tmp_path: Path, here: Path) -> Iterator[list[Service]]:
    """Two stores: the first import, and the import of its export."""
    made = [Service(db=tmp_path / f"store{i}.db", warn=lambda _: None) for i in (1, 2)]
    yield made
    for mq in made:
        mq.close()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def round_trip(
    stores: list[Service], path: Path, fmt: str, here: Path, *, hosts: bool = False
) -> tuple[str, str]:
    """Import ``path`` into the first store, export it, import that into the
    second, export again: both exports."""
    texts = []
    for mq in stores:
        done = mq.import_file(str(path))
        if hosts:
            texts.append(mq.export_hosts())
        else:
            assert done.queue is not None
            texts.append(mq.export_queue(done.queue.name, fmt))  # type: ignore[arg-type]
        path = write(here / "again" / path.name, texts[-1])
    return texts[0], texts[1]


def test_the_manuals_jobset_round_trips_keeping_every_field(
    stores: list[Service], here: Path
) -> None:
    path = write(here / "spec.yaml", README_TEMPLATE)
    first, second = round_trip(stores, path, "jobset", here)
    assert first == second
    original = yaml.safe_load(README_TEMPLATE)["cloudmesh"]
    exported = yaml.safe_load(first)["cloudmesh"]
    assert exported["default"] == original["default"]
    assert exported["jobset"]["scheduler"] == original["jobset"]["scheduler"]
    job, was = exported["jobset"]["jobs"]["ls_j"], original["jobset"]["jobs"]["ls_j"]
    assert set(job) >= set(was)
    for key in was:
        if key == "directory":
            assert job[key] == str(here)  # '.': where it was imported
        elif key in ("gpu", "arguments"):
            assert job[key] == "" and not was[key].strip()  # blank is written empty
        else:
            assert job[key] == was[key], key
    for name, host in original["jobset"]["hosts"].items():
        out = exported["jobset"]["hosts"][name]
        for key in host:
            # job_counter is state: the jobs meshq runs there now
            assert out[key] == (host[key] if key != "job_counter" else "0"), (name, key)


JOBSET_WITH_EVERYTHING = """\
cloudmesh:
  default:
    user: alice
  jobset:
    hosts:
      localhost:
        name: localhost
        ip: 127.0.0.1
        cpus: '2'
        status: free
        job_counter: '0'
        max_jobs_allowed: '2'
      juliet:
        name: juliet
        ip: 10.0.0.7
        cpus: '12'
        status: inactive
        job_counter: '0'
        max_jobs_allowed: '4'
        user: bob
        port: '2222'
        gpus: 0,1
        cores: '6'
        threads: '12'
    scheduler:
      policy: frugal
    jobs:
      prep:
        name: prep
        directory: /tmp
        ip: localhost
        input: ./data
        output: out/prep
        status: done
        gpu: '0'
        user: alice
        arguments: -c 1
        executable: python prep.py
        shell: bash
        submitted_to_ip: 127.0.0.1
        exit_code: '0'
        id: 4f2a
      train07:
        name: train07
        ip: juliet
        output: train07.out
        status: failed
        gpu: ''
        arguments: ''
        executable: python train.py
        shell: bash
        index: '07'
        timeout: '3600'
        retries: '2'
        after: prep
        log: t.log
        pyenv: ~/venv
        exit_code: '3'
        error: it failed
      big:
        name: big
        status: ready
        executable: python big.py
        arguments: ''
        gpus: '2'
        shell: zsh
    meshq:
      queue: sweep
      experiment: /tmp/sweep-experiment
      timeout: '600'
      retries: '1'
      paused: 'yes'
"""


def test_a_jobset_with_every_field_round_trips(stores: list[Service], here: Path) -> None:
    path = write(here / "everything.yaml", JOBSET_WITH_EVERYTHING)
    first, second = round_trip(stores, path, "jobset", here)
    assert first == second
    mq = stores[0]
    q = mq.queue("sweep")
    assert (q.experiment, q.default_timeout, q.default_retries, q.paused, q.policy) == (
        "/tmp/sweep-experiment",
        600.0,
        1,
        True,
        "frugal",
    )
    jobs = {j.name: j for j in mq.jobs("sweep")}
    assert (jobs["prep"].status.value, jobs["prep"].exit_code, jobs["prep"].host) == (
        "end",
        0,
        "localhost",
    )
    assert jobs["prep"].command == "python prep.py -c 1"
    train = jobs["train07"]
    assert (train.status.value, train.exit_code, train.error, train.index) == (
        "fail",
        3,
        "it failed",
        "07",
    )
    assert (train.timeout, train.retries, train.log, train.pyenv, train.host) == (
        3600.0,
        2,
        "t.log",
        "~/venv",
        "juliet",
    )
    assert [n for n, _ in mq.dependencies("sweep", "train07")] == ["prep"]
    assert (jobs["big"].gpus, jobs["big"].shell, jobs["big"].status.value) == (
        2,
        "zsh",
        "undefined",
    )
    juliet = mq.store.host("juliet")
    assert (juliet.address, juliet.user, juliet.port, juliet.gpus, juliet.status.value) == (
        "10.0.0.7",
        "bob",
        2222,
        ("0", "1"),
        "disabled",
    )
    exported = yaml.safe_load(first)["cloudmesh"]["jobset"]
    assert exported["jobs"]["prep"]["id"] == "4f2a"  # kept, written back
    assert exported["hosts"]["juliet"]["cores"] == "6"
    assert exported["hosts"]["juliet"]["status"] == "inactive"
    assert exported["hosts"]["localhost"]["ip"] == "127.0.0.1"


def test_a_job_spec_file_round_trips_as_a_jobset(stores: list[Service], here: Path) -> None:
    path = write(
        here / "other.yaml",
        """\
        pytest_job:
          name: pytest_job
          directory: .
          ip: local
          input: ./data
          output: ./output/abcd
          status: ready
          gpu: ' '
          user: user
          arguments: -lisa
          executable: ls
          shell: bash
        """,
    )
    first, second = round_trip(stores, path, "jobset", here)
    assert first == second
    job = yaml.safe_load(first)["cloudmesh"]["jobset"]["jobs"]["pytest_job"]
    assert (job["ip"], job["output"], job["arguments"], job["executable"]) == (
        "local",
        "./output/abcd",
        "-lisa",
        "ls",
    )


#: a queue file as the newer seed writes one (its Job's every field)
SEED_QUEUE_FILE = """\
job1:
  name: job1
  id: 0c7b
  experiment: experiment
  directory: ./experiment
  input: job1/input
  output: job1.out
  log: job1.log
  status: ready
  gpu: '0'
  arguments: '10'
  executable: sleep
  command: sleep 10
  shell: bash
  shell_path: /usr/bin/bash
  scriptname: experiment/job1/job1.bash
  remote_command: ssh pi@red "cd ./experiment/job1 ; nohup bash job1.bash >> job1-nohup.log 2>&1 &"
  nohup_command: nohup bash job1.bash >> job1-nohup.log 2>&1 &
  pid: null
  host: red
  user: pi
job2:
  name: job2
  id: 9d1e
  experiment: experiment
  directory: ./experiment
  input: job2/input
  output: job2.out
  log: job2.log
  status: end
  gpu: ''
  arguments: ''
  executable: hostname
  command: hostname
  shell: bash
  host: red
  user: pi
"""


def test_the_newer_seeds_queue_file_round_trips(stores: list[Service], here: Path) -> None:
    path = write(here / "experiment" / "a-queue.yaml", SEED_QUEUE_FILE)
    first, second = round_trip(stores, path, "queue", here)
    assert first == second
    mq = stores[0]
    q = mq.queue("a")
    assert q.experiment == str(here / "experiment")  # the folder the seed keeps it in
    jobs = {j.name: j for j in mq.jobs("a")}
    assert (jobs["job1"].command, jobs["job1"].host, jobs["job1"].user, jobs["job1"].gpu) == (
        "sleep 10",
        "red",
        "pi",
        "0",
    )
    assert jobs["job2"].status.value == "end"
    exported = yaml.safe_load(first)
    assert exported["config"]["name"] == "a"
    original = yaml.safe_load(SEED_QUEUE_FILE)
    for name, job in original.items():
        for key, value in job.items():
            if value is not None:
                assert exported["jobs"][name][key] == value, (name, key)


def test_a_queue_that_ran_round_trips_in_both_formats(stores: list[Service], here: Path) -> None:
    mq = stores[0]
    mq.create_queue("sweep", "./experiment", timeout=60, retries=1)
    mq.set_policy("sweep", "smart")
    mq.add("sweep", "prep", "echo prep", host="localhost")
    mq.add(
        "sweep",
        "train[1-3]",
        "echo $MESHQ_INDEX; exit $((MESHQ_INDEX - 1))",
        after="prep",
        retries=0,
    )
    mq.add("sweep", "later", "true", output="out/later.txt", gpus=1)
    mq.add_hosts("localhost", max_jobs=2)
    result = asyncio.run(mq.run_fifo_multi("sweep", name="prep,train[1-3]"))
    assert not result.ok  # train2 and train3 exit non-zero
    statuses = {j.name: j.status.value for j in mq.jobs("sweep")}
    assert statuses == {
        "prep": "end",
        "train1": "end",
        "train2": "fail",
        "train3": "fail",
        "later": "undefined",
    }
    for fmt in ("queue", "jobset"):
        text = mq.export_queue("sweep", fmt)
        path = write(here / fmt / "sweep.yaml", text)
        other = Service(db=here.parent / f"{fmt}.db", warn=lambda _: None)
        try:
            other.import_file(str(path))
            assert other.export_queue("sweep", fmt) == text
        finally:
            other.close()
    queue_text = yaml.safe_load(mq.export_queue("sweep", "queue"))
    train2 = queue_text["jobs"]["train2"]
    assert (train2["status"], train2["exit_code"], train2["host"], train2["placed"]) == (
        "fail",
        "1",
        "localhost",
        "yes",
    )
    assert queue_text["config"]["policy"] == "smart"


def test_a_cluster_file_round_trips(stores: list[Service], here: Path) -> None:
    path = write(
        here / "experiment" / "a-cluster.yaml",
        """\
        host0:
          user: pi
          name: host0
          ip: 10.0.0.10
          status: active
          job_counter: 0
          max_jobs_allowed: 2
          cores: 4
          threads: 8
          gpus: ''
          probe_status: false
          probe_time: null
          ping_status: false
          ping_time: null
        host1:
          user: pi
          name: host1
          ip: 10.0.0.11
          status: inactive
          job_counter: 0
          max_jobs_allowed: 1
          cores: 4
          threads: 8
          gpus: 0,1
        """,
    )
    first, second = round_trip(stores, path, "cluster", here, hosts=True)
    assert first == second
    hosts = {h.name: h for h in stores[0].hosts()}
    assert (hosts["host0"].address, hosts["host0"].user, hosts["host0"].max_jobs) == (
        "10.0.0.10",
        "pi",
        2,
    )
    assert (hosts["host1"].status.value, hosts["host1"].gpus) == ("disabled", ("0", "1"))
    exported = yaml.safe_load(first)
    assert exported["host0"]["threads"] == "8" and exported["host0"]["probe_status"] == "false"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "x:\n  name: x\n  executible: ls\n",
            "unknown field 'executible' (did you mean 'executable'?)",
        ),
        ("x:\n  name: x\n  executable: ls\n  status: submitted\n", "meshq cannot follow a job"),
        ("x:\n  name: x\n  executable: ls\n  status: sleeping\n", "unknown status"),
        ("x:\n  name: x\n  arguments: -a\n", "has no command"),
        ("cloudmesh:\n  jobset:\n    sheduler: {policy: smart}\n", "did you mean 'scheduler'"),
        ("cloudmesh:\n  jobset:\n    scheduler: {policy: fastest}\n", "unknown policy"),
        ("cloudmesh:\n  jobset:\n    hosts:\n      h: {ip: 'a;b'}\n", "invalid --ip"),
        ("x:\n  name: x\n  executable: ls\n  output: ../../etc/x\n", "invalid output file"),
        ("x:\n  name: x\n  executable: ls\n  ip: 'a b'\n", "invalid host name"),
        ("a/b:\n  name: a/b\n  executable: ls\n", "invalid job name"),
    ],
)
def test_a_bad_file_is_refused_whole_and_changes_nothing(
    stores: list[Service], here: Path, text: str, words: str
) -> None:
    mq = stores[0]
    path = write(here / "bad.yaml", text)
    with pytest.raises(UsageError) as err:
        mq.import_file(str(path))
    assert words in str(err.value) and "bad.yaml" in str(err.value)
    assert "\n" not in str(err.value)
    assert mq.queues() == [] and mq.hosts() == []


def test_importing_over_an_existing_queue_or_host(stores: list[Service], here: Path) -> None:
    mq = stores[0]
    warnings: list[str] = []
    mq.warn = warnings.append
    mq.add_hosts("localhost", max_jobs=8)
    path = write(here / "spec.yaml", README_TEMPLATE)
    mq.import_file(str(path))
    assert mq.store.host("localhost").max_jobs == 8  # the inventory's own stays
    assert any("localhost is in the inventory already" in w for w in warnings)
    with pytest.raises(UsageError, match="exists already"):
        mq.import_file(str(path))
    done = mq.import_file(str(path), name="spec2")
    assert done.queue is not None and done.queue.name == "spec2"
