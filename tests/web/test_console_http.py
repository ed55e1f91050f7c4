"""The console over plain HTTPS: cookies, headers, CSRF, login limits, search and export.

The browser tests in tests/console drive the pages; these check the rules behind
them with exact requests against a real server.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from hostca.datadir import DataDir
from hostca.service.context import ServiceContext
from hostca.service.host_search import HostSearch, find_hosts
from hostca.service.server_setup import open_context
from hostca.store import host_records
from hostca.store.tables import sessions

from conftest import ADMIN_PASSWORD, PrimaryServer

pytestmark = pytest.mark.e2e

SESSION_COOKIE = "__Host-hostca-session"


def browser(server: PrimaryServer) -> httpx.Client:
    client = server.client()
    client.follow_redirects = False
    return client


def login(
    client: httpx.Client, user: str = "admin", password: str = ADMIN_PASSWORD
) -> httpx.Response:
    form = client.get("/console/login")
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert nonce is not None
    return client.post(
        "/console/login",
        data={
            "csrf_token": nonce.group(1),
            "user": user,
            "password": password,
            "next": "/console/",
        },
        headers={"Origin": str(client.base_url)},
    )


def csrf_of(client: httpx.Client, path: str = "/console/tokens") -> str:
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    assert match is not None, page.text
    return match.group(1)


@pytest.fixture(scope="module")
def context(primary_server: PrimaryServer) -> Iterator[ServiceContext]:
    service_context = open_context(
        DataDir(primary_server.data_dir), ca_passphrase=None, database_url=None
    )
    yield service_context
    service_context.database.dispose()


def test_session_cookie_attributes(primary_server: PrimaryServer) -> None:
    with browser(primary_server) as client:
        answer = login(client)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/"
    cookie = next(
        value for value in answer.headers.get_list("set-cookie") if value.startswith(SESSION_COOKIE)
    )
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "path", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "domain" not in attributes


def test_every_page_sends_a_strict_content_security_policy(primary_server: PrimaryServer) -> None:
    paths = ["/console/login", "/console/static/console.css", "/console/static/console.js"]
    with browser(primary_server) as client:
        login(client)
        paths += ["/console/", "/console/hosts", "/console/tokens", "/console/audit", "/console/ca"]
        for path in paths:
            answer = client.get(path)
            assert answer.status_code == 200, path
            policy = answer.headers["content-security-policy"]
            assert "default-src 'none'" in policy
            assert "script-src 'self'" in policy
            assert "unsafe-inline" not in policy
            assert "frame-ancestors 'none'" in policy
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["cache-control"] == "no-store"
            # Nothing is loaded from another origin.
            assert not re.search(r'(src|href)="(https?:)?//', answer.text), path


def test_pages_need_a_session(primary_server: PrimaryServer) -> None:
    with browser(primary_server) as client:
        answer = client.get("/console/hosts?q=web")
        posted = client.post("/console/tokens", data={"name": "x"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login?next=/console/hosts"
    assert posted.status_code == 303


def test_login_without_nonce_is_refused(primary_server: PrimaryServer) -> None:
    with browser(primary_server) as client:
        answer = client.post(
            "/console/login", data={"user": "admin", "password": ADMIN_PASSWORD, "csrf_token": "x"}
        )
    assert answer.status_code == 403
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    assert "the login form has expired" in answer.text


def test_login_redirect_stays_in_the_console(primary_server: PrimaryServer) -> None:
    with browser(primary_server) as client:
        form = client.get("/console/login", params={"next": "//attacker.example/console/"})
        nonce = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert nonce is not None
        answer = client.post(
            "/console/login",
            data={
                "csrf_token": nonce.group(1),
                "user": "admin",
                "password": ADMIN_PASSWORD,
                "next": "https://attacker.example/",
            },
        )
    assert answer.headers["location"] == "/console/"


def test_failed_console_logins_are_limited_and_audited(primary_server: PrimaryServer) -> None:
    limit = 3
    answer = primary_server.admin(
        "PUT", "/api/v1/settings/rate_limit_failures", json={"value": limit}
    )
    assert answer.status_code == 200
    try:
        with browser(primary_server) as client:
            failures = [login(client, "admin", f"wrong-{n}") for n in range(limit)]
            limited = login(client, "admin", ADMIN_PASSWORD)
        assert [failure.status_code for failure in failures] == [401] * limit
        assert "the user name or password is not correct." in failures[0].text
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert SESSION_COOKIE not in limited.headers.get("set-cookie", "")
        events = primary_server.admin(
            "GET", "/api/v1/audit", params={"category": "LOGIN", "latest": "true", "limit": "10"}
        ).json()
        codes = [event["error_code"] for event in events if event["action"] == "login"]
        assert codes[-limit - 1 :] == ["login_failed"] * limit + ["rate_limited"]
    finally:
        primary_server.admin("PUT", "/api/v1/settings/rate_limit_failures", json={"value": 10_000})
        primary_server.admin(
            "PUT", "/api/v1/settings/rate_limit_window_seconds", json={"value": 10}
        )


def test_expired_session_goes_back_to_login(
    primary_server: PrimaryServer, context: ServiceContext
) -> None:
    with browser(primary_server) as client:
        login(client)
        assert client.get("/console/").status_code == 200
        with context.database.transaction() as connection:
            newest = connection.execute(select(func.max(sessions.c.id))).scalar_one()
            connection.execute(
                update(sessions)
                .where(sessions.c.id == newest)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        answer = client.get("/console/tokens")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login?next=/console/tokens&expired=1"


def test_forms_keep_input_and_show_errors_by_field(primary_server: PrimaryServer) -> None:
    with browser(primary_server) as client:
        login(client)
        answer = client.post(
            "/console/tokens",
            data={
                "csrf_token": csrf_of(client),
                "name": "rack 12",
                "max_uses": "3",
                "valid_for": "4h",
                "reason": "keep me",
            },
            headers={"Origin": str(client.base_url)},
        )
    assert answer.status_code == 400
    assert 'id="name-error"' in answer.text
    assert 'value="keep me"' in answer.text
    assert 'value="3"' in answer.text


def test_audit_export_as_csv_and_jsonl(primary_server: PrimaryServer) -> None:
    with browser(primary_server) as client:
        login(client)
        as_csv = client.get("/console/audit/export", params={"format": "csv", "category": "LOGIN"})
        as_jsonl = client.get("/console/audit/export", params={"format": "jsonl"})
        unknown = client.get("/console/audit/export", params={"format": "xml"})
    assert as_csv.status_code == 200
    assert as_csv.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert rows and {row["category"] for row in rows} == {"LOGIN"}
    events = [json.loads(line) for line in as_jsonl.text.splitlines()]
    sequences = [event["sequence"] for event in events]
    assert sequences == sorted(sequences)
    assert sequences[0] == 1
    assert unknown.status_code == 400
    assert "xml: unknown export format" in unknown.text


def test_host_search_pages_by_key(context: ServiceContext) -> None:
    now = datetime.now(UTC)
    with context.database.transaction() as connection:
        for number in range(125):
            host_records.create_host(connection, f"search-{number:03d}.example.test", now)
        host_records.create_host(connection, "other.example.test", now)

    first = find_hosts(context, HostSearch(text="search-", limit=50))
    second = find_hosts(context, HostSearch(text="search-", after=first.next_cursor, limit=50))
    third = find_hosts(context, HostSearch(text="search-", after=second.next_cursor, limit=50))
    names = [h["primary_name"] for page in (first, second, third) for h in page.hosts]
    assert names == [f"search-{n:03d}.example.test" for n in range(125)]
    assert first.previous_cursor is None
    assert third.next_cursor is None

    back = find_hosts(context, HostSearch(text="search-", before=third.previous_cursor, limit=50))
    assert back.hosts == second.hosts
    assert back.next_cursor == second.next_cursor

    host_id = first.hosts[0]["host_id"]
    by_id = find_hosts(context, HostSearch(text=host_id[:8]))
    assert host_id in [h["host_id"] for h in by_id.hosts]
    assert find_hosts(context, HostSearch(text="nothing-like-this")).hosts == []


def test_actions_are_audited_with_the_console_user(primary_server: PrimaryServer) -> None:
    with browser(primary_server) as client:
        login(client)
        answer = client.post(
            "/console/tokens",
            data={"csrf_token": csrf_of(client), "name": "console-audited", "valid_for": "1h"},
            headers={"Origin": str(client.base_url)},
        )
    assert answer.status_code == 200
    events = primary_server.admin(
        "GET", "/api/v1/audit", params={"category": "TOKEN", "latest": "true", "limit": "5"}
    ).json()
    created = next(e for e in events if e["target"] == "console-audited")
    assert created["actor"] == "admin"
    assert created["source_ip"] == "127.0.0.1"


def test_huge_user_name_is_clipped_in_audit(primary_server: PrimaryServer) -> None:
    with browser(primary_server) as client:
        answer = login(client, "x" * 100_000, "wrong-password")
    assert answer.status_code == 401
    events = primary_server.admin(
        "GET", "/api/v1/audit", params={"category": "LOGIN", "latest": "true", "limit": "3"}
    ).json()
    failed = next(e for e in reversed(events) if e["error_code"] == "login_failed")
    assert len(failed["actor"]) == 128
    assert failed["actor"].endswith("…")
    assert len(failed["target"]) == 255
    verified = primary_server.admin("GET", "/api/v1/audit/verify").json()
    assert verified["intact"] is True


def test_auditor_gets_no_action_forms(primary_server: PrimaryServer) -> None:
    created = primary_server.admin(
        "POST",
        "/api/v1/users",
        json={"name": "form-auditor", "role": "auditor", "password": "auditor-password-2"},
    )
    assert created.status_code == 201, created.text
    host = primary_server.admin("GET", "/api/v1/hosts/localhost").json()
    with browser(primary_server) as client:
        login(client, "form-auditor", "auditor-password-2")
        reissue = client.get(f"/console/hosts/{host['host_id']}/reissue-token")
        revoke = client.get("/console/revoke", params={"host_id": host["host_id"]})
        token = client.post(
            "/console/tokens",
            data={"csrf_token": csrf_of(client, "/console/"), "name": "by-auditor"},
            headers={"Origin": str(client.base_url)},
        )
    assert reissue.status_code == 403
    assert "which may not create reissue tokens" in reissue.text
    assert revoke.status_code == 403
    assert token.status_code == 403
    assert "which may not create authorization tokens" in token.text
