"""schemathesis against the service's own OpenAPI schema: generated
requests (valid and not) to every REST operation of the real application
on a real store; no answer is a 500, and every answer matches the schema
(status codes, content types, bodies)."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from meshq.service import Service
from meshq.web.app import create_app

TOKEN = secrets.token_urlsafe(24)
#: the store of the application under test: made when this module is
#: loaded (schemathesis reads the schema then), filled by :func:`store`
FOLDER = Path(tempfile.mkdtemp(prefix="meshq-schema-"))
APP = create_app(FOLDER / "meshq.db", token=TOKEN)
# the REST routes; the dashboard's pages and its event stream are tested in a browser
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).include(
    path_regex=r"^/(queues|hosts|runs|health)"
)


@pytest.fixture(scope="module", autouse=True)
def store() -> Iterator[None]:
    """A queue ``q`` of jobs and the host ``localhost``, so that generated
    names sometimes hit real things; the folder goes at the end."""
    service = Service(FOLDER / "meshq.db")
    service.create_queue("q", str(FOLDER / "experiment"))
    service.add("q", "job[1-20]", "true", host="localhost")
    service.add_hosts("localhost")
    service.close()
    yield
    APP.state.context.close()
    shutil.rmtree(FOLDER, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_500_and_answers_match_the_schema(case: schemathesis.Case) -> None:
    # the service refuses some input the schema cannot describe (a name with
    # a space, a range that goes down): a 422 for schema-valid data is right
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"},
        excluded_checks=[positive_data_acceptance],
    )
