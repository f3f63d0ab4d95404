"""meshq placing jobs on real SSH hosts: slots, placement policies and GPUs.

The hosts are real ``sshd`` servers on 127.0.0.x logging in as another user (see
``tests/integration/ssh_helpers.py`` for what the tests can look at, and how they wait).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

from meshq.model import Status
from meshq.service import Service
from tests.integration.ssh_helpers import (
    SSH_TEST_MARKS,
    assert_ran_where_recorded,
    finish,
    hosts_in_order,
    meshq_cli,
    ok,
    peak_per_host,
    read_trace,
    run,
    started_lines,
    stdout_of,
    traced,
)
from tests.support.reporting import Messages
from tests.support.scenarios import until
from tests.support.sshd import SshCluster

pytestmark = SSH_TEST_MARKS


# --------------------------------------------------------------------------------------
# 1. fifo_multi over hosts with different slot counts
# --------------------------------------------------------------------------------------


def test_fifo_multi_fills_every_host_to_its_slots_and_no_further(
    cluster3: SshCluster, mq: Service, home_experiment: str, shared_dir: Path
) -> None:
    slots = {"mq1": 1, "mq2": 2, "mq3": 3}
    for name, n in slots.items():
        mq.add_hosts(name, max_jobs=n)
    mq.create_queue("q", home_experiment)
    trace, gate = shared_dir / "trace", shared_dir / "gate"
    mq.add("q", "job[1-12]", traced(trace, gate=gate))

    async def scenario() -> Any:
        runner = asyncio.create_task(mq.run_fifo_multi("q"))
        # the first wave fills every slot of every host, and no more: then the gate opens
        await until(lambda: len(started_lines(trace)) >= 6, "6 jobs to start")
        first_wave = Counter(line[2] for line in started_lines(trace))
        assert first_wave == slots
        assert Counter(j.host for j in mq.jobs("q", status=["run", "start"])) == slots
        gate.touch()
        return await finish(runner, "the run")

    result = run(scenario())

    assert result.ok and result.finished == {Status.END: 12}
    assert mq.counts("q") == {Status.END: 12}
    assert_ran_where_recorded(cluster3, mq, "q")
    spans = read_trace(trace)
    assert len(spans) == 12
    for job in mq.jobs("q"):
        assert spans[job.name].host == job.host
    assert peak_per_host(spans) == slots
    assert mq.jobs("q")[0].placed


def test_one_host_runs_more_jobs_at_once_than_sshd_has_sessions(
    cluster3: SshCluster, mq: Service, home_experiment: str, shared_dir: Path
) -> None:
    # sshd's default MaxSessions is 10 channels per connection: meshq's one
    # agent channel per host must not make that a limit on jobs
    mq.add_hosts("mq1", max_jobs=14)
    mq.create_queue("q", home_experiment)
    trace, gate = shared_dir / "trace", shared_dir / "gate"
    mq.add("q", "job[1-14]", traced(trace, gate=gate))

    async def scenario() -> Any:
        runner = asyncio.create_task(mq.run_fifo_multi("q"))
        await until(lambda: len(started_lines(trace)) >= 14, "14 jobs running at once")
        gate.touch()
        return await finish(runner, "the run")

    result = run(scenario())
    assert result.ok and result.finished == {Status.END: 14}
    assert peak_per_host(read_trace(trace)) == {"mq1": 14}


# --------------------------------------------------------------------------------------
# 2. the placement policies
# --------------------------------------------------------------------------------------


def test_each_policy_places_jobs_its_own_way(
    cluster3: SshCluster, mq: Service, home_experiment: str
) -> None:
    # Inventory order mq2 (2 slots), mq3 (3), mq1 (1): every policy then differs.
    for name, n in (("mq2", 2), ("mq3", 3), ("mq1", 1)):
        mq.add_hosts(name, max_jobs=n)
    # Six jobs for six slots: the run places all of them at once, in queue order, so
    # the placements are the policy's choices against the loads it saw.
    expected = {
        "sequential": ["mq2", "mq2", "mq3", "mq3", "mq3", "mq1"],
        "smart": ["mq3", "mq2", "mq3", "mq2", "mq3", "mq1"],
        "frugal": ["mq1", "mq2", "mq2", "mq3", "mq3", "mq3"],
    }

    async def place(queue: str, **kw: Any) -> list[str | None]:
        mq.create_queue(queue, home_experiment)
        mq.add(queue, "job[1-6]", 'echo "$MESHQ_TEST_HOST"')
        result = await mq.run_fifo_multi(queue, **kw)
        assert result.ok and result.finished == {Status.END: 6}, (queue, result)
        assert_ran_where_recorded(cluster3, mq, queue)
        return hosts_in_order(mq, queue)

    async def scenario() -> dict[str, list[str | None]]:
        seen = {policy: await place(policy, policy=policy) for policy in expected}
        for seed in (1, 2, 3):
            seen[f"random{seed}"] = await place(f"random{seed}", policy="random", seed=seed)
        seen["random1again"] = await place("random1again", policy="random", seed=1)
        return seen

    seen = run(scenario())

    for policy, hosts in expected.items():
        assert seen[policy] == hosts, policy
    # with one job: sequential takes the first host, smart the emptiest, frugal the fullest
    assert (seen["sequential"][0], seen["smart"][0], seen["frugal"][0]) == ("mq2", "mq3", "mq1")
    randoms = [seen[f"random{seed}"] for seed in (1, 2, 3)]
    for hosts in randoms:
        # only hosts with a free slot: six jobs on six slots fill each host exactly
        assert Counter(hosts) == {"mq1": 1, "mq2": 2, "mq3": 3}, hosts
    assert len({tuple(h) for h in randoms}) > 1, "random placed the same way for every seed"
    assert seen["random1again"] == seen["random1"], "the same seed must place the same way"


def test_hosts_list_form_repeats_for_slots_and_uses_the_user(
    cluster3: SshCluster, mq: Service, home_experiment: str
) -> None:
    user = cluster3.host("mq1").user
    mq.create_queue("q", home_experiment)
    mq.add("q", "job[1-4]", 'echo "$MESHQ_TEST_HOST"')
    messages = Messages()

    # No inventory: the list is the whole truth. mq1 twice = two slots; mq3's user
    # does not exist there, so mq3 cannot be logged into.
    result = run(
        mq.run_fifo_multi("q", hosts=f"{user}@mq1,mq1,mq2,nosuchuser@mq3", reporter=messages)
    )

    assert result.ok and result.finished == {Status.END: 4}
    placed = hosts_in_order(mq, "q")
    # the first three are placed at once: both slots of mq1, then mq2's one
    assert placed[:3] == ["mq1", "mq1", "mq2"]
    assert placed[3] in ("mq1", "mq2")
    assert_ran_where_recorded(cluster3, mq, "q")
    down = [m for m in messages.lines if m.startswith("host mq3 is down")]
    assert down and "permission denied" in down[0], messages.lines
    assert mq.hosts() == []  # a run from a list records nothing in the inventory


# --------------------------------------------------------------------------------------
# 3. GPUs
# --------------------------------------------------------------------------------------


def test_gpu_jobs_get_distinct_free_ids_of_their_host(
    cluster3: SshCluster, mq: Service, tmp_path: Path, home_experiment: str, shared_dir: Path
) -> None:
    mq.add_hosts("mq1", max_jobs=4, gpus="0,1")
    mq.add_hosts("mq2", max_jobs=4, gpus="0,1,2,3")
    mq.add_hosts("mq3", max_jobs=3)  # no GPUs: never a GPU job's host
    declared = {"mq1": {"0", "1"}, "mq2": {"0", "1", "2", "3"}}
    mq.create_queue("q", home_experiment)
    trace, gate = shared_dir / "trace", shared_dir / "gate"
    cmd = traced(trace, gate=gate, stdout="$CUDA_VISIBLE_DEVICES")
    mq.add("q", "two[1-4]", cmd, gpus=2)
    mq.add("q", "huge", cmd, gpus=5)
    mq.add("q", "one[1-6]", cmd, gpus=1)
    wanted = {j.name: j.gpus for j in mq.jobs("q")}

    async def scenario() -> tuple[Any, list[dict[str, Any]]]:
        runner = asyncio.create_task(mq.run_fifo_multi("q"))
        # first wave (sequential): two1 takes mq1's 0,1; two2 and two3 take mq2's four
        # GPUs; then every GPU is held and nothing else fits until the gate opens
        await until(lambda: len(started_lines(trace)) >= 3, "3 GPU jobs to start")
        await until(lambda: mq.job("q", "huge").status is Status.FAIL_START, "huge to fail")
        listed = await asyncio.to_thread(
            meshq_cli, tmp_path / "db", cluster3, "hosts", "list", "-o", "json"
        )
        assert {line[1] for line in started_lines(trace)} == {"two1", "two2", "two3"}
        gate.touch()
        return await finish(runner, "the run"), json.loads(ok(listed))

    result, listed = run(scenario())

    by_name = {row["name"]: row for row in listed}
    assert by_name["mq1"]["gpu_used"] == ["0", "1"] and by_name["mq1"]["gpu_free"] == []
    assert by_name["mq2"]["gpu_used"] == ["0", "1", "2", "3"] and by_name["mq2"]["gpu_free"] == []
    assert (by_name["mq1"]["slots_used"], by_name["mq2"]["slots_used"]) == (1, 2)
    assert by_name["mq3"]["gpu_used"] == [] and by_name["mq3"]["slots_used"] == 0

    assert result.finished == {Status.END: 10, Status.FAIL_START: 1}
    huge = mq.job("q", "huge")
    assert huge.status is Status.FAIL_START
    assert huge.error is not None and "5 GPU" in huge.error and "more than 4" in huge.error

    spans = read_trace(trace)
    jobs = [j for j in mq.jobs("q") if j.name != "huge"]
    assert len(spans) == len(jobs) == 10
    for job in jobs:
        assert job.status is Status.END, job
        assert job.host in declared, job  # mq3 has no GPUs
        assert job.gpu is not None
        ids = job.gpu.split(",")
        assert len(ids) == len(set(ids)) == wanted[job.name]
        assert set(ids) <= declared[job.host]
        # what the job saw is what the store recorded
        assert stdout_of(cluster3, job).splitlines()[0] == job.gpu
        assert spans[job.name].gpus == set(ids) and spans[job.name].host == job.host
    # at no moment do two jobs on one host hold the same GPU
    for a in spans.values():
        for b in spans.values():
            if a.job < b.job and a.host == b.host and a.start < b.end and b.start < a.end:
                assert not a.gpus & b.gpus, (a, b)
