"""``meshq serve`` as a real process on a free loopback port, talked to
over HTTP: the token, a queue run to completion through ``POST /runs``,
``serve info``, a generated token kept 0600, and requests that go on
while another process holds the store's write lock."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.web.browser.serving import Served, free_port, serve


def _client(served: Served) -> httpx.Client:
    auth = {"Authorization": f"Bearer {served.token}"}
    return httpx.Client(base_url=served.url, headers=auth, timeout=60)


def test_a_queue_runs_to_completion_through_the_real_service(tmp_path: Path) -> None:
    with serve(tmp_path) as served, _client(served) as http:
        assert httpx.get(f"{served.url}/health").status_code == 200
        assert httpx.get(f"{served.url}/queues").status_code == 401
        wrong = {"Authorization": "Bearer " + "w" * 32}
        assert httpx.get(f"{served.url}/queues", headers=wrong).status_code == 403
        body = {"name": "web", "experiment": str(served.experiment)}
        assert http.post("/queues", json=body).status_code == 201
        jobs = {"name": "job[1-6]", "command": "echo $((MESHQ_INDEX * 7))", "host": "localhost"}
        assert http.post("/queues/web/jobs", json=jobs).json()["added"][-1] == "job6"
        run = http.post("/runs", json={"queue": "web", "max_parallel": 3, "check_interval": 0.5})
        assert run.status_code == 201, run.text
        deadline = time.monotonic() + 120
        while (state := http.get(f"/runs/{run.json()['id']}").json())["state"] == "running":
            assert time.monotonic() < deadline, state
            time.sleep(0.3)
        assert (state["state"], state["ok"], state["finished"]) == ("done", True, {"end": 6})
        assert http.get("/queues/web").json()["counts"] == {"end": 6}
        assert http.get("/queues/web/jobs/job6/logs").text == "42\n"
        ended = http.get("/queues/web/jobs", params={"status": "end", "limit": 2}).json()
        assert (ended["total"], [j["name"] for j in ended["jobs"]]) == (6, ["job1", "job2"])


def test_serve_info_and_job_service_info_print_the_url_with_the_token(tmp_path: Path) -> None:
    with serve(tmp_path) as served:
        env = {
            **os.environ,
            "HOME": str(tmp_path / "home"),
            "MESHQ_HOME": str(tmp_path / "home" / "meshq"),
        }
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        for argv in (["serve", "info"], ["job", "--service", "info"]):
            out = subprocess.run(
                [sys.executable, "-m", "meshq", *argv], env=env, capture_output=True, text=True
            )
            assert out.returncode == 0, out.stderr
            assert f"{served.url}/#token={served.token}" in out.stdout
            assert f"{served.url}/docs" in out.stdout


def test_serve_info_without_a_service_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "MESHQ_HOME": str(tmp_path / "none")}
    out = subprocess.run(
        [sys.executable, "-m", "meshq", "serve", "info"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "meshq: error: no meshq service is running here: start one with 'meshq serve'"
    )


def test_a_generated_token_is_printed_kept_0600_and_required(tmp_path: Path) -> None:
    """Listening on every address with no token given: one is made and kept."""
    home = tmp_path / "meshq"
    env = {k: v for k, v in os.environ.items() if k != "MESHQ_TOKEN"}
    env |= {"MESHQ_HOME": str(home), "MESHQ_DB": str(tmp_path / "m.db")}
    port = free_port()
    argv = [sys.executable, "-m", "meshq", "serve", "--host", "0.0.0.0", "--port", str(port)]
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        token_file = home / "serve-token"
        token = token_file.read_text().strip()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        printed = log.read_text()
        assert f"#token={token}" in printed
        assert "other machines can reach it" in printed
        assert httpx.get(f"{url}/hosts").status_code == 401
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{url}/hosts", headers=auth).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_a_short_token_and_a_busy_port_are_refused(tmp_path: Path) -> None:
    env = {**os.environ, "MESHQ_HOME": str(tmp_path / "h"), "MESHQ_DB": str(tmp_path / "m.db")}
    short = subprocess.run(
        [sys.executable, "-m", "meshq", "serve", "--token", "abc"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert short.returncode == 2
    assert "at least 16 printable characters" in short.stderr
    with serve(tmp_path / "s") as served:
        port = served.url.rsplit(":", 1)[1]
        busy = subprocess.run(
            [sys.executable, "-m", "meshq", "serve", "--port", port, "--token", "t" * 20],
            env=env,
            capture_output=True,
            text=True,
        )
    assert busy.returncode == 2
    assert f"cannot listen on 127.0.0.1 port {port}" in busy.stderr


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def test_writes_waiting_for_a_lock_held_elsewhere_stall_no_read(tmp_path: Path) -> None:
    """Another process holds the store's write lock for HOLD seconds; three
    writes wait for it meanwhile (each in a worker thread of the service),
    and reads still answer, each well within the hold."""
    hold = 20.0
    with serve(tmp_path) as served, _client(served) as http:
        http.post("/queues", json={"name": "q", "experiment": str(served.experiment)})
        http.post("/queues/q/jobs", json={"name": "j[1-50]", "command": "true"})
        locker = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(served.db), str(hold)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert locker.stdout is not None
        assert locker.stdout.readline().strip() == "locked"
        locked_at = time.monotonic()
        writes: list[int] = []

        def write(n: int) -> None:
            body = {"name": f"w{n}", "experiment": str(served.experiment)}
            writes.append(http.post("/queues", json=body).status_code)

        writers = [threading.Thread(target=write, args=(n,)) for n in range(3)]
        for t in writers:
            t.start()
        time.sleep(1.0)  # let the writes reach the lock
        for path in ("/queues", "/queues/q/jobs?status=undefined&limit=5", "/hosts", "/health"):
            began = time.monotonic()
            answer = http.get(path)
            took = time.monotonic() - began
            assert answer.status_code == 200, (path, answer.text)
            assert took < hold / 2, f"GET {path} waited {took:.1f} s behind the lock"
        assert writes == []  # the writes are still waiting: the lock was really held
        for t in writers:
            t.join(60)
        locker.wait(30)
        assert writes == [201, 201, 201]
        assert time.monotonic() - locked_at >= hold - 1


def test_job_service_start_serves_as_meshq_serve_does(tmp_path: Path) -> None:
    """The seed's ``cms job --service start``: ``meshq serve`` with its defaults
    (on a free port set as the default: --service takes no other option)."""
    port = free_port()
    token = "s" * 24
    env = {**os.environ, "MESHQ_HOME": str(tmp_path / "h"), "MESHQ_DB": str(tmp_path / "m.db")}
    env["MESHQ_TOKEN"] = token
    code = (
        "import sys; from meshq.cli.main import main; from meshq.cli import serve; "
        "[p for p in serve.serve.params if p.name == 'port'][0].default = int(sys.argv[1]); "
        "sys.exit(main(['job', '--service', 'start']))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(port)], env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"{url}/queues", headers={"Authorization": f"Bearer {token}"})
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert (answer.status_code, answer.json()) == (200, [])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
