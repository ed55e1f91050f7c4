"""A disabled user's API keys, and enabling the user again, over the REST API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conftest import PrimaryServer

pytestmark = pytest.mark.e2e


def add_user(server: PrimaryServer, name: str, role: str = "security-admin") -> None:
    answer = server.admin(
        "POST",
        "/api/v1/users",
        json={"name": name, "role": role, "password": f"{name}-password-long"},
    )
    assert answer.status_code == 201, answer.text


def session_of(server: PrimaryServer, name: str) -> str:
    with server.client() as client:
        answer = client.post(
            "/api/v1/login", json={"user": name, "password": f"{name}-password-long"}
        )
    assert answer.status_code == 200, answer.text
    secret: str = answer.json()["session"]
    return secret


def call(
    server: PrimaryServer, credential: str, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    with server.client() as client:
        return client.request(
            method, path, headers={"authorization": f"Bearer {credential}"}, **kwargs
        )


def create_key(server: PrimaryServer, credential: str, name: str, role: str = "auditor") -> str:
    answer = call(
        server,
        credential,
        "POST",
        "/api/v1/apikeys",
        json={"name": name, "role": role, "expires": "1d"},
    )
    assert answer.status_code == 201, answer.text
    value: str = answer.json()["value"]
    return value


def latest_events(server: PrimaryServer, count: int = 10) -> list[dict[str, Any]]:
    answer = server.admin("GET", "/api/v1/audit", params={"latest": "true", "limit": str(count)})
    events: list[dict[str, Any]] = answer.json()
    return events


def test_disabled_users_api_keys_stop_working(primary_server: PrimaryServer) -> None:
    add_user(primary_server, "key-owner")
    owner_session = session_of(primary_server, "key-owner")
    direct = create_key(primary_server, owner_session, "owner-direct", role="security-admin")
    # A key made with the owner's key belongs to the owner too.
    chained = create_key(primary_server, direct, "owner-chained")
    assert call(primary_server, direct, "GET", "/api/v1/hosts").status_code == 200
    assert call(primary_server, chained, "GET", "/api/v1/hosts").status_code == 200

    disabled = primary_server.admin("POST", "/api/v1/users/key-owner/disable")
    assert disabled.status_code == 200, disabled.text

    for value, name in ((direct, "owner-direct"), (chained, "owner-chained")):
        answer = call(primary_server, value, "GET", "/api/v1/hosts")
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == "apikey_invalid"
        assert answer.json()["detail"] == (
            f"the API key {name} belongs to the user key-owner, who is disabled; enable the "
            "user with 'hostca user enable key-owner' or create a new key."
        )
    event = latest_events(primary_server)[-1]
    assert (event["action"], event["outcome"], event["actor"]) == (
        "authenticate",
        "failure",
        "apikey:owner-chained",
    )
    assert event["error_code"] == "apikey_invalid"


def test_other_users_keys_unaffected(primary_server: PrimaryServer) -> None:
    add_user(primary_server, "stays-enabled")
    add_user(primary_server, "goes-away")
    kept = create_key(primary_server, session_of(primary_server, "stays-enabled"), "kept-key")

    primary_server.admin("POST", "/api/v1/users/goes-away/disable")

    assert call(primary_server, kept, "GET", "/api/v1/hosts").status_code == 200


def test_enable_user_restores_login_and_keys(primary_server: PrimaryServer) -> None:
    add_user(primary_server, "comes-back")
    old_session = session_of(primary_server, "comes-back")
    key = create_key(primary_server, old_session, "comes-back-key")
    primary_server.admin("POST", "/api/v1/users/comes-back/disable")
    assert call(primary_server, key, "GET", "/api/v1/hosts").status_code == 401

    enabled = primary_server.admin("POST", "/api/v1/users/comes-back/enable")

    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["disabled"] is False
    # Disabling ended the session for good; the user logs in anew.
    assert call(primary_server, old_session, "GET", "/api/v1/hosts").status_code == 401
    new_session = session_of(primary_server, "comes-back")
    assert call(primary_server, new_session, "GET", "/api/v1/hosts").status_code == 200
    assert call(primary_server, key, "GET", "/api/v1/hosts").status_code == 200
    event = next(e for e in reversed(latest_events(primary_server)) if e["action"] == "user_enable")
    assert (event["action"], event["actor"], event["target"], event["outcome"]) == (
        "user_enable",
        "admin",
        "comes-back",
        "success",
    )


def test_enable_enabled_user_changes_nothing(primary_server: PrimaryServer) -> None:
    before = latest_events(primary_server, 1)[-1]["sequence"]

    answer = primary_server.admin("POST", "/api/v1/users/admin/enable")

    assert answer.status_code == 200, answer.text
    assert answer.json()["disabled"] is False
    assert latest_events(primary_server, 1)[-1]["sequence"] == before


def test_enable_unknown_user(primary_server: PrimaryServer) -> None:
    answer = primary_server.admin("POST", "/api/v1/users/nobody/enable")

    assert answer.status_code == 404
    assert answer.json()["code"] == "user_not_found"
    event = latest_events(primary_server)[-1]
    assert (event["action"], event["outcome"], event["error_code"]) == (
        "user_enable",
        "failure",
        "user_not_found",
    )


def test_operator_cannot_enable(primary_server: PrimaryServer) -> None:
    add_user(primary_server, "ops-enabler", role="operator")
    session = session_of(primary_server, "ops-enabler")

    answer = call(primary_server, session, "POST", "/api/v1/users/admin/enable")

    assert answer.status_code == 403
    assert answer.json()["code"] == "forbidden"
