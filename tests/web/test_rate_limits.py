"""Rate limits on failed logins and failed token redemptions, per source IP.

The server listens on 127.0.0.1 only, so requests from another source IP (::1) go
straight to the service functions on the same data directory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hostca.core.errors import HostcaError
from hostca.datadir import DataDir
from hostca.service.context import ServiceContext
from hostca.service.enrolment import EnrolRequest, enroll
from hostca.service.server_setup import open_context
from hostca.service.user_service import login

from conftest import ADMIN_PASSWORD, PrimaryServer
from e2e_helpers import openssl_csr

pytestmark = pytest.mark.e2e

LIMIT = 3
WINDOW_SECONDS = 600


@pytest.fixture(scope="module")
def context(primary_server: PrimaryServer) -> Iterator[ServiceContext]:
    """The service layer on the same data directory, with a limit of 3 failures per 600 s."""
    for key, value in (
        ("rate_limit_failures", LIMIT),
        ("rate_limit_window_seconds", WINDOW_SECONDS),
    ):
        answer = primary_server.admin("PUT", f"/api/v1/settings/{key}", json={"value": value})
        assert answer.status_code == 200, answer.text
    service_context = open_context(
        DataDir(primary_server.data_dir), ca_passphrase=None, database_url=None
    )
    yield service_context
    service_context.database.dispose()


def post_login(server: PrimaryServer, user: str, password: str) -> httpx.Response:
    with server.client() as client:
        return client.post("/api/v1/login", json={"user": user, "password": password})


def post_enroll(server: PrimaryServer, csr: Path, token: str) -> httpx.Response:
    with server.client() as client:
        return client.post("/api/v1/enroll", json={"csr": csr.read_text(), "token": token})


def latest_events(server: PrimaryServer, count: int) -> list[dict[str, Any]]:
    answer = server.admin("GET", "/api/v1/audit", params={"latest": "true", "limit": str(count)})
    events: list[dict[str, Any]] = answer.json()
    return events


def error_code(call: Any) -> str:
    with pytest.raises(HostcaError) as raised:
        call()
    return raised.value.code


def test_login_limit_per_source_ip(primary_server: PrimaryServer, context: ServiceContext) -> None:
    failures = [post_login(primary_server, "admin", f"wrong-password-{n}") for n in range(LIMIT)]
    limited = post_login(primary_server, "admin", ADMIN_PASSWORD)

    assert [answer.status_code for answer in failures] == [401] * LIMIT
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= WINDOW_SECONDS
    events = latest_events(primary_server, LIMIT + 1)
    assert [e["error_code"] for e in events] == ["login_failed"] * LIMIT + ["rate_limited"]
    assert {(e["category"], e["action"], e["source_ip"]) for e in events} == {
        ("LOGIN", "login", "127.0.0.1")
    }
    assert ADMIN_PASSWORD not in str(events)
    log_lines = primary_server.log_text().splitlines()
    rejected = [
        line for line in log_lines if '"request_rejected"' in line and '"login_failed"' in line
    ]
    assert len(rejected) == 1, "repeated rejections are counted, not logged each time"

    # Another source IP is unaffected, and 127.0.0.1 stays limited with the right password.
    assert login(context, "admin", ADMIN_PASSWORD, "::1").identity.name == "admin"
    assert error_code(lambda: login(context, "admin", "wrong-password-x", "::1")) == "login_failed"
    assert (
        error_code(lambda: login(context, "admin", ADMIN_PASSWORD, "127.0.0.1")) == "rate_limited"
    )


def test_login_limit_ends_with_window(context: ServiceContext) -> None:
    for n in range(LIMIT):
        assert (
            error_code(lambda n=n: login(context, "admin", f"wrong-{n}-password", "192.0.2.1"))
            == "login_failed"
        )
    assert (
        error_code(lambda: login(context, "admin", ADMIN_PASSWORD, "192.0.2.1")) == "rate_limited"
    )

    later = dataclasses.replace(
        context, clock=lambda: context.clock() + timedelta(seconds=WINDOW_SECONDS + 1)
    )

    assert login(later, "admin", ADMIN_PASSWORD, "192.0.2.1").identity.name == "admin"


def test_redemption_limit_per_source_ip(
    primary_server: PrimaryServer, context: ServiceContext, tmp_path: Path
) -> None:
    _key, csr = openssl_csr(tmp_path, "limited.example.test")
    valid_token = primary_server.create_token("limited-host")

    failures = [
        post_enroll(primary_server, csr, "ABCDEFGHIJKLMNO" + chr(65 + n)) for n in range(LIMIT)
    ]
    limited = post_enroll(primary_server, csr, valid_token)

    assert [answer.json()["code"] for answer in failures] == ["token_invalid"] * LIMIT
    assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")
    assert 1 <= int(limited.headers["retry-after"]) <= WINDOW_SECONDS
    token = primary_server.admin("GET", "/api/v1/tokens/limited-host").json()
    assert token["uses"] == 0
    events = [e for e in latest_events(primary_server, 10) if e["action"] == "enroll"]
    assert [e["error_code"] for e in events[-LIMIT - 1 :]] == ["token_invalid"] * LIMIT + [
        "rate_limited"
    ]
    assert all(e["source_ip"] == "127.0.0.1" for e in events[-LIMIT - 1 :])
    assert valid_token not in str(events)

    # Another source IP is unaffected: its bad token is evaluated, and the valid token works.
    other = EnrolRequest(csr_pem=csr.read_text(), token_value="ZZZZZZZZZZZZZZZZ", source_ip="::1")
    assert error_code(lambda: enroll(context, other)) == "token_invalid"
    issued = enroll(context, dataclasses.replace(other, token_value=valid_token))
    assert issued.serial_number


def test_tokenless_enrolment_not_counted(
    primary_server: PrimaryServer, context: ServiceContext, tmp_path: Path
) -> None:
    _key, csr = openssl_csr(tmp_path, "no-token.example.test")
    request = EnrolRequest(csr_pem=csr.read_text(), token_value=None, source_ip="192.0.2.2")

    codes = [error_code(lambda: enroll(context, request)) for _ in range(LIMIT + 1)]

    assert codes == ["token_required"] * (LIMIT + 1)
