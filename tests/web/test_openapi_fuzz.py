"""schemathesis over every operation of /api/v1/openapi.json: no 5xx, every error a problem document.

The ASGI app runs in process on a real initialized data directory, so each
generated request goes through the same routes, services and SQLite database as on
a server, without a TLS handshake. Requests carry the bearer API key of a
security-admin, so the administration routes get past authentication and their
input checks are what the generated data meets. Host routes that need a client
certificate reject every request here with ``unauthorized``, which is a problem
document too. Examples are bounded per operation.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from hostca.datadir import DataDir
from hostca.service.api_key_service import create_api_key
from hostca.service.context import Actor
from hostca.service.crl_service import publish_crl
from hostca.service.server_setup import open_context
from hostca.web.app import create_app

from conftest import init_server

# HOSTCA_FUZZ_EXAMPLES sets a deeper run, such as 500, for a search by hand.
MAX_EXAMPLES = int(os.environ.get("HOSTCA_FUZZ_EXAMPLES", "30"))
# Unguessable, so that generated DELETE /api/v1/apikeys/{name} calls leave it alone.
ADMIN_KEY_NAME = "schemathesis-admin-c2f81a"
PROBLEM_TYPE = "application/problem+json"


# schemathesis makes one test per operation when this module is imported, so the app
# exists from then on. The api_context fixture gives it its service context before the
# first request. (Its lazy from_fixture loader fails on pytest 9: no Function._nodeid.)
APP = create_app(None)  # type: ignore[arg-type]
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP)


@pytest.fixture(scope="module")
def admin_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve APP from a new data directory; return a security-admin API key."""
    tmp = tmp_path_factory.mktemp("openapi-fuzz")
    init_server(tmp / "data", tmp)
    context = open_context(DataDir(tmp / "data"), ca_passphrase=None, database_url=None)
    # As 'hostca server run' does before it listens.
    publish_crl(context)
    created = create_api_key(
        context, Actor(name="admin", role="security-admin"), ADMIN_KEY_NAME, "security-admin", "1d"
    )
    APP.state.context = context
    yield created.value
    APP.state.context = None
    context.database.dispose()


def check_answer(status: int, content_type: str, body: Any, label: str) -> None:
    assert status < 500, f"{label}: {status} {body}"
    if status < 400:
        return
    assert content_type == PROBLEM_TYPE, f"{label}: {status} {content_type} {body}"
    assert isinstance(body, dict), f"{label}: {body}"
    assert isinstance(body.get("code"), str), f"{label}: {body}"
    assert body.get("status") == status, f"{label}: {body}"
    assert isinstance(body.get("detail"), str), f"{label}: {body}"


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_operation(case: Any, admin_key: str) -> None:
    response = case.call(headers={"authorization": f"Bearer {admin_key}"})

    content_type = (response.headers.get("content-type") or [""])[0].split(";")[0]
    body = response.json() if content_type.endswith("json") else response.content[:200]
    check_answer(response.status_code, content_type, body, f"{case.method} {case.formatted_path}")


def test_problem_check_rejects_plain_errors() -> None:
    """The check that the fuzz test applies fails on a 5xx and on a non-problem error."""
    check_answer(200, "application/json", {}, "ok")
    check_answer(404, PROBLEM_TYPE, {"code": "not_found", "status": 404, "detail": "x"}, "ok")
    for status, content_type, body in [
        (500, PROBLEM_TYPE, {"code": "internal_error", "status": 500, "detail": "x"}),
        (400, "application/json", {"detail": "x"}),
        (400, PROBLEM_TYPE, {"status": 400, "detail": "x"}),
        (422, PROBLEM_TYPE, "plain text"),
    ]:
        with pytest.raises(AssertionError):
            check_answer(status, content_type, body, "bad")


@pytest.mark.parametrize("path", ["/api/v1/hosts", "/api/v1/certificates", "/api/v1/audit"])
def test_offset_past_sqlite_integer(admin_key: str, path: str) -> None:
    """Regression: an offset past SQLite's 64-bit INTEGER was a 500 internal_error."""
    with TestClient(APP, base_url="https://testserver") as client:
        response = client.get(
            path,
            params={"offset": "9888500636859465728"},
            headers={"authorization": f"Bearer {admin_key}"},
        )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_TYPE
    assert response.json()["code"] == "invalid_request"
    assert response.json()["errors"][0]["loc"] == ["query", "offset"]
