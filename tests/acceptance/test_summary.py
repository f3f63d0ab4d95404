"""``meshq queue summary`` (runtimes, failures per host, retries counted
per attempt) and ``queue list --format=joblog`` (GNU Parallel's joblog,
checked against what ``parallel --joblog`` itself writes)."""

from __future__ import annotations

import re
import statistics
import subprocess
from pathlib import Path

import pytest

from tests.acceptance.conftest import Meshq

#: a joblog line as parallel writes one
LINE = re.compile(r"\d+\t[^\t]+\t\d+\.\d{3}\t[ \d]{5}\d\.\d{3}\t0\t0\t-?\d+\t\d+\t.*")


@pytest.fixture
def ran(mq: Meshq) -> Meshq:
    """Queue s: five jobs end (one of them, flaky, after a failed first
    attempt), hard fails twice (two attempts), slow times out."""
    mq.ok("queue", "create", "s")
    mq.add_local("s", "ok[1-3]", "sleep 0.$MESHQ_INDEX")
    mq.add_local("s", "flaky", '[ "$MESHQ_ATTEMPT" = 2 ] || exit 4', "--retries=1")
    mq.add_local("s", "hard", "exit 3", "--retries=1")
    mq.add_local("s", "slow", "sleep 10", "--timeout=0.5")
    mq.ok("queue", "add", "s", "--name=idle", "--command=true")
    mq("queue", "run", "fifo", "s", "-j", "6", timeout=60)
    return mq


def test_summary_counts_runtimes_and_failures_per_host(ran: Meshq) -> None:
    s = ran.json("queue", "summary", "s")
    assert s["queue"] == "s" and s["jobs"] == 7
    assert s["counts"] == {"undefined": 1, "end": 4, "fail": 1, "timeout": 1}
    jobs = [j for j in ran.jobs("s") if j["runtime"] is not None]
    runtimes = [j["runtime"] for j in jobs]
    assert s["runtime"]["jobs"] == 6
    assert s["runtime"]["max"] == pytest.approx(max(runtimes), abs=0.01)
    assert s["runtime"]["median"] == pytest.approx(statistics.median(runtimes), abs=0.01)
    assert s["runtime"]["mean"] == pytest.approx(statistics.fmean(runtimes), abs=0.01)
    (host,) = s["hosts"]
    # 6 jobs ran, flaky and hard twice: 8 attempts; failed ones are counted
    # each time, the retried ones too
    assert host["host"] == "localhost" and host["attempts"] == 8
    assert host["end"] == 4 and host["failed"] == 4
    assert host["failures"] == {"fail": 3, "timeout": 1}


def test_summary_table(ran: Meshq) -> None:
    out = ran.ok("queue", "summary", "s").stdout
    assert out.splitlines()[0] == "s: 7 job(s): 1 undefined, 4 end, 1 fail, 1 timeout"
    assert "runtime of 6 finished job(s): mean" in out and "median" in out and "max" in out
    assert re.search(r"localhost\s+8\s+4\s+4\s+\S+\s+3 fail, 1 timeout", out), out


def test_joblog_is_parallels_format(ran: Meshq, tmp_path: Path) -> None:
    ours = ran.ok("queue", "list", "s", "--format=joblog").stdout.splitlines()
    reference = tmp_path / "parallel.log"
    subprocess.run(["parallel", "--will-cite", "--joblog", str(reference), "exit {}", ":::",
                    "0", "3"], capture_output=True, check=False)
    theirs = reference.read_text().splitlines()
    assert ours[0] == theirs[0]
    assert all(LINE.fullmatch(line) for line in theirs[1:]), theirs
    assert all(LINE.fullmatch(line) for line in ours[1:]), ours
    fields = {line.split("\t")[0]: line.split("\t") for line in ours[1:]}
    # Seq is the place in the queue; the job never run (idle) has no line
    assert sorted(fields, key=int) == ["1", "2", "3", "4", "5", "6"]
    assert fields["5"][1] == ":" and (fields["5"][6], fields["5"][7]) == ("3", "0")
    assert (fields["6"][6], fields["6"][7]) == ("-1", "15")  # killed at its timeout
    assert fields["1"][8] == "sleep 0.$MESHQ_INDEX"
    # a selection keeps the queue's numbering
    failed = ran.ok("queue", "list", "s", "--status=fail,timeout",
                    "--format=joblog").stdout.splitlines()
    assert [line.split("\t")[0] for line in failed[1:]] == ["5", "6"]


def test_summary_of_an_unknown_queue_is_one_line(mq: Meshq) -> None:
    done = mq("queue", "summary", "nope")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
