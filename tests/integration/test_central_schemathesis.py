"""Property-based API testing with schemathesis: every operation of ``/openapi.json``,
with generated valid and invalid input, as an authenticated national admin, never answers
with a 5xx (issue 6, part 7)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from central.api import create_app
from central.db import Database
from central.ingest import IngestService
from central.settings import Settings
from central.users import add_user
from tests.central_messages import event_msg, file_init, send_event, send_file

pytest_plugins = ["tests.central_fixtures"]

PASSWORD = "correct horse battery"
DATA = b"\x00\x00\x00\x18ftypmp42" + bytes(5000)


@pytest.fixture
def api(
    central_settings: Settings, central_db: Database, ingest: IngestService
) -> Iterator[TestClient]:
    with central_db.session() as session:
        add_user(session, "fuzz-admin", PASSWORD, "admin", actor="test")
        session.commit()
    event = event_msg(seq=1)
    send_event(ingest, event)
    send_file(ingest, file_init(DATA, seq=2, event_ids=[event.id]), DATA)
    # one address signs in per operation; PUT /auth/password with generated current passwords
    # counts as failed sign-ins of the fuzzing user
    unlimited = central_settings.model_copy(
        update={"login_rate_limit": 10_000, "login_max_failures": 10_000}
    )
    with TestClient(create_app(unlimited, central_db)) as client:
        yield client


@pytest.fixture
def admin_headers(api: TestClient) -> Callable[[], dict[str, str]]:
    def sign_in() -> dict[str, str]:
        response = api.post(
            "/api/v1/auth/token", data={"username": "fuzz-admin", "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return sign_in


def test_no_operation_answers_with_a_server_error(
    api: TestClient, admin_headers: Callable[[], dict[str, str]]
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, "the OpenAPI document lost operations"
    headers: dict[str, str] = {}
    for operation in operations:
        headers.update(admin_headers())  # a session per operation: POST /auth/logout ends its own

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def no_5xx(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        no_5xx()
