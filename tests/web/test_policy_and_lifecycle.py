"""Security levels, the auto-reissue window, discovered names and host reset, on a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import PrimaryServer, init_server, start_server, stop_server
from e2e_helpers import openssl_csr

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrimaryServer]:
    tmp = tmp_path_factory.mktemp("policy")
    hosts_file = tmp / "hosts"
    hosts_file.write_text(
        "127.0.0.1   resolves-here.example.test\n"
        "192.0.2.55  resolves-elsewhere.example.test  # TEST-NET-1, never this machine\n"
    )
    init_server(tmp / "data", tmp)
    primary = start_server(
        tmp / "data", tmp / "server.log", env={"HOSTCA_HOSTS_FILE": str(hosts_file)}
    )
    yield primary
    stop_server(primary)


def set_level(server: PrimaryServer, level: str) -> None:
    answer = server.admin("PATCH", "/api/v1/settings/security_level", json={"value": level})
    assert answer.status_code == 200, answer.text
    assert answer.json()["security_level"] == level


def enrol(
    server: PrimaryServer,
    tmp_path: Path,
    name: str,
    token: str | None = None,
    aliases: tuple[str, ...] = (),
) -> tuple[int, dict]:
    directory = tmp_path / f"{name}-{len(list(tmp_path.iterdir()))}"
    directory.mkdir()
    _key, csr = openssl_csr(directory, name, aliases=aliases)
    body = {"csr": csr.read_text()} if token is None else {"csr": csr.read_text(), "token": token}
    with server.client() as client:
        answer = client.post("/api/v1/enroll", json=body)
    return answer.status_code, answer.json()


@pytest.fixture(autouse=True)
def default_level(server: PrimaryServer) -> Iterator[None]:
    yield
    set_level(server, "high")


# Security levels


def test_high_allows_pre_registered(server: PrimaryServer, tmp_path: Path) -> None:
    added = server.admin("POST", "/api/v1/hosts", json={"name": "pre.example.test"})
    assert added.status_code == 201, added.text
    status, body = enrol(server, tmp_path, "pre.example.test")
    assert status == 200, body
    assert body["host_id"] == added.json()["host_id"]


def test_high_rejects_unregistered(server: PrimaryServer, tmp_path: Path) -> None:
    status, body = enrol(server, tmp_path, "stranger.example.test")
    assert (status, body["code"]) == (401, "token_required")


def test_very_high_rejects_pre_registered(server: PrimaryServer, tmp_path: Path) -> None:
    server.admin("POST", "/api/v1/hosts", json={"name": "pre-vh.example.test"})
    set_level(server, "very-high")
    status, body = enrol(server, tmp_path, "pre-vh.example.test")
    assert (status, body["code"]) == (401, "token_required")
    status, body = enrol(
        server, tmp_path, "pre-vh.example.test", token=server.create_token("vh-token")
    )
    assert status == 200, body


def test_medium_allows_resolving_name(server: PrimaryServer, tmp_path: Path) -> None:
    set_level(server, "medium")
    status, body = enrol(server, tmp_path, "resolves-here.example.test")
    assert status == 200, body


def test_medium_rejects_name_resolving_elsewhere(server: PrimaryServer, tmp_path: Path) -> None:
    set_level(server, "medium")
    status, body = enrol(server, tmp_path, "resolves-elsewhere.example.test")
    assert (status, body["code"]) == (403, "name_not_resolved")
    assert "192.0.2.55" in body["detail"]
    status, body = enrol(server, tmp_path, "unknown-name.example.test")
    assert (status, body["code"]) == (403, "name_not_resolved")


def test_level_change_is_audited(server: PrimaryServer) -> None:
    set_level(server, "medium")
    events = server.admin(
        "GET", "/api/v1/audit", params={"category": "SEC_CONFIG", "latest": "true", "limit": 5}
    ).json()
    change = events[-1]
    assert change["action"] == "setting_change"
    assert change["target"] == "security_level"
    assert change["details"] == {"old": "high", "new": "medium"}


def test_invalid_level_rejected(server: PrimaryServer) -> None:
    answer = server.admin("PATCH", "/api/v1/settings/security_level", json={"value": "low"})
    assert (answer.status_code, answer.json()["code"]) == (400, "setting_invalid")


# Auto-reissue window


def enrolled(server: PrimaryServer, tmp_path: Path, name: str) -> dict:
    status, body = enrol(server, tmp_path, name, token=server.create_token(f"t-{name}"))
    assert status == 200, body
    return body


def test_auto_reissue_window_used_once(server: PrimaryServer, tmp_path: Path) -> None:
    first = enrolled(server, tmp_path, "window.example.test")
    status, body = enrol(server, tmp_path, "window.example.test")
    assert (status, body["code"]) == (409, "reissue_token_required")

    opened = server.admin("POST", "/api/v1/hosts/window.example.test/auto-reissue", json={})
    assert opened.status_code == 200, opened.text
    assert opened.json()["auto_reissue_until"] is not None
    status, body = enrol(server, tmp_path, "window.example.test")
    assert status == 200, body
    assert body["host_id"] == first["host_id"]
    old = server.admin("GET", f"/api/v1/certificates/{first['serial_number']}").json()
    assert (old["status"], old["revocation_reason"]) == ("revoked", "superseded")

    # Using the window closed it.
    status, body = enrol(server, tmp_path, "window.example.test")
    assert (status, body["code"]) == (409, "reissue_token_required")


def test_auto_reissue_window_disallowed(server: PrimaryServer, tmp_path: Path) -> None:
    enrolled(server, tmp_path, "closed.example.test")
    server.admin("POST", "/api/v1/hosts/closed.example.test/auto-reissue", json={"minutes": 60})
    closed = server.admin("DELETE", "/api/v1/hosts/closed.example.test/auto-reissue")
    assert closed.json()["auto_reissue_until"] is None
    status, body = enrol(server, tmp_path, "closed.example.test")
    assert (status, body["code"]) == (409, "reissue_token_required")


def test_auto_reissue_window_expired(server: PrimaryServer, tmp_path: Path) -> None:
    enrolled(server, tmp_path, "zero.example.test")
    server.admin("POST", "/api/v1/hosts/zero.example.test/auto-reissue", json={"minutes": 0})
    status, body = enrol(server, tmp_path, "zero.example.test")
    assert (status, body["code"]) == (409, "reissue_token_required")


@pytest.mark.parametrize("minutes", [-1, 43_201])
def test_auto_reissue_out_of_range(server: PrimaryServer, minutes: int) -> None:
    answer = server.admin("POST", "/api/v1/hosts/localhost/auto-reissue", json={"minutes": minutes})
    assert (answer.status_code, answer.json()["code"]) == (400, "minutes_invalid")


# Discovered names


def pending_names(server: PrimaryServer) -> dict[str, dict]:
    return {
        entry["name"]: entry for entry in server.admin("GET", "/api/v1/mappings/pending").json()
    }


def test_discovered_name_pending_then_approved(server: PrimaryServer, tmp_path: Path) -> None:
    first = enrolled(server, tmp_path, "disc.example.test")
    status, body = enrol(
        server,
        tmp_path,
        "other.example.test",
        token=server.create_token("t-other"),
        aliases=("disc-alias.example.test",),
    )
    assert status == 200, body
    assert "disc-alias.example.test" not in body["names"]
    assert pending_names(server)["disc-alias.example.test"]["host_id"] == body["host_id"]

    approved = server.admin(
        "POST", f"/api/v1/hosts/{body['host_id']}/mappings/disc-alias.example.test/approve"
    )
    assert approved.status_code == 200, approved.text
    server.admin("POST", f"/api/v1/hosts/{body['host_id']}/auto-reissue", json={})
    status, again = enrol(server, tmp_path, "other.example.test")
    assert status == 200, again
    assert again["names"] == ["other.example.test", "disc-alias.example.test"]
    assert again["host_id"] == body["host_id"]
    assert first["host_id"] != body["host_id"]


def test_discovered_name_rejected(server: PrimaryServer, tmp_path: Path) -> None:
    status, body = enrol(
        server,
        tmp_path,
        "rej.example.test",
        token=server.create_token("t-rej"),
        aliases=("rej-alias.example.test",),
    )
    assert status == 200
    answer = server.admin(
        "POST", f"/api/v1/hosts/{body['host_id']}/mappings/rej-alias.example.test/reject"
    )
    assert answer.status_code == 200, answer.text
    assert "rej-alias.example.test" not in pending_names(server)
    again = server.admin(
        "POST", f"/api/v1/hosts/{body['host_id']}/mappings/rej-alias.example.test/approve"
    )
    assert (again.status_code, again.json()["code"]) == (404, "mapping_not_pending")


def test_discovered_name_conflict(server: PrimaryServer, tmp_path: Path) -> None:
    owner = enrolled(server, tmp_path, "holder.example.test")
    status, body = enrol(
        server,
        tmp_path,
        "claimer.example.test",
        token=server.create_token("t-claimer"),
        aliases=("holder.example.test",),
    )
    assert status == 200
    assert body["names"] == ["claimer.example.test"]
    entry = pending_names(server)["holder.example.test"]
    assert entry["conflicts_with"] == [
        {"host_id": owner["host_id"], "primary_name": "holder.example.test"}
    ]
    answer = server.admin(
        "POST", f"/api/v1/hosts/{body['host_id']}/mappings/holder.example.test/approve"
    )
    assert (answer.status_code, answer.json()["code"]) == (409, "name_conflict")


def test_auto_map_approves_free_names_only(server: PrimaryServer, tmp_path: Path) -> None:
    enrolled(server, tmp_path, "taken.example.test")
    server.admin("PATCH", "/api/v1/settings/auto_map", json={"value": "on"})
    try:
        status, body = enrol(
            server,
            tmp_path,
            "automap.example.test",
            token=server.create_token("t-automap"),
            aliases=("automap-free.example.test", "taken.example.test"),
        )
    finally:
        server.admin("PATCH", "/api/v1/settings/auto_map", json={"value": "off"})
    assert status == 200
    assert body["names"] == ["automap.example.test", "automap-free.example.test"]
    assert "taken.example.test" in pending_names(server)


def test_shared_mapping_on_two_hosts(server: PrimaryServer, tmp_path: Path) -> None:
    node_a = enrolled(server, tmp_path, "node-a.example.test")
    node_b = enrolled(server, tmp_path, "node-b.example.test")
    for node in (node_a, node_b):
        answer = server.admin(
            "POST",
            f"/api/v1/hosts/{node['host_id']}/mappings",
            json={"name": "cluster.example.test", "shared": True},
        )
        assert answer.status_code == 201, answer.text
    unshared = enrolled(server, tmp_path, "node-c.example.test")
    answer = server.admin(
        "POST",
        f"/api/v1/hosts/{unshared['host_id']}/mappings",
        json={"name": "cluster.example.test"},
    )
    assert (answer.status_code, answer.json()["code"]) == (409, "name_conflict")


def test_reset_clears_discovered_names_and_window(server: PrimaryServer, tmp_path: Path) -> None:
    status, body = enrol(
        server,
        tmp_path,
        "resettable.example.test",
        token=server.create_token("t-reset"),
        aliases=("reset-alias.example.test",),
    )
    assert status == 200
    host_id = body["host_id"]
    server.admin(
        "POST", f"/api/v1/hosts/{host_id}/mappings", json={"name": "admin-added.example.test"}
    )
    server.admin("POST", f"/api/v1/hosts/{host_id}/auto-reissue", json={})

    reset = server.admin("POST", f"/api/v1/hosts/{host_id}/reset")
    assert reset.status_code == 200, reset.text
    view = reset.json()
    assert view["host_id"] == host_id
    assert view["primary_name"] == "resettable.example.test"
    assert view["auto_reissue_until"] is None
    assert [m["name"] for m in view["mappings"]] == ["admin-added.example.test"]
    certificate = server.admin("GET", f"/api/v1/certificates/{body['serial_number']}").json()
    assert certificate["status"] == "valid"


def test_self_reports_crl_refresh_interval(server: PrimaryServer, tmp_path: Path) -> None:
    directory = tmp_path / "self"
    directory.mkdir()
    key, csr = openssl_csr(directory, "interval.example.test")
    with server.client() as client:
        issued = client.post(
            "/api/v1/enroll",
            json={"csr": csr.read_text(), "token": server.create_token("t-interval")},
        )
    certificate = directory / "cert.pem"
    certificate.write_text(issued.json()["certificate"])

    expected = {"very-high": 3600, "high": 4 * 3600, "medium": 8 * 3600}
    for level, seconds in expected.items():
        set_level(server, level)
        with server.client(cert=(certificate, key)) as client:
            body = client.get("/api/v1/self").json()
        assert body["security_level"] == level
        assert body["crl_refresh_interval_seconds"] == seconds
