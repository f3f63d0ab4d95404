"""Fixtures of the REST service's tests: the application on a fresh store,
behind FastAPI's test client (the real app, store and local host)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from meshq.web.app import create_app


@dataclass
class Api:
    """A test client on a fresh service, its token, store and an experiment folder."""

    client: TestClient
    token: str
    db: Path
    experiment: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, headers=self.auth, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.client.post(path, json=json, headers=self.auth, **kw)

    def delete(self, path: str) -> httpx.Response:
        return self.client.delete(path, headers=self.auth)

    def queue(self, name: str = "q", **fields: Any) -> httpx.Response:
        """Create queue ``name`` under this test's experiment folder."""
        body = {"name": name, "experiment": str(self.experiment), **fields}
        answer = self.post("/queues", body)
        assert answer.status_code == 201, answer.text
        return answer

    def wait_run(self, number: int, wait: float = 90.0) -> dict[str, Any]:
        """Run ``number`` once it has ended (fails the test past ``wait`` s)."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            run: dict[str, Any] = self.get(f"/runs/{number}").json()
            if run["state"] != "running":
                return run
            time.sleep(0.2)
        raise AssertionError(f"run {number} still running after {wait} s")


@pytest.fixture
def meshq_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """meshq's data folder (token, serve.json) for this test only."""
    home = tmp_path / "meshq-home"
    monkeypatch.setenv("MESHQ_HOME", str(home))
    monkeypatch.delenv("MESHQ_DB", raising=False)
    monkeypatch.delenv("MESHQ_TOKEN", raising=False)
    return home


@pytest.fixture
def api(tmp_path: Path, meshq_home: Path) -> Iterator[Api]:
    token = secrets.token_urlsafe(24)
    db = tmp_path / "meshq.db"
    with TestClient(create_app(db, token=token), raise_server_exceptions=False) as client:
        yield Api(client, token, db, tmp_path / "experiment")
