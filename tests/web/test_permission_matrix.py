"""Every administration route under every role, checked against the permission table.

Each role calls through an API key of that role. The requests name objects that
do not exist, or carry invalid values, so an allowed call ends in 200, 400 or 404
and changes nothing except that token cleanup removes unusable tokens. A call
outside the role ends in 403 ``forbidden``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from hostca.service.permissions import PERMISSIONS, ROLE_ORDER
from hostca.web import admin_routes, user_routes

from conftest import PrimaryServer

pytestmark = pytest.mark.e2e

# Routes that every authenticated caller may use, whatever the role.
UNRESTRICTED = {("POST", "/api/v1/login"), ("POST", "/api/v1/logout"), ("GET", "/api/v1/whoami")}


@dataclass(frozen=True)
class RouteCase:
    method: str
    route: str
    action: str
    path: str = ""
    body: dict[str, Any] | None = field(default=None)

    @property
    def url(self) -> str:
        return self.path or self.route


CASES = [
    RouteCase("POST", "/api/v1/tokens", "token.create_authorization", body={"name": "bad name!"}),
    RouteCase(
        "POST",
        "/api/v1/tokens",
        "token.create_reissue",
        body={"name": "bad name!", "kind": "reissue", "host": "nobody.example.test"},
    ),
    RouteCase("GET", "/api/v1/tokens", "view"),
    RouteCase("POST", "/api/v1/tokens/cleanup", "token.cleanup"),
    RouteCase("GET", "/api/v1/tokens/{name}", "view", "/api/v1/tokens/nobody"),
    RouteCase("DELETE", "/api/v1/tokens/{name}", "token.delete", "/api/v1/tokens/nobody"),
    RouteCase("GET", "/api/v1/hosts", "view"),
    RouteCase("POST", "/api/v1/hosts", "host.add", body={"name": "bad..name"}),
    RouteCase("GET", "/api/v1/mappings/pending", "view"),
    RouteCase("GET", "/api/v1/hosts/{reference}", "view", "/api/v1/hosts/nobody.example.test"),
    RouteCase(
        "POST",
        "/api/v1/hosts/{reference}/mappings",
        "mapping.add",
        "/api/v1/hosts/nobody.example.test/mappings",
        {"name": "alias.example.test"},
    ),
    RouteCase(
        "DELETE",
        "/api/v1/hosts/{reference}/mappings/{name}",
        "mapping.remove",
        "/api/v1/hosts/nobody.example.test/mappings/alias.example.test",
    ),
    RouteCase(
        "POST",
        "/api/v1/hosts/{reference}/mappings/{name}/approve",
        "mapping.add",
        "/api/v1/hosts/nobody.example.test/mappings/alias.example.test/approve",
    ),
    RouteCase(
        "POST",
        "/api/v1/hosts/{reference}/mappings/{name}/reject",
        "mapping.add",
        "/api/v1/hosts/nobody.example.test/mappings/alias.example.test/reject",
    ),
    RouteCase(
        "POST",
        "/api/v1/hosts/{reference}/auto-reissue",
        "host.auto_reissue",
        "/api/v1/hosts/nobody.example.test/auto-reissue",
        {"minutes": 10},
    ),
    RouteCase(
        "DELETE",
        "/api/v1/hosts/{reference}/auto-reissue",
        "host.auto_reissue",
        "/api/v1/hosts/nobody.example.test/auto-reissue",
    ),
    RouteCase(
        "POST",
        "/api/v1/hosts/{reference}/reset",
        "host.reset",
        "/api/v1/hosts/nobody.example.test/reset",
    ),
    RouteCase("GET", "/api/v1/certificates", "view"),
    RouteCase("GET", "/api/v1/certificates/{serial}", "view", "/api/v1/certificates/0123"),
    RouteCase("POST", "/api/v1/certificates/revoke", "cert.revoke", body={"serial_number": "0123"}),
    RouteCase("GET", "/api/v1/audit", "audit.view"),
    RouteCase("GET", "/api/v1/audit/verify", "audit.view"),
    RouteCase("GET", "/api/v1/settings", "view"),
    RouteCase(
        "PUT",
        "/api/v1/settings/{key}",
        "settings.change",
        "/api/v1/settings/security_level",
        {"value": "ultra"},
    ),
    RouteCase(
        "PATCH",
        "/api/v1/settings/{key}",
        "settings.change",
        "/api/v1/settings/security_level",
        {"value": "ultra"},
    ),
    RouteCase("GET", "/api/v1/users", "user.manage"),
    RouteCase(
        "POST",
        "/api/v1/users",
        "user.manage",
        body={"name": "bad:name", "role": "auditor", "password": "long-enough-password"},
    ),
    RouteCase(
        "POST", "/api/v1/users/{name}/disable", "user.manage", "/api/v1/users/nobody/disable"
    ),
    RouteCase("POST", "/api/v1/users/{name}/enable", "user.manage", "/api/v1/users/nobody/enable"),
    RouteCase(
        "POST",
        "/api/v1/users/{name}/password",
        "user.manage",
        "/api/v1/users/nobody/password",
        {"password": "long-enough-password"},
    ),
    RouteCase("GET", "/api/v1/apikeys", "apikey.manage"),
    RouteCase(
        "POST",
        "/api/v1/apikeys",
        "apikey.manage",
        body={"name": "bad name", "role": "auditor", "expires": "1d"},
    ),
    RouteCase("DELETE", "/api/v1/apikeys/{name}", "apikey.manage", "/api/v1/apikeys/nobody"),
]


def test_every_route_has_a_case() -> None:
    routes = {
        (method, route.path)
        for route in [*admin_routes.router.routes, *user_routes.router.routes]
        for method in getattr(route, "methods", ())
    }

    covered = {(case.method, case.route) for case in CASES}

    assert routes - UNRESTRICTED == covered
    assert {case.action for case in CASES} == set(PERMISSIONS)


@pytest.mark.parametrize("role", ROLE_ORDER)
def test_routes_match_permission_table(primary_server: PrimaryServer, role: str) -> None:
    created = primary_server.admin(
        "POST", "/api/v1/apikeys", json={"name": f"matrix-{role}", "role": role, "expires": "1h"}
    )
    assert created.status_code == 201, created.text
    headers = {"authorization": f"Bearer {created.json()['value']}"}

    with primary_server.client() as client:
        for case in CASES:
            answer = client.request(case.method, case.url, headers=headers, json=case.body)
            label = f"{role}: {case.method} {case.url} ({case.action})"
            if role in PERMISSIONS[case.action]:
                assert answer.status_code in (200, 400, 404), f"{label}: {answer.text}"
            else:
                assert answer.status_code == 403, f"{label}: {answer.text}"
                assert answer.json()["code"] == "forbidden", label
