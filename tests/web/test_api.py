"""The REST API through FastAPI's test client: the real application, a
real SQLite store and the local host; one test per resource and behaviour."""

from __future__ import annotations

import time
from datetime import datetime

from tests.web.conftest import Api


def test_health_and_docs_need_no_token_every_other_route_does(api: Api) -> None:
    c = api.client
    assert c.get("/health").json()["status"] == "ok"
    assert c.get("/docs").status_code == 200
    assert c.get("/redoc").status_code == 200
    paths = c.get("/openapi.json").json()["paths"]
    assert {"/queues", "/queues/{queue}/jobs", "/hosts", "/runs"} <= set(paths)
    none = c.get("/queues")
    assert none.status_code == 401
    assert none.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in none.json()["error"]
    assert c.get("/queues", headers={"Authorization": "Bearer " + "x" * 32}).status_code == 403
    assert c.get("/queues", headers={"Authorization": f"Basic {api.token}"}).status_code == 401
    assert c.get("/hosts", headers=api.auth).status_code == 200


def test_no_cross_origin_reading(api: Api) -> None:
    """No CORS: a page of another site may not read answers or send the header."""
    origin = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    preflight = api.client.options("/queues", headers=origin)
    assert "access-control-allow-origin" not in preflight.headers
    answer = api.client.get("/queues", headers={**api.auth, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in answer.headers


def test_queues_create_list_show_change_pause_delete(api: Api) -> None:
    created = api.queue("sweep", timeout="2h", retries=1).json()
    assert created["name"] == "sweep"
    assert (created["timeout"], created["retries"], created["total"]) == (7200, 1, 0)
    again = api.post("/queues", {"name": "sweep"})
    assert again.status_code == 409
    assert again.json()["type"] == "AlreadyExists"
    assert api.post("/queues", {"name": "a b"}).status_code == 422
    assert api.post("/queues", {"name": "ok", "colour": "red"}).status_code == 422
    added = api.post("/queues/sweep/jobs", {"name": "j[1-3]", "command": "true"})
    assert added.status_code == 201
    shown = api.get("/queues/sweep").json()
    assert (shown["counts"], shown["total"]) == ({"undefined": 3}, 3)
    assert [q["name"] for q in api.get("/queues").json()] == ["sweep"]
    assert api.post("/queues/sweep/pause").json()["paused"] is True
    assert api.post("/queues/sweep/resume").json()["paused"] is False
    changed = api.client.patch("/queues/sweep", json={"retries": 3}, headers=api.auth)
    assert changed.json()["retries"] == 3
    empty = api.client.patch("/queues/sweep", json={}, headers=api.auth)
    assert empty.status_code == 422
    assert api.delete("/queues/sweep").json() == {"deleted": 3}
    missing = api.get("/queues/sweep")
    assert missing.status_code == 404
    assert (missing.json()["kind"], missing.json()["name"]) == ("queue", "sweep")


def test_jobs_add_list_filter_page_show(api: Api) -> None:
    api.queue()
    added = api.post("/queues/q/jobs", {"name": "job[1-25]", "command": "echo $MESHQ_INDEX"})
    assert added.status_code == 201
    assert added.json()["added"][:3] == ["job1", "job2", "job3"]
    page = api.get("/queues/q/jobs", params={"offset": 20, "limit": 10}).json()
    assert (page["total"], [j["name"] for j in page["jobs"]]) == (
        25,
        ["job21", "job22", "job23", "job24", "job25"],
    )
    named = api.get("/queues/q/jobs", params={"name": "job1*", "limit": 3}).json()
    assert named["total"] == 11  # job1, job10-job19
    assert [j["name"] for j in named["jobs"]] == ["job1", "job10", "job11"]
    assert api.get("/queues/q/jobs", params={"status": "fail"}).json()["total"] == 0
    assert api.get("/queues/q/jobs", params={"status": "pending"}).json()["total"] == 25
    bad_state = api.get("/queues/q/jobs", params={"status": "bogus"})
    assert bad_state.status_code == 422
    assert "unknown state 'bogus'" in bad_state.json()["error"]
    assert api.get("/queues/q/jobs", params={"limit": 100_000}).status_code == 422
    assert api.get("/queues/q/jobs", params={"offset": -1}).status_code == 422
    typo = api.get("/queues/q/jobs", params={"stauts": "fail"})  # not ignored: refused
    assert typo.status_code == 422
    assert "unknown query parameter 'stauts'" in typo.json()["error"]
    job = api.get("/queues/q/jobs/job7").json()
    assert (job["index"], job["command"], job["status"]) == ("7", "echo $MESHQ_INDEX", "undefined")
    assert [e["new"] for e in job["history"]] == ["undefined"]
    unknown = api.get("/queues/q/jobs/job99")
    assert unknown.status_code == 404
    assert unknown.json()["job"] == "job99"
    assert api.get("/queues/nope/jobs").status_code == 404
    taken = api.post("/queues/q/jobs", {"name": "job3", "command": "true"})
    assert taken.status_code == 409
    assert api.post("/queues/q/jobs", {"name": "j[5-1]", "command": "true"}).status_code == 422
    assert (
        api.post("/queues/q/jobs", {"name": "x", "command": "true", "gpu": "a;b"}).status_code
        == 422
    )


def test_jobs_delete_one_and_a_selection(api: Api) -> None:
    api.queue()
    api.post("/queues/q/jobs", {"name": "j[1-5]", "command": "true"})
    assert api.delete("/queues/q/jobs/j1").json() == {"deleted": 1}
    assert api.delete("/queues/q/jobs/j1").status_code == 404
    assert api.post("/queues/q/delete", {}).status_code == 422
    assert api.post("/queues/q/delete", {"name": "j[2-3]"}).json() == {"deleted": 2}
    left = api.get("/queues/q/jobs").json()
    assert [j["name"] for j in left["jobs"]] == ["j4", "j5"]


def test_a_run_to_completion_then_logs_reset_and_kill(api: Api) -> None:
    """POST /runs runs the queue in the service (no subprocess of meshq)."""
    api.queue()
    command = "echo out $MESHQ_INDEX; echo err >&2; exit $((MESHQ_INDEX == 2))"
    api.post("/queues/q/jobs", {"name": "j[1-3]", "command": command, "host": "localhost"})
    started = api.post("/runs", {"queue": "q", "max_parallel": 3, "check_interval": 0.5})
    assert started.status_code == 201, started.text
    run = api.wait_run(started.json()["id"])
    assert (run["state"], run["ok"], run["finished"]) == ("done", False, {"end": 2, "fail": 1})
    assert api.get("/queues/q").json()["counts"] == {"end": 2, "fail": 1}
    assert api.get("/queues/q/jobs", params={"status": "fail"}).json()["jobs"][0]["name"] == "j2"
    assert api.get("/queues/q/jobs/j3/logs").text == "out 3\n"
    assert api.get("/queues/q/jobs/j3/logs", params={"stream": "stderr"}).text == "err\n"
    assert api.get("/queues/q/jobs/j3/logs", params={"follow": True}).text == "out 3\n"
    history = [e["new"] for e in api.get("/queues/q/jobs/j2").json()["history"]]
    assert history == ["ready", "run", "start", "fail"]
    not_running = api.post("/queues/q/jobs/j1/kill")
    assert not_running.status_code == 409
    assert "not running" in not_running.json()["error"]
    reset = api.post("/queues/q/reset", {"status": "fail"}).json()
    assert reset == {"changed": [{"name": "j2", "old": "fail", "new": "ready"}]}
    # reset keeps the attempt's files; a reset with purge removes them
    assert api.get("/queues/q/jobs/j2/logs", params={"attempt": 1}).text == "out 2\n"
    assert api.post("/queues/q/jobs/j2/reset", params={"purge": True}).status_code == 200
    gone = api.get("/queues/q/jobs/j2/logs")
    assert (gone.status_code, gone.json()["type"]) == (404, "UnreadableFile")
    assert api.get("/runs", params={"active": True}).json() == []
    assert api.get("/runs").json()[0]["id"] == run["id"]


def test_a_run_stopped_then_its_running_job_killed(api: Api) -> None:
    api.queue()
    api.post("/queues/q/jobs", {"name": "long", "command": "sleep 60", "host": "localhost"})
    api.post("/queues/q/jobs", {"name": "after", "command": "true", "host": "localhost"})
    run = api.post("/runs", {"queue": "q", "max_parallel": 1, "check_interval": 0.5}).json()
    second = api.post("/runs", {"queue": "q"})
    assert second.status_code == 409
    assert "being run already" in second.json()["error"]
    assert api.delete("/queues/q").status_code == 409
    deadline = time.monotonic() + 60
    while api.get("/queues/q/jobs/long").json()["status"] != "start":
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.2)
    assert api.post(f"/runs/{run['id']}/stop").json()["id"] == run["id"]
    stopped = api.wait_run(run["id"])
    assert (stopped["state"], stopped["still_running"]) == ("stopped", 1)
    assert api.get("/queues/q/jobs/after").json()["status"] == "ready"
    killed = api.post("/queues/q/jobs/long/kill").json()
    assert killed == {"changed": [{"name": "long", "old": "start", "new": "kill"}]}
    assert api.get("/runs/999").status_code == 404


def test_run_options_are_checked_by_the_service(api: Api) -> None:
    api.queue()
    assert api.post("/runs", {"queue": "nope"}).status_code == 404
    zero = api.post("/runs", {"queue": "q", "max_parallel": 0})
    assert zero.status_code == 422
    assert "max_parallel" in zero.json()["error"]
    no_hosts = api.post("/runs", {"queue": "q", "mode": "fifo_multi"})
    assert no_hosts.status_code == 422
    assert no_hosts.json()["type"] == "NoHosts"
    bad_policy = api.post("/runs", {"queue": "q", "mode": "fifo_multi", "policy": "bogus"})
    assert bad_policy.status_code == 422
    assert api.post("/runs", {"queue": "q", "mode": "lifo"}).status_code == 422
    assert api.get("/runs").json() == []  # refused runs leave nothing behind


def test_fifo_multi_over_the_inventory(api: Api) -> None:
    api.post("/hosts", {"name": "localhost", "max_jobs": 2})
    api.queue()
    api.post("/queues/q/jobs", {"name": "m[1-4]", "command": "echo $MESHQ_INDEX"})
    body = {"queue": "q", "mode": "fifo_multi", "policy": "sequential", "check_interval": 0.5}
    run = api.wait_run(api.post("/runs", body).json()["id"])
    assert (run["state"], run["ok"], run["finished"]) == ("done", True, {"end": 4})


def test_hosts_add_list_disable_enable_probe_delete(api: Api) -> None:
    added = api.post(
        "/hosts", {"name": "red0[1-2]", "ip": "10.0.0.5", "max_jobs": 2, "gpus": "0,1"}
    )
    assert added.status_code == 201
    assert [h["name"] for h in added.json()] == ["red01", "red02"]
    assert api.post("/hosts", {"name": "red01"}).status_code == 409
    assert api.post("/hosts", {"name": "bad", "port": 70000}).status_code == 422
    listed = {h["name"]: h for h in api.get("/hosts").json()}
    assert listed["red01"]["gpus"] == ["0", "1"]
    assert (listed["red01"]["running"], listed["red01"]["gpus_in_use"]) == (0, [])
    assert api.post("/hosts/red01/disable").json()["status"] == "disabled"
    assert api.post("/hosts/red01/enable").json()["status"] == "active"
    assert api.post("/hosts/nope/enable").status_code == 404
    api.post("/hosts", {"name": "localhost"})
    probe = api.post("/hosts/localhost/probe").json()
    assert (probe["error"], probe["host"]["status"]) == (None, "active")
    assert api.delete("/hosts/red02").status_code == 204
    assert api.get("/hosts/red02").status_code == 404
    assert api.post("/hosts/red02/probe").status_code == 404


def test_follow_streams_a_log_as_it_grows(api: Api) -> None:
    api.queue()
    slow = "for i in 1 2 3; do echo line $i; sleep 1; done"
    api.post("/queues/q/jobs", {"name": "slow", "command": slow, "host": "localhost"})
    api.post("/runs", {"queue": "q", "check_interval": 0.5})
    seen: list[str] = []
    first_at: float | None = None
    with api.client.stream(
        "GET", "/queues/q/jobs/slow/logs", params={"follow": True}, headers=api.auth
    ) as answer:
        assert answer.status_code == 200
        for chunk in answer.iter_text():
            if chunk and first_at is None:
                first_at = time.time()
            seen.append(chunk)
    assert "".join(seen) == "line 1\nline 2\nline 3\n"
    ended = datetime.fromisoformat(api.get("/queues/q/jobs/slow").json()["ended"])
    assert first_at is not None and first_at < ended.timestamp()  # output came while it ran


def test_bad_input_never_answers_500(api: Api) -> None:
    api.queue()
    for path, body in [
        ("/queues", {"name": "x" * 200_000}),
        ("/queues", {"name": "\u0000"}),
        ("/queues", []),
        ("/queues/q/jobs", {"name": "[", "command": "true"}),
        ("/queues/q/jobs", {"name": "a", "command": ""}),
        ("/queues/q/jobs", {"name": "a", "command": "true", "timeout": "forever"}),
        ("/queues/q/kill", {"status": "x,y"}),
        ("/runs", {"queue": "q", "check_interval": -1}),
        ("/hosts", {"name": "x", "ip": "a b"}),
    ]:
        answer = api.post(path, body)
        assert 400 <= answer.status_code < 500, (path, body, answer.text)
        assert answer.json()["error"]
    raw = api.client.post(
        "/queues", content=b"{not json", headers={**api.auth, "Content-Type": "application/json"}
    )
    assert raw.status_code == 422


def test_the_answers_show_every_field_of_the_public_records() -> None:
    """The pydantic answers mirror :mod:`meshq.results` (one source of
    truth): a field added there must show here too."""
    from dataclasses import fields

    from meshq.results import HostInfo, JobInfo, QueueSummary, StateChange
    from meshq.web.models import EventOut, HostOut, JobOut, QueueOut

    internal = {"run_user", "run_address", "run_port"}  # how the host was reached: not shown
    for answer, record, left_out in [
        (JobOut, JobInfo, internal),
        (EventOut, StateChange, set()),
        (QueueOut, QueueSummary, set()),
        (HostOut, HostInfo, set()),
    ]:
        assert {f.name for f in fields(record)} - left_out <= set(answer.model_fields), answer
