"""Hosts that ``~/.ssh/config`` describes: ``hosts list`` shows the address,
user and port a connection to them uses, as ssh's config resolves them, and
a run reaches them exactly there.

The config is a real ``~/.ssh/config`` in a temporary HOME (no
``MESHQ_SSH_CONFIG``), pointing at a real sshd test host that logs in as
another user.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.acceptance.conftest import Meshq
from tests.support.fixtures import ClusterFactory

pytestmark = [pytest.mark.ssh, pytest.mark.timeout(120)]


def test_hosts_list_shows_what_ssh_config_resolves_and_a_run_uses_it(
    mq: Meshq, tmp_path: Path, make_ssh_cluster: ClusterFactory, home_experiment: str
) -> None:
    cluster = make_ssh_cluster(1)
    [host] = cluster.hosts
    home = tmp_path / "user-home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    (home / ".ssh" / "config").write_text(cluster.ssh_config.read_text())
    env = {k: v for k, v in mq.env.items() if k != "MESHQ_SSH_CONFIG"}
    env.update(HOME=str(home), COLUMNS="200")
    mq.ok("hosts", "add", host.name, "--max_jobs_allowed=2", env=env)
    mq.ok("hosts", "add", "localhost", env=env)

    [listed, local] = json.loads(mq.ok("hosts", "list", "--format=json", env=env).stdout)
    # what meshq was told stays as told (nothing); what a connection uses is resolved
    assert (listed["ip"], listed["user"], listed["port"]) == (None, None, None)
    assert listed["resolved"] == {"ip": host.address, "user": host.user, "port": host.port}
    assert local["resolved"] is None

    table = mq.ok("hosts", "list", env=env).stdout.splitlines()
    row = next(line.split() for line in table if line.startswith(host.name))
    assert {f"{host.address}*", f"{host.user}*", f"{host.port}*"} <= set(row)
    assert table[-1] == "* not given to meshq: as ssh's config resolves it"

    # a run connects exactly there, as that user
    # a project under that HOME (the other user's copy is removed by home_experiment)
    proj = home / Path(home_experiment).parent.relative_to(Path.home())
    proj.mkdir(parents=True)
    mq.ok("queue", "create", "q", env=env, cwd=proj)
    mq.ok(
        "queue",
        "add",
        "q",
        "--name=j",
        f"--host={host.name}",
        "--command=id -un",
        env=env,
        cwd=proj,
    )
    mq.ok("queue", "run", "fifo", "q", env=env, cwd=proj)
    [job] = json.loads(mq.ok("queue", "list", "q", "--format=json", env=env).stdout)
    assert job["status"] == "end", job["error"]
    ran = (job["run_address"], job["run_user"], job["run_port"])
    assert ran == (host.address, host.user, host.port)


def test_values_given_to_meshq_win_and_are_not_marked(mq: Meshq, tmp_path: Path) -> None:
    home = tmp_path / "user-home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    (home / ".ssh" / "config").write_text(
        "Host red red0*\n    User pi\n    Port 2222\nHost red01\n    HostName 10.0.0.11\n"
    )
    env = {**mq.env, "HOME": str(home), "COLUMNS": "200"}
    env.pop("MESHQ_SSH_CONFIG", None)
    mq.ok("hosts", "add", "red01", env=env)
    mq.ok("hosts", "add", "gpu1", "--ip=10.0.0.20", "--user=me", "--port=2022", env=env)
    by = {h["name"]: h for h in json.loads(mq.ok("hosts", "list", "-o", "json", env=env).stdout)}
    # ssh's rule: the first value found wins, Host red0* before Host red01
    assert by["red01"]["resolved"] == {"ip": "10.0.0.11", "user": "pi", "port": 2222}
    assert by["gpu1"]["resolved"] == {"ip": "10.0.0.20", "user": "me", "port": 2022}
    rows = {
        line.split()[0]: line.split()
        for line in mq.ok("hosts", "list", env=env).stdout.splitlines()
    }
    assert {"10.0.0.11*", "pi*", "2222*"} <= set(rows["red01"])
    assert {"10.0.0.20", "me", "2022"} <= set(rows["gpu1"])
    assert not any(cell.endswith("*") for cell in rows["gpu1"])
