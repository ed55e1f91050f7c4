"""API keys over the REST API: creation, use as a bearer credential, audit actor, revocation, expiry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from hostca.datadir import DataDir
from hostca.service.context import ServiceContext
from hostca.service.server_setup import open_context
from hostca.store.tables import api_keys

from conftest import TEST_DATABASE_URL, PrimaryServer, query_rows

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def context(primary_server: PrimaryServer) -> Iterator[ServiceContext]:
    """The service layer on the same data directory, for arranging states a client cannot reach."""
    service_context = open_context(
        DataDir(primary_server.data_dir), ca_passphrase=None, database_url=None
    )
    yield service_context
    service_context.database.dispose()


def create_key(server: PrimaryServer, name: str, role: str, expires: str = "30d") -> httpx.Response:
    return server.admin(
        "POST", "/api/v1/apikeys", json={"name": name, "role": role, "expires": expires}
    )


def key_value(server: PrimaryServer, name: str, role: str) -> str:
    answer = create_key(server, name, role)
    assert answer.status_code == 201, answer.text
    value: str = answer.json()["value"]
    return value


def with_key(
    value: str, server: PrimaryServer, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    with server.client() as client:
        return client.request(method, path, headers={"authorization": f"Bearer {value}"}, **kwargs)


def latest_events(server: PrimaryServer, count: int = 20) -> list[dict[str, Any]]:
    answer = server.admin("GET", "/api/v1/audit", params={"latest": "true", "limit": str(count)})
    events: list[dict[str, Any]] = answer.json()
    return events


def test_api_key_create_response(primary_server: PrimaryServer) -> None:
    answer = create_key(primary_server, "ci-reader", "auditor", "12h")

    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert set(created) >= {"name", "value", "role", "expires_at"}
    assert (created["name"], created["role"], created["state"]) == (
        "ci-reader",
        "auditor",
        "active",
    )
    assert created["value"].startswith("hca_")
    assert len(created["value"]) >= 4 + 43
    expires_at = datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00"))
    assert timedelta(hours=11, minutes=59) < expires_at - datetime.now(UTC) <= timedelta(hours=12)
    event = latest_events(primary_server, 1)[0]
    assert (event["action"], event["target"], event["actor"]) == (
        "apikey_create",
        "ci-reader",
        "admin",
    )
    assert created["value"] not in str(event)


def test_api_key_value_shown_once(primary_server: PrimaryServer) -> None:
    value = key_value(primary_server, "shown-once", "auditor")

    listed = primary_server.admin("GET", "/api/v1/apikeys").json()

    entry = next(item for item in listed if item["name"] == "shown-once")
    assert "value" not in entry
    assert value not in str(listed)
    if TEST_DATABASE_URL is None:
        assert value.encode() not in (primary_server.data_dir / "hostca.db").read_bytes()
    else:
        assert value not in str(query_rows(primary_server.data_dir, "SELECT * FROM api_keys"))


def test_api_key_use_is_attributed(primary_server: PrimaryServer) -> None:
    value = key_value(primary_server, "ci-operator", "operator")

    whoami = with_key(value, primary_server, "GET", "/api/v1/whoami")
    created = with_key(value, primary_server, "POST", "/api/v1/tokens", json={"name": "by-key"})

    assert whoami.json() == {"user": "apikey:ci-operator", "role": "operator"}
    assert created.status_code == 201, created.text
    event = latest_events(primary_server, 1)[0]
    assert (event["category"], event["action"], event["actor"], event["outcome"]) == (
        "TOKEN",
        "create",
        "apikey:ci-operator",
        "success",
    )


def test_api_key_role_is_enforced(primary_server: PrimaryServer) -> None:
    value = key_value(primary_server, "ci-auditor", "auditor")

    listed = with_key(value, primary_server, "GET", "/api/v1/tokens")
    answer = with_key(
        value, primary_server, "POST", "/api/v1/tokens", json={"name": "auditor-key-token"}
    )
    keys = with_key(value, primary_server, "GET", "/api/v1/apikeys")

    assert listed.status_code == 200
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    assert (keys.status_code, keys.json()["code"]) == (403, "forbidden")
    event = latest_events(primary_server, 1)[0]
    assert (event["actor"], event["error_code"]) == ("apikey:ci-auditor", "forbidden")


def test_revoked_api_key_rejected(primary_server: PrimaryServer) -> None:
    value = key_value(primary_server, "to-revoke", "operator")

    revoked = primary_server.admin("DELETE", "/api/v1/apikeys/to-revoke")
    answer = with_key(value, primary_server, "GET", "/api/v1/whoami")

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["state"] == "revoked"
    assert (answer.status_code, answer.json()["code"]) == (401, "apikey_invalid")
    assert "revoked" in answer.json()["detail"]
    event = latest_events(primary_server, 1)[0]
    assert (event["actor"], event["outcome"], event["error_code"]) == (
        "apikey:to-revoke",
        "failure",
        "apikey_invalid",
    )
    assert value not in str(event)


def test_expired_api_key_rejected(primary_server: PrimaryServer, context: ServiceContext) -> None:
    value = key_value(primary_server, "to-expire", "operator")
    with context.database.transaction() as connection:
        connection.execute(
            update(api_keys)
            .where(api_keys.c.name == "to-expire")
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    answer = with_key(value, primary_server, "GET", "/api/v1/whoami")

    assert (answer.status_code, answer.json()["code"]) == (401, "apikey_invalid")
    assert "expired" in answer.json()["detail"]
    event = latest_events(primary_server, 1)[0]
    assert (event["actor"], event["error_code"]) == ("apikey:to-expire", "apikey_invalid")
    listed = primary_server.admin("GET", "/api/v1/apikeys").json()
    assert next(item for item in listed if item["name"] == "to-expire")["state"] == "expired"


def test_unknown_api_key_rejected(primary_server: PrimaryServer) -> None:
    answer = with_key("hca_" + "A" * 43, primary_server, "GET", "/api/v1/whoami")

    assert (answer.status_code, answer.json()["code"]) == (401, "apikey_invalid")
    event = latest_events(primary_server, 1)[0]
    assert (event["actor"], event["error_code"]) == ("anonymous", "apikey_invalid")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "ci-reader", "role": "auditor", "expires": "1d"}, 409, "apikey_exists"),
        ({"name": "bad name", "role": "auditor", "expires": "1d"}, 400, "apikey_name_invalid"),
        ({"name": "no-role", "role": "root", "expires": "1d"}, 400, "role_invalid"),
        ({"name": "no-expiry", "role": "auditor", "expires": "soon"}, 400, "duration_invalid"),
        ({"name": "too-long", "role": "auditor", "expires": "1000d"}, 400, "validity_too_long"),
    ],
)
def test_api_key_create_rejections(
    primary_server: PrimaryServer, body: dict[str, str], status: int, code: str
) -> None:
    create_key(primary_server, "ci-reader", "auditor")

    answer = primary_server.admin("POST", "/api/v1/apikeys", json=body)

    assert (answer.status_code, answer.json()["code"]) == (status, code)
    event = latest_events(primary_server, 1)[0]
    assert (event["action"], event["outcome"], event["error_code"]) == (
        "apikey_create",
        "failure",
        code,
    )


def test_revoke_unknown_api_key(primary_server: PrimaryServer) -> None:
    answer = primary_server.admin("DELETE", "/api/v1/apikeys/nobody")
    assert (answer.status_code, answer.json()["code"]) == (404, "apikey_not_found")


def test_api_key_value_not_logged(primary_server: PrimaryServer) -> None:
    value = key_value(primary_server, "not-logged", "auditor")
    with_key(value, primary_server, "GET", "/api/v1/whoami")
    primary_server.admin("DELETE", "/api/v1/apikeys/not-logged")
    with_key(value, primary_server, "GET", "/api/v1/whoami")

    assert value not in primary_server.log_text()
    assert value not in str(latest_events(primary_server, 50))
