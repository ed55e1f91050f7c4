"""User accounts over the REST API: roles, the last security-admin, passwords and sessions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conftest import PrimaryServer

pytestmark = pytest.mark.e2e


def add_user(server: PrimaryServer, name: str, role: str, password: str) -> httpx.Response:
    return server.admin(
        "POST", "/api/v1/users", json={"name": name, "role": role, "password": password}
    )


def log_in(server: PrimaryServer, name: str, password: str) -> httpx.Response:
    with server.client() as client:
        return client.post("/api/v1/login", json={"user": name, "password": password})


def session_of(server: PrimaryServer, name: str, password: str) -> str:
    answer = log_in(server, name, password)
    assert answer.status_code == 200, answer.text
    secret: str = answer.json()["session"]
    return secret


def call(
    server: PrimaryServer, session: str, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    with server.client() as client:
        return client.request(
            method, path, headers={"authorization": f"Bearer {session}"}, **kwargs
        )


def latest_events(server: PrimaryServer, count: int = 20) -> list[dict[str, Any]]:
    answer = server.admin("GET", "/api/v1/audit", params={"latest": "true", "limit": str(count)})
    events: list[dict[str, Any]] = answer.json()
    return events


def test_user_add_and_list(primary_server: PrimaryServer) -> None:
    answer = add_user(primary_server, "ops-1", "operator", "operator-password-1")

    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == "ops-1"
    assert answer.json()["role"] == "operator"
    assert answer.json()["disabled"] is False
    listed = primary_server.admin("GET", "/api/v1/users").json()
    assert {"admin", "ops-1"} <= {item["name"] for item in listed}
    assert all("password" not in str(item) for item in listed)
    assert log_in(primary_server, "ops-1", "operator-password-1").status_code == 200
    event = next(e for e in reversed(latest_events(primary_server)) if e["action"] == "user_add")
    assert (event["actor"], event["target"], event["outcome"]) == ("admin", "ops-1", "success")
    assert "operator-password-1" not in str(latest_events(primary_server))


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"name": "short-pw", "role": "auditor", "password": "eleven-char"},
            400,
            "password_too_short",
        ),
        (
            {"name": "no-role", "role": "root", "password": "long-enough-password"},
            400,
            "role_invalid",
        ),
        (
            {"name": "bad:name", "role": "auditor", "password": "long-enough-password"},
            400,
            "user_name_invalid",
        ),
        (
            {"name": "admin", "role": "auditor", "password": "long-enough-password"},
            409,
            "user_exists",
        ),
    ],
)
def test_user_add_rejections(
    primary_server: PrimaryServer, body: dict[str, str], status: int, code: str
) -> None:
    answer = primary_server.admin("POST", "/api/v1/users", json=body)

    assert (answer.status_code, answer.json()["code"]) == (status, code)
    event = latest_events(primary_server, 1)[0]
    assert (event["action"], event["outcome"], event["error_code"]) == ("user_add", "failure", code)
    assert body["password"] not in str(event)


def test_user_routes_need_security_admin(primary_server: PrimaryServer) -> None:
    add_user(primary_server, "ops-2", "operator", "operator-password-2")
    session = session_of(primary_server, "ops-2", "operator-password-2")

    requests = [
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/users", {"name": "x1", "role": "auditor", "password": "p" * 12}),
        ("POST", "/api/v1/users/admin/disable", None),
        ("POST", "/api/v1/users/admin/password", {"password": "p" * 12}),
    ]
    for method, path, body in requests:
        answer = call(primary_server, session, method, path, json=body)
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden"), path
        event = latest_events(primary_server, 1)[0]
        assert (event["actor"], event["error_code"]) == ("ops-2", "forbidden"), path


def test_last_security_admin_stays_enabled(primary_server: PrimaryServer) -> None:
    answer = primary_server.admin("POST", "/api/v1/users/admin/disable")

    assert (answer.status_code, answer.json()["code"]) == (409, "last_security_admin")
    event = latest_events(primary_server, 1)[0]
    assert (event["action"], event["error_code"]) == ("user_disable", "last_security_admin")
    assert primary_server.admin("GET", "/api/v1/whoami").status_code == 200


def test_second_security_admin_can_be_disabled(primary_server: PrimaryServer) -> None:
    add_user(primary_server, "sa-2", "security-admin", "security-password-2")

    answer = primary_server.admin("POST", "/api/v1/users/sa-2/disable")

    assert answer.status_code == 200, answer.text
    assert answer.json()["disabled"] is True


def test_disable_unknown_user(primary_server: PrimaryServer) -> None:
    answer = primary_server.admin("POST", "/api/v1/users/nobody/disable")
    assert (answer.status_code, answer.json()["code"]) == (404, "user_not_found")


def test_disabled_user_session_stops_at_once(primary_server: PrimaryServer) -> None:
    add_user(primary_server, "aud-1", "auditor", "auditor-password-1")
    session = session_of(primary_server, "aud-1", "auditor-password-1")
    assert call(primary_server, session, "GET", "/api/v1/whoami").status_code == 200

    disabled = primary_server.admin("POST", "/api/v1/users/aud-1/disable")

    assert disabled.status_code == 200, disabled.text
    answer = call(primary_server, session, "GET", "/api/v1/whoami")
    assert (answer.status_code, answer.json()["code"]) == (401, "session_invalid")
    login = log_in(primary_server, "aud-1", "auditor-password-1")
    assert (login.status_code, login.json()["code"]) == (401, "login_failed")


def test_own_passwd_ends_other_sessions(primary_server: PrimaryServer) -> None:
    add_user(primary_server, "sa-3", "security-admin", "security-password-3")
    current = session_of(primary_server, "sa-3", "security-password-3")
    other = session_of(primary_server, "sa-3", "security-password-3")

    answer = call(
        primary_server,
        current,
        "POST",
        "/api/v1/users/sa-3/password",
        json={"password": "new-security-password-3"},
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["sessions_ended"] == 1
    assert call(primary_server, current, "GET", "/api/v1/whoami").status_code == 200
    assert call(primary_server, other, "GET", "/api/v1/whoami").status_code == 401
    assert log_in(primary_server, "sa-3", "security-password-3").status_code == 401
    assert log_in(primary_server, "sa-3", "new-security-password-3").status_code == 200


def test_passwd_of_another_user_ends_all_sessions(primary_server: PrimaryServer) -> None:
    add_user(primary_server, "ops-3", "operator", "operator-password-3")
    session = session_of(primary_server, "ops-3", "operator-password-3")

    answer = primary_server.admin(
        "POST", "/api/v1/users/ops-3/password", json={"password": "new-operator-password-3"}
    )

    assert answer.status_code == 200, answer.text
    event = latest_events(primary_server, 1)[0]
    assert call(primary_server, session, "GET", "/api/v1/whoami").status_code == 401
    assert (event["action"], event["target"], event["outcome"]) == (
        "user_passwd",
        "ops-3",
        "success",
    )
    assert "new-operator-password-3" not in str(event)


def test_passwd_too_short(primary_server: PrimaryServer) -> None:
    answer = primary_server.admin(
        "POST", "/api/v1/users/admin/password", json={"password": "short"}
    )
    assert (answer.status_code, answer.json()["code"]) == (400, "password_too_short")


def test_passwords_not_logged(primary_server: PrimaryServer) -> None:
    add_user(primary_server, "logged-1", "auditor", "unlogged-password-1")
    log_in(primary_server, "logged-1", "unlogged-password-2")
    primary_server.admin(
        "POST", "/api/v1/users/logged-1/password", json={"password": "unlogged-password-3"}
    )

    log = primary_server.log_text()
    events = str(latest_events(primary_server, 50))
    assert "request_rejected" in log  # the failed login was logged, so the log is the right one
    for password in ("unlogged-password-1", "unlogged-password-2", "unlogged-password-3"):
        assert password not in log
        assert password not in events
