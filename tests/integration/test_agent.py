"""The host agent and the job wrapper, as real bash processes on this machine."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from meshq import paths
from meshq.hosts.backend import Ended, FailedToStart, Started
from meshq.store import Store
from tests.integration.agent_helpers import (
    Events,
    alive,
    claimed,
    ended_on_an_agent,
    folder,
    started_agent,
)

pytestmark = pytest.mark.timeout(60)


def test_a_job_reports_start_and_end_and_writes_its_files(store: Store, make_queue) -> None:  # type: ignore[no-untyped-def]
    [job] = claimed(store, make_queue, command='echo "a;b" | wc -c; echo oops >&2; exit 4')

    async def go() -> None:
        events = Events()
        agent = await started_agent(events, job)
        [end] = await events.until(Ended)
        [start] = await events.until(Started)
        assert (start.job_id, start.attempt) == (job.id, 1)
        assert (end.status, end.code, end.signal) == ("fail", 4, None)
        await agent.close()

    asyncio.run(go())
    d = folder(job)
    assert (d / "job1.out").read_text() == "4\n"
    assert (d / "job1.err").read_text() == "oops\n"
    log = (d / "job1.log").read_text().splitlines()
    assert log[0].startswith("start 1 ") and log[1].startswith("end 1 4 ")


def test_a_question_asked_twice_at_once_answers_both(store: Store, make_queue) -> None:  # type: ignore[no-untyped-def]
    # a host's join and the run's periodic check may ask about one job together
    [job] = claimed(store, make_queue, command="sleep 30")

    async def go() -> None:
        events = Events()
        agent = await started_agent(events, job)
        [start] = await events.until(Started)
        running = job.evolve(pid=start.pid, pstart=start.pstart)
        first, second = await asyncio.wait_for(
            asyncio.gather(agent.check([running]), agent.check([running])), 10
        )
        assert first == second and first[job.id].alive
        killed = await asyncio.wait_for(
            asyncio.gather(agent.kill([running], grace=1), agent.kill([running], grace=1)), 10
        )
        assert killed == [{job.id: "killed"}, {job.id: "killed"}]
        await agent.close()

    asyncio.run(go())


def test_the_command_sees_its_environment(store: Store, make_queue, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text("export FROM_PYENV=yes\n")
    work = tmp_path / "work"
    work.mkdir()
    cmd = (
        'echo "$MESHQ_QUEUE $MESHQ_JOB $MESHQ_INDEX $MESHQ_ATTEMPT '
        '${CUDA_VISIBLE_DEVICES-unset} ${CUDA_DEVICE_ORDER-unset} $FROM_PYENV $PWD"'
    )
    jobs = claimed(
        store,
        make_queue,
        pattern="job[07-08]",
        command=cmd,
        gpu="1,3",
        pyenv=str(venv),
        directory=str(work),
    )

    async def go() -> None:
        events = Events()
        agent = await started_agent(events, *jobs)
        await events.until(Ended, 2)
        await agent.close()

    asyncio.run(go())
    out = Path(folder(jobs[0]), "job07.out").read_text().split()
    assert out == ["q", "job07", "07", "1", "1,3", "PCI_BUS_ID", "yes", str(work)]


def test_no_gpu_leaves_cuda_visible_devices_unset(
    store: Store,
    make_queue,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    [job] = claimed(store, make_queue, command='echo "${CUDA_VISIBLE_DEVICES-unset}"')

    async def go() -> None:
        events = Events()
        agent = await started_agent(events, job)
        await events.until(Ended)
        await agent.close()

    asyncio.run(go())
    assert Path(folder(job), "job1.out").read_text() == "unset\n"


def test_what_cannot_start_says_why(store: Store, make_queue, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    [job] = claimed(store, make_queue, directory=str(tmp_path / "missing"))

    async def go() -> FailedToStart:
        events = Events()
        agent = await started_agent(events, job)
        [fail] = await events.until(FailedToStart)
        await agent.close()
        return fail

    fail = asyncio.run(go())
    assert "does not exist" in fail.message
    assert fail.job_id == job.id


def test_a_missing_shell_fails_the_start_and_another_shell_still_runs(  # type: ignore[no-untyped-def]
    store: Store, make_queue, tmp_path: Path
) -> None:
    # the agent remembers the shells it found; one it did not find must
    # neither be remembered nor stop the next job from running
    [missing] = claimed(store, make_queue, pattern="nosh", shell="no-such-shell-here")
    [plain] = claimed(store, make_queue, name="q2", pattern="plain", command="echo $0", shell="sh")

    async def go() -> tuple[FailedToStart, Ended]:
        events = Events()
        agent = await started_agent(events, missing)
        [fail] = await events.until(FailedToStart)
        agent.launch(plain)
        [end] = await events.until(Ended)
        await agent.close()
        return fail, end

    fail, end = asyncio.run(go())
    assert "the shell no-such-shell-here is not installed" in fail.message
    assert end.status == "end"
    assert Path(folder(plain), plain.output).read_text() == "sh\n"


def test_timeout_kills_the_whole_process_group(store: Store, make_queue, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pidfile = tmp_path / "child.pid"
    [job] = claimed(store, make_queue, command=f"sleep 60 & echo $! > {pidfile}; wait", timeout=0.5)

    async def go() -> Ended:
        events = Events()
        agent = await started_agent(events, job)
        [end] = await events.until(Ended)
        await agent.close()
        return end

    t0 = time.monotonic()
    end = asyncio.run(go())
    assert end.status == "timeout"
    assert end.signal is not None  # bash reports the TERM that stopped it
    assert time.monotonic() - t0 < 10
    child = int(pidfile.read_text())
    assert not alive(child)


def test_kill_stops_the_group_and_check_sees_it(store: Store, make_queue, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pidfile = tmp_path / "child.pid"
    [job] = claimed(store, make_queue, command=f"sleep 60 & echo $! > {pidfile}; wait")

    async def go() -> None:
        events = Events()
        agent = await started_agent(events, job)
        [start] = await events.until(Started)
        running = job.evolve(pid=start.pid, pstart=start.pstart)
        deadline = time.monotonic() + 10
        while not pidfile.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        live = await agent.check([running])
        assert live[job.id].alive
        assert await agent.kill([running], grace=2) == {job.id: "killed"}
        [end] = await events.until(Ended)
        assert end.status == "kill"
        after = await agent.check([running])
        assert not after[job.id].alive
        assert any(x.startswith("kill 1") for x in after[job.id].lines)
        assert await agent.kill([running]) == {job.id: "gone"}
        await agent.close()

    asyncio.run(go())
    assert not alive(int(pidfile.read_text()))


def test_a_reused_pid_is_not_taken_for_the_job(store: Store, make_queue) -> None:  # type: ignore[no-untyped-def]
    [job] = claimed(store, make_queue)

    async def go() -> None:
        agent = await started_agent(Events())
        # our own pid is alive, but it did not start at that time
        impostor = job.evolve(pid=os.getpid(), pstart="1")
        assert not (await agent.check([impostor]))[job.id].alive
        await agent.close()

    asyncio.run(go())


def test_jobs_outlive_the_agent_and_the_manager(store: Store, make_queue, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    [job] = claimed(store, make_queue, command="sleep 1; echo done")

    async def go() -> int:
        events = Events()
        agent = await started_agent(events, job)
        [start] = await events.until(Started)
        await agent.close()  # the manager goes away
        return start.pid

    pid = asyncio.run(go())
    # nobody listens any more: the job's own log is where the end shows
    log = Path(folder(job), "job1.log")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "end 1 0" not in log.read_text():
        time.sleep(0.05)
    assert "end 1 0" in log.read_text()
    assert Path(folder(job), "job1.out").read_text() == "done\n"
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    assert not alive(pid)


def test_hostile_text_travels_as_data(store: Store, make_queue, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "pwned"
    weird = f"$(touch {marker}) `touch {marker}` ; touch {marker} \n' \" \\ \t end"
    cmd = 'printf "%s" "$MESHQ_INPUT"'
    [job] = claimed(store, make_queue, command=cmd, input=weird)

    async def go() -> None:
        events = Events()
        agent = await started_agent(events, job)
        await events.until(Ended)
        await agent.close()

    asyncio.run(go())
    assert Path(folder(job), "job1.out").read_text() == weird
    assert not marker.exists()


def test_remove_refuses_what_cannot_be_a_job_directory(tmp_path: Path) -> None:
    keep = tmp_path / "keep"
    keep.mkdir()
    gone = tmp_path / "exp" / "q" / "job1"
    gone.mkdir(parents=True)

    async def go() -> dict[str, str]:
        agent = await started_agent(Events())
        result = await agent.remove([str(gone), "/", f"{keep}/..", "relative"])
        await agent.close()
        return result

    result = asyncio.run(go())
    assert result[str(gone)] == "ok" and not gone.exists()
    assert all(result[k].startswith("refused") for k in ("/", f"{keep}/..", "relative"))
    assert keep.exists()


def test_a_job_ignoring_sigpipe_is_not_our_doing(store: Store, make_queue) -> None:  # type: ignore[no-untyped-def]
    [job] = claimed(store, make_queue, command="grep -E '^Sig(Ign|Blk)' /proc/self/status")

    async def go() -> None:
        events = Events()
        agent = await started_agent(events, job)
        await events.until(Ended)
        await agent.close()

    asyncio.run(go())
    text = Path(folder(job), "job1.out").read_text()
    ignored = int(text.split("SigIgn:")[1].split()[0], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))
    assert not ignored & (1 << (signal.SIGTERM - 1))


def test_a_plain_command_runs_its_program_without_starting_the_shell(  # type: ignore[no-untyped-def]
    store: Store, make_queue, tmp_path: Path
) -> None:
    # a shell that notes each start, then is bash: the plain commands must
    # not start it; whatever a shell gives meaning to must
    shell = tmp_path / "bin" / "bash"
    shell.parent.mkdir()
    started = tmp_path / "shell-started"
    shell.write_text(f'#!/bin/bash\nprintf "%s\\n" "$2" >> {started}\nexec /bin/bash "$@"\n')
    shell.chmod(0o755)
    program = tmp_path / "bin" / "show-args"
    program.write_text('#!/bin/sh\nprintf "[%s]" "$@"\n')
    program.chmod(0o755)
    commands = {
        "plain": f"{program} a  b=1 -c,d:e%f@g+h",
        "on-path": "sleep 0",
        "pipe": "echo a | cat",
        "builtin": "echo hi",
        "assignment": "X=1 sleep 0",
        "quoted": f"{program} 'a b'",
        "glob": f"{program} *",
        "missing": "no-such-program-here 1",
    }
    jobs = [
        job
        for i, (name, command) in enumerate(commands.items())
        for job in claimed(
            store, make_queue, name=f"q{i}", pattern=name, command=command, shell=str(shell)
        )
    ]

    ended = {e.job_id: e for e in ended_on_an_agent(*jobs)}
    by_name = {job.name: job for job in jobs}
    assert sorted(started.read_text().splitlines()) == sorted(
        commands[n] for n in ("pipe", "builtin", "assignment", "quoted", "glob", "missing")
    )
    # the program got the words as a shell would have split them
    plain = by_name["plain"]
    assert Path(folder(plain), plain.output).read_text() == "[a][b=1][-c,d:e%f@g+h]"
    assert ended[by_name["on-path"].id].status == "end"
    # a program that is not there is the shell's to report, as always
    missing = by_name["missing"]
    assert ended[missing.id].code == 127
    assert "not found" in Path(paths.job_paths(missing, local=True).stderr).read_text()


def test_a_command_that_ends_at_once_with_127_fails_with_127(store: Store, make_queue) -> None:  # type: ignore[no-untyped-def]
    # bash's 127 from a wait also means "collected already"; a command not
    # found ends before its wrapper's first wait, and was taken for a
    # success (3 of 64 here, under load a fifth)
    jobs = claimed(store, make_queue, pattern="job[1-64]", command="exit 127")
    jobs += claimed(store, make_queue, name="q2", pattern="nf[1-16]", command="no-such-program 1")

    codes = {(e.status, e.code) for e in ended_on_an_agent(*jobs)}
    assert codes == {("fail", 127)}, codes
