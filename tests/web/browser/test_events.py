"""The dashboard's server side without a browser: the page and its files,
and ``/events`` read from a real ``meshq serve`` as a browser reads it."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from meshq.model import Status
from meshq.service import Service
from meshq.web.dashboard import frame, snapshot
from tests.web.browser.serving import Served


def test_a_snapshot_has_counts_slots_and_the_changes_after_its_cursor(tmp_path: Path) -> None:
    s = Service(tmp_path / "meshq.db")
    try:
        s.add_hosts("gpu1", max_jobs=2, gpus="0,1")
        s.create_queue("q", str(tmp_path / "exp"))
        first = snapshot(s, None)
        assert first.changes == [] and first.queues[0]["counts"] == {}
        s.add("q", "a[1-3]", "true", host="gpu1")
        # a job running on a host the inventory does not hold still shows its slot
        s.add("q", "b", "true", host="elsewhere")
        for name, host, gpu in [("a1", "gpu1", "1"), ("b", "elsewhere", None)]:
            s.store.conn.execute(
                "UPDATE jobs SET status = 'start', gpu = ? WHERE name = ? AND host = ?",
                (gpu, name, host),
            )
        s.store.conn.commit()
        snap = snapshot(s, first.cursor)
    finally:
        s.close()
    assert snap.queues == [
        {"name": "q", "paused": False, "total": 4, "counts": {"ready": 2, "start": 2}}
    ]
    assert snap.hosts == [
        {
            "name": "gpu1",
            "status": "active",
            "max_jobs": 2,
            "running": 1,
            "gpus": ["0", "1"],
            "gpus_in_use": ["1"],
        },
        {
            "name": "elsewhere",
            "status": None,
            "max_jobs": None,
            "running": 1,
            "gpus": [],
            "gpus_in_use": [],
        },
    ]
    assert [(c["job"], c["old"], c["new"]) for c in snap.changes] == [
        ("a1", None, "ready"),
        ("a2", None, "ready"),
        ("a3", None, "ready"),
        ("b", None, "ready"),
    ]
    assert snap.cursor == snap.changes[-1]["id"] > first.cursor


def test_the_counts_are_read_again_only_when_a_job_moved_or_when_asked(tmp_path: Path) -> None:
    s = Service(tmp_path / "meshq.db")
    try:
        s.create_queue("q", str(tmp_path / "exp"))
        cursor = snapshot(s, None).cursor
        idle = snapshot(s, cursor, recount=False)
        assert idle.queues is None and idle.changes == [] and idle.cursor == cursor
        s.add("q", "a", "true")
        moved = snapshot(s, cursor, recount=False)
        assert moved.queues is not None and moved.queues[0]["counts"] == {"undefined": 1}
        s.pause("q")  # no job moves: seen at the next recount
        assert snapshot(s, moved.cursor, recount=False).queues is None
        recounted = snapshot(s, moved.cursor).queues
        assert recounted is not None and recounted[0]["paused"] is True
    finally:
        s.close()


def test_a_frame_is_one_server_sent_event() -> None:
    assert frame("jobs", [{"a": 1}], 7) == b'id: 7\nevent: jobs\ndata: [{"a":1}]\n\n'
    assert frame("queues", []) == b"event: queues\ndata: []\n\n"


def _get(served: Served, path: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    where = urlparse(served.url)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
    conn.request("GET", path)
    answer = conn.getresponse()
    body = answer.read()
    conn.close()
    return answer.status, answer.msg, body


def test_the_page_and_its_files_need_no_token_and_hold_no_data(served: Served) -> None:
    status, headers, body = _get(served, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    page = body.decode()
    for state in Status:
        assert f'<option value="{state.value}">' in page
    status, headers, body = _get(served, "/static/dashboard.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    for state in Status:  # a colour for every state
        assert f'[data-state-colour="{state.value}"]' in body.decode()
    assert _get(served, "/static/dashboard.js")[0] == 200
    assert _get(served, "/static/serve-token")[0] == 404
    assert _get(served, "/static/..%2Fdashboard.py")[0] == 404


class EventStream:
    """``/events`` read as the page reads it: a header with the token."""

    def __init__(self, served: Served, last_id: str | None = None) -> None:
        where = urlparse(served.url)
        self.conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=60)
        headers = {"Authorization": f"Bearer {served.token}"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        self.conn.request("GET", "/events?interval=0.2", headers=headers)
        self.answer = self.conn.getresponse()
        #: the data of the latest event of each name read so far
        self.seen: dict[str, Any] = {}
        assert self.answer.status == 200
        assert self.answer.getheader("Content-Type", "").startswith("text/event-stream")

    def next(self) -> tuple[str | None, str, Any]:
        """The next event: its id, its name, its data."""
        event_id, name, data = None, "", None
        while True:
            line = self.answer.readline().decode().rstrip("\n")
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and name:
                return event_id, name, data

    def until(self, name: str) -> tuple[str | None, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            event_id, got, data = self.next()
            self.seen[got] = data
            if got == name:
                return event_id, data
        raise AssertionError(f"no {name} event in 30 s")

    def close(self) -> None:
        self.conn.close()


def test_events_send_what_changed_and_resume_from_the_last_id(served: Served) -> None:
    with served.service() as s:
        s.create_queue("live", str(served.experiment))
    stream = EventStream(served)
    try:
        first = [stream.next() for _ in range(3)]
        assert {name for _, name, _ in first} == {"queues", "hosts", "runs"}
        queues = next(data for _, name, data in first if name == "queues")
        assert queues == [{"name": "live", "paused": False, "total": 0, "counts": {}}]
        with served.service() as s:
            s.add("live", "j[1-2]", "true", host="localhost")
        event_id, changes = stream.until("jobs")
        assert [(c["queue"], c["job"], c["new"]) for c in changes] == [
            ("live", "j1", "ready"),
            ("live", "j2", "ready"),
        ]
        assert event_id == str(changes[-1]["id"])
        # the new counts: sent in the same tick, or (had the add landed
        # between the tick's reads) in the next
        if stream.seen["queues"][0]["counts"] != {"ready": 2}:
            _, queues = stream.until("queues")
            assert queues[0]["counts"] == {"ready": 2}
    finally:
        stream.close()
    # a client that comes back with the last id gets what it missed, once
    with served.service() as s:
        s.pause("live")
        s.add("live", "j3", "true", host="localhost")
    again = EventStream(served, last_id=event_id)
    try:
        _, missed = again.until("jobs")
        assert [c["job"] for c in missed] == ["j3"]
    finally:
        again.close()


def test_an_open_stream_does_not_keep_the_service_from_stopping(served: Served) -> None:
    stream = EventStream(served)
    try:
        stream.until("runs")
        served.process.send_signal(signal.SIGTERM)
        try:
            served.process.wait(20)
        except subprocess.TimeoutExpired:
            raise AssertionError("meshq serve still runs 20 s after SIGTERM") from None
    finally:
        stream.close()
