"""Reading a job's true state from its state log and its process."""

from __future__ import annotations

from meshq.hosts.backend import Liveness
from meshq.model import Job, Status
from meshq.scheduler.reconcile import parse_log, verdict
from tests.support.jobs import make_job


def job(status: Status = Status.START, attempts: int = 2) -> Job:
    return make_job(host="localhost", status=status, pid=10, pstart="99", attempts=attempts)


START = "start 2 10 99 100.5"


def test_parse_reads_every_kind_of_line_and_skips_torn_ones() -> None:
    facts = parse_log((START, "kill 2 101.0", "end 2 143 101.5", "garbage", "end 2"))
    assert facts.pid == 10 and facts.pstart == "99" and facts.started == 100.5
    assert facts.killed and facts.exit_code == 143 and facts.ended == 101.5


def test_end_with_zero_is_end_and_non_zero_is_fail() -> None:
    ok = verdict(job(), Liveness(False, (START, "end 2 0 101.0")))
    bad = verdict(job(), Liveness(False, (START, "end 2 7 101.0")))
    assert ok is not None and ok.new is Status.END and ok.fields["exit_code"] == 0
    assert bad is not None and bad.new is Status.FAIL and bad.fields["exit_code"] == 7
    assert ok.attempt == 2


def test_kill_and_timeout_lines_win_over_the_exit_code() -> None:
    killed = verdict(job(), Liveness(False, (START, "kill 2 1", "end 2 143 2")))
    timed = verdict(job(), Liveness(False, (START, "timeout 2 1", "end 2 143 2")))
    assert killed is not None and killed.new is Status.KILL
    assert timed is not None and timed.new is Status.TIMEOUT


def test_killed_before_it_could_write_end() -> None:
    change = verdict(job(), Liveness(False, (START, "kill 2 1")))
    assert change is not None and change.new is Status.KILL


def test_started_and_gone_without_end_is_a_crash() -> None:
    change = verdict(job(), Liveness(False, (START,)))
    assert change is not None and change.new is Status.CRASH
    assert "gone" in change.fields["error"]


def test_started_and_alive() -> None:
    assert verdict(job(Status.START), Liveness(True, (START,))) is None
    change = verdict(job(Status.RUN), Liveness(True, (START,)))
    assert change is not None and change.new is Status.START and change.fields["pid"] == 10


def test_fail_start_keeps_the_message() -> None:
    change = verdict(job(Status.RUN), Liveness(False, ("fail_start 2 1.0 no such dir /x",)))
    assert change is not None and change.new is Status.FAIL_START
    assert change.fields["error"] == "no such dir /x"


def test_no_trace_of_the_attempt_says_nothing() -> None:
    assert verdict(job(Status.RUN), Liveness(False, ())) is None


# -- a host's own word that it lost an attempt (a Slurm cluster) ------------------

LOST = "Slurm says NODE_FAIL: its node failed"


def test_a_lost_attempt_is_a_crash_with_the_hosts_reason() -> None:
    # the node's failure signalled the command first: its end by signal is the loss
    change = verdict(job(), Liveness(False, (START, "end 2 143 2.0"), LOST))
    assert change is not None and change.new is Status.CRASH
    assert change.fields["error"] == LOST and change.fields["exit_code"] == 143
    never = verdict(job(Status.RUN), Liveness(False, (), LOST))
    assert never is not None and never.new is Status.CRASH


def test_an_end_of_its_own_or_a_kill_stands_against_a_loss() -> None:
    ok = verdict(job(), Liveness(False, (START, "end 2 0 2.0"), LOST))
    failed = verdict(job(), Liveness(False, (START, "end 2 3 2.0"), LOST))
    killed = verdict(job(), Liveness(False, (START, "kill 2 1", "end 2 143 2"), LOST))
    assert [c.new if c else None for c in (ok, failed, killed)] == [
        Status.END,
        Status.FAIL,
        Status.KILL,
    ]


def test_an_end_by_signal_records_the_signal() -> None:
    change = verdict(job(), Liveness(False, (START, "timeout 2 1", "end 2 143 2")))
    assert change is not None and change.fields["signal"] == 15
    plain = verdict(job(), Liveness(False, (START, "end 2 3 2")))
    assert plain is not None and plain.fields.get("signal") is None
