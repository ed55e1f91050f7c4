"""Mutual TLS: revocation is checked per request, not per handshake. Also the OpenAPI document."""

from __future__ import annotations

import http.client
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import CRLEntryExtensionOID

from conftest import PrimaryServer
from e2e_helpers import openssl_csr

pytestmark = pytest.mark.e2e


def enrolled(server: PrimaryServer, tmp_path: Path, name: str) -> tuple[Path, Path, dict]:
    key, csr = openssl_csr(tmp_path, name)
    with server.client() as client:
        body = client.post(
            "/api/v1/enroll", json={"csr": csr.read_text(), "token": server.create_token(name)}
        ).json()
    certificate = tmp_path / f"{name}.pem"
    certificate.write_text(body["certificate"])
    return key, certificate, body


def test_revocation_applies_to_open_connection(
    primary_server: PrimaryServer, tmp_path: Path
) -> None:
    key, certificate, body = enrolled(primary_server, tmp_path, "keepalive.example.test")

    with primary_server.client(cert=(certificate, key)) as client:
        assert client.get("/api/v1/self").status_code == 200
        revoked = primary_server.admin(
            "POST", "/api/v1/certificates/revoke", json={"serial_number": body["serial_number"]}
        )
        assert revoked.status_code == 200
        # The same keep-alive connection, whose handshake happened before the revocation.
        answer = client.get("/api/v1/self")
    assert answer.status_code == 403
    assert answer.json()["code"] == "certificate_revoked"


def test_python_ssl_client_gets_host_identity(
    primary_server: PrimaryServer, tmp_path: Path
) -> None:
    key, certificate, body = enrolled(primary_server, tmp_path, "python-ssl.example.test")
    context = ssl.create_default_context(cafile=str(primary_server.ca_file))
    context.load_cert_chain(str(certificate), str(key))

    connection = http.client.HTTPSConnection(
        "127.0.0.1", primary_server.port, context=context, timeout=30
    )
    try:
        connection.request("GET", "/api/v1/self")
        response = connection.getresponse()
        payload = response.read().decode()
    finally:
        connection.close()
    assert response.status == 200
    assert body["host_id"] in payload


def test_openapi_document(primary_server: PrimaryServer) -> None:
    with primary_server.client() as client:
        document = client.get("/api/v1/openapi.json").json()
    paths = document["paths"]
    for path in (
        "/api/v1/enroll",
        "/api/v1/renew",
        "/api/v1/self",
        "/api/v1/ca",
        "/api/v1/crl",
        "/api/v1/time",
        "/api/v1/tokens",
        "/api/v1/hosts",
        "/api/v1/certificates",
        "/api/v1/audit",
    ):
        assert path in paths, path


def test_rekey_revokes_old_certificate(primary_server: PrimaryServer, tmp_path: Path) -> None:
    old_key, old_certificate, body = enrolled(primary_server, tmp_path, "rekey.example.test")
    # The new key is an Ed25519 key, so the new certificate cannot be mistaken for the old one.
    new_key, new_csr = openssl_csr(tmp_path, "rekey.example.test", "ed25519")

    with primary_server.client(cert=(old_certificate, old_key)) as client:
        answer = client.post("/api/v1/renew", json={"csr": new_csr.read_text()})
    assert answer.status_code == 200, answer.text
    renewed = answer.json()
    assert renewed["host_id"] == body["host_id"]
    new_certificate = tmp_path / "rekeyed.pem"
    new_certificate.write_text(renewed["certificate"])

    with primary_server.client(cert=(old_certificate, old_key)) as client:
        refused = client.get("/api/v1/self")
    assert (refused.status_code, refused.json()["code"]) == (403, "certificate_revoked")
    # The host has the newer certificate, so the message points there first.
    assert "connect with the host's newest certificate" in refused.json()["detail"]
    with primary_server.client(cert=(new_certificate, new_key)) as client:
        assert client.get("/api/v1/self").status_code == 200

    with primary_server.client() as client:
        crl = x509.load_der_x509_crl(client.get("/api/v1/crl").content)
    entry = crl.get_revoked_certificate_by_serial_number(int(body["serial_number"], 16))
    assert entry is not None
    reason = entry.extensions.get_extension_for_oid(CRLEntryExtensionOID.CRL_REASON).value.reason
    assert reason == x509.ReasonFlags.superseded
