"""The renamed-host workflow, with a real server, the agent command and curl."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from conftest import HOSTCA, PrimaryServer
from e2e_helpers import curl_json

pytestmark = pytest.mark.e2e

OLD_NAME = "web-01.example.test"
NEW_NAME = "web-02.example.test"


def agent(
    state_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HOSTCA, "agent", "--state-dir", str(state_dir), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def agent_status(state_dir: Path) -> dict:
    result = agent(state_dir, "status", "--json")
    assert result.returncode == 0, result.stderr
    status: dict = json.loads(result.stdout)
    return status


def call_self(server: PrimaryServer, status: dict) -> tuple[int, dict]:
    return curl_json(
        f"{server.url}/api/v1/self",
        server.ca_file,
        cert=(Path(status["certificate_file"]), Path(status["key_file"])),
    )


def test_renamed_host_keeps_host_id(
    primary_server: PrimaryServer, tmp_path: Path, curl: str
) -> None:
    state_dir = tmp_path / "agent"
    ca_sha256 = primary_server.admin("GET", "/api/v1/ca").json()["certificates"][0]["sha256"]

    # The host trusts the CA by its fingerprint and enrols with an authorization token.
    trusted = agent(state_dir, "trust", "--server", primary_server.url, "--fingerprint", ca_sha256)
    assert trusted.returncode == 0, trusted.stderr
    token = primary_server.create_token("first-enrolment")
    enrolled = agent(
        state_dir,
        "enroll",
        "--server",
        primary_server.url,
        "--token-env",
        "HOST_TOKEN",
        "--name",
        OLD_NAME,
        env={"HOST_TOKEN": token},
    )
    assert enrolled.returncode == 0, enrolled.stderr
    assert token not in enrolled.stdout + enrolled.stderr
    first = agent_status(state_dir)
    host_id = first["host_id"]
    assert first["names"][0] == OLD_NAME
    status, body = call_self(primary_server, first)
    assert status == 200, body
    assert body["host_id"] == host_id

    # Step 1: a reissue token for the host, named by its primary name. An alias is rejected.
    assert (
        primary_server.admin(
            "POST", f"/api/v1/hosts/{host_id}/mappings", json={"name": "web-01-alias.example.test"}
        ).status_code
        == 201
    )
    alias_attempt = primary_server.admin(
        "POST",
        "/api/v1/tokens",
        json={"name": "reissue-by-alias", "kind": "reissue", "host": "web-01-alias.example.test"},
    )
    assert alias_attempt.status_code == 400
    assert alias_attempt.json()["code"] == "name_not_primary"
    assert OLD_NAME in alias_attempt.json()["detail"]
    reissue = primary_server.admin(
        "POST",
        "/api/v1/tokens",
        json={
            "name": "reissue-web-01",
            "kind": "reissue",
            "host": OLD_NAME,
            "reason": "renamed to web-02",
        },
    )
    assert reissue.status_code == 201, reissue.text
    assert reissue.json()["host_id"] == host_id
    assert reissue.json()["max_uses"] == 1

    # Step 2: the new name becomes an approved mapping of the host ID.
    mapped = primary_server.admin(
        "POST", f"/api/v1/hosts/{host_id}/mappings", json={"name": NEW_NAME}
    )
    assert mapped.status_code == 201, mapped.text

    # Step 3: revocation; the host can no longer call the web service.
    revoked = primary_server.admin(
        "POST", "/api/v1/certificates/revoke", json={"host": OLD_NAME, "reason_code": "superseded"}
    )
    assert revoked.status_code == 200, revoked.text
    status, body = call_self(primary_server, first)
    assert status == 403
    assert body["code"] == "certificate_revoked"
    assert "reissue token" in body["detail"]

    # Step 4: the agent uses the reissue token for the new name and keeps its host ID.
    reissued = agent(
        state_dir,
        "enroll",
        "--force",
        "--token-env",
        "HOST_TOKEN",
        "--name",
        NEW_NAME,
        env={"HOST_TOKEN": reissue.json()["value"]},
    )
    assert reissued.returncode == 0, reissued.stderr
    second = agent_status(state_dir)
    assert second["host_id"] == host_id
    assert second["serial_number"] != first["serial_number"]
    status, body = call_self(primary_server, second)
    assert status == 200, body
    assert body["host_id"] == host_id
    assert body["primary_name"] == NEW_NAME

    certificate = x509.load_pem_x509_certificate(Path(second["certificate_file"]).read_bytes())
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName)[0] == NEW_NAME
    assert f"urn:uuid:{host_id}" in san.get_values_for_type(x509.UniformResourceIdentifier)
    assert certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == host_id

    # The reissue token is spent, and the audit trail contains each step.
    assert primary_server.admin("GET", "/api/v1/tokens/reissue-web-01").json()["state"] == "used-up"
    actions = [
        e["action"]
        for e in primary_server.admin("GET", "/api/v1/audit", params={"host": host_id}).json()
        if e["outcome"] == "success"
    ]
    for expected in ("enroll", "create", "mapping_add", "revoke", "reissue"):
        assert expected in actions


def test_renamed_host_frees_old_name(primary_server: PrimaryServer, tmp_path: Path) -> None:
    from e2e_helpers import openssl_csr

    _key, csr = openssl_csr(tmp_path, "old-name.example.test")
    with primary_server.client() as client:
        issued = client.post(
            "/api/v1/enroll",
            json={"csr": csr.read_text(), "token": primary_server.create_token("old")},
        ).json()
    host_id = issued["host_id"]
    primary_server.admin(
        "POST", f"/api/v1/hosts/{host_id}/mappings", json={"name": "new-name.example.test"}
    )
    reissue = primary_server.admin(
        "POST", "/api/v1/tokens", json={"name": "rename", "kind": "reissue", "host_id": host_id}
    )
    renamed_dir = tmp_path / "renamed"
    renamed_dir.mkdir()
    _key, renamed_csr = openssl_csr(renamed_dir, "new-name.example.test")
    with primary_server.client() as client:
        renamed = client.post(
            "/api/v1/enroll",
            json={"csr": renamed_csr.read_text(), "token": reissue.json()["value"]},
        )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["names"] == ["new-name.example.test"]
    events = primary_server.admin("GET", "/api/v1/audit", params={"host": host_id}).json()
    assert any(
        e["action"] == "reissue" and e["details"]["renamed_from"] == "old-name.example.test"
        for e in events
    )

    # A new machine now takes the old name with an authorization token.
    newcomer_dir = tmp_path / "newcomer"
    newcomer_dir.mkdir()
    _key, newcomer_csr = openssl_csr(newcomer_dir, "old-name.example.test")
    with primary_server.client() as client:
        newcomer = client.post(
            "/api/v1/enroll",
            json={
                "csr": newcomer_csr.read_text(),
                "token": primary_server.create_token("newcomer"),
            },
        )
    assert newcomer.status_code == 200, newcomer.text
    assert newcomer.json()["host_id"] != host_id
