"""Jobs in the order a list asks for (``sort``), paged by the store in SQL
or, for a name pattern, sorted in Python: both give the same order."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshq.errors import UsageError
from meshq.service import Service


@pytest.fixture
def service(tmp_path: Path) -> Service:
    s = Service(tmp_path / "meshq.db")
    s.create_queue("q", str(tmp_path / "exp"))
    s.add("q", "b[1-3]", "true", host="localhost")
    s.add("q", "a[1-3]", "true")
    # started times out of queue order; a2 never started
    for name, started in [("b1", 30.0), ("b2", 10.0), ("b3", 20.0), ("a1", 20.0), ("a3", 5.0)]:
        s.store.conn.execute("UPDATE jobs SET started = ? WHERE name = ?", (started, name))
    s.store.conn.commit()
    yield s
    s.close()


def names(service: Service, **kw: object) -> list[str]:
    jobs, _ = service.page("q", limit=100, **kw)  # type: ignore[arg-type]
    return [j.name for j in jobs]


def test_sort_keys_in_sql_and_in_python_agree(service: Service) -> None:
    assert names(service) == ["b1", "b2", "b3", "a1", "a2", "a3"]
    assert names(service, sort="name") == ["a1", "a2", "a3", "b1", "b2", "b3"]
    assert names(service, sort="-name") == ["b3", "b2", "b1", "a3", "a2", "a1"]
    # ties (b3, a1 at 20) keep queue order; a job that never started comes last
    assert names(service, sort="-started") == ["b1", "b3", "a1", "b2", "a3", "a2"]
    assert names(service, sort="started") == ["a2", "a3", "b2", "b3", "a1", "b1"]
    assert names(service, sort="-submitted") == ["a3", "a2", "a1", "b3", "b2", "b1"]
    for sort in ("name", "-name", "started", "-started", "host", "-host", "-submitted"):
        assert names(service, sort=sort, name="*") == names(service, sort=sort), sort


def test_a_page_of_a_sorted_list(service: Service) -> None:
    jobs, total = service.page("q", sort="-started", offset=1, limit=2)
    assert [j.name for j in jobs] == ["b3", "a1"] and total == 6


def test_an_unknown_sort_key_says_which_there_are(service: Service) -> None:
    with pytest.raises(UsageError, match=r"cannot sort jobs by 'command'.*name, status"):
        service.page("q", sort="command")
