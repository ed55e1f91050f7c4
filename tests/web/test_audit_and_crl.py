"""Audit chain tampering is detected; the CRL follows revocations and restarts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import CRLEntryExtensionOID

from conftest import PrimaryServer, execute_sql, init_server, start_server, stop_server
from e2e_helpers import openssl_csr

pytestmark = pytest.mark.e2e


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[PrimaryServer]:
    data_dir = tmp_path / "data"
    init_server(data_dir, tmp_path)
    server = start_server(data_dir, tmp_path / "server.log")
    yield server
    stop_server(server)


def make_events(server: PrimaryServer, count: int) -> None:
    for index in range(count):
        server.create_token(f"event-{index}")


def verify(server: PrimaryServer) -> dict:
    answer = server.admin("GET", "/api/v1/audit/verify")
    assert answer.status_code == 200, answer.text
    result: dict = answer.json()
    return result


def test_intact_chain_verifies(fresh_server: PrimaryServer) -> None:
    make_events(fresh_server, 5)
    result = verify(fresh_server)
    assert result["intact"] is True
    assert result["events"] >= 5


@pytest.mark.parametrize(
    "statements",
    [
        ["UPDATE audit_events SET actor = 'mallory' WHERE sequence = 4"],
        ['UPDATE audit_events SET details = \'{"kind": "reissue"}\' WHERE sequence = 5'],
        ["DELETE FROM audit_events WHERE sequence = 4"],
        # Swap two events through a free sequence number, as a forger would.
        [
            "UPDATE audit_events SET sequence = -1 WHERE sequence = 4",
            "UPDATE audit_events SET sequence = 4 WHERE sequence = 5",
            "UPDATE audit_events SET sequence = 5 WHERE sequence = -1",
        ],
    ],
    ids=["edited-actor", "edited-details", "deleted", "reordered"],
)
def test_tampering_is_detected(fresh_server: PrimaryServer, statements: list[str]) -> None:
    make_events(fresh_server, 5)
    execute_sql(fresh_server.data_dir, statements)

    result = verify(fresh_server)
    assert result["intact"] is False
    assert result["breaks"]
    assert result["breaks"][0]["sequence"] in (4, 5)


def crl_of(server: PrimaryServer) -> x509.CertificateRevocationList:
    with server.client() as client:
        answer = client.get("/api/v1/crl")
    assert answer.headers["content-type"] == "application/pkix-crl"
    return x509.load_der_x509_crl(answer.content)


def crl_number(crl: x509.CertificateRevocationList) -> int:
    return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)


def test_revocation_publishes_crl_at_once(fresh_server: PrimaryServer, tmp_path: Path) -> None:
    before = crl_of(fresh_server)
    assert len(list(before)) == 0
    _key, csr = openssl_csr(tmp_path, "crl-host.example.test")
    with fresh_server.client() as client:
        issued = client.post(
            "/api/v1/enroll",
            json={"csr": csr.read_text(), "token": fresh_server.create_token("crl")},
        ).json()

    answer = fresh_server.admin(
        "POST",
        "/api/v1/certificates/revoke",
        json={"host": "crl-host.example.test", "reason_code": "cessation-of-operation"},
    )
    assert answer.status_code == 200

    # The revocation request returns after the new CRL is stored, so no wait is needed.
    after = crl_of(fresh_server)
    assert crl_number(after) > crl_number(before)
    entry = after.get_revoked_certificate_by_serial_number(int(issued["serial_number"], 16))
    assert entry is not None
    reason = entry.extensions.get_extension_for_oid(CRLEntryExtensionOID.CRL_REASON).value.reason
    assert reason == x509.ReasonFlags.cessation_of_operation
    assert after.is_signature_valid(
        x509.load_pem_x509_certificate(fresh_server.ca_file.read_bytes()).public_key()
    )  # type: ignore[arg-type]


def test_crl_number_increases_across_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    init_server(data_dir, tmp_path)
    numbers = []
    for run in range(2):
        server = start_server(data_dir, tmp_path / f"server-{run}.log")
        try:
            numbers.append(crl_number(crl_of(server)))
        finally:
            stop_server(server)
    assert numbers[1] > numbers[0]


def test_pem_crl_matches_der(fresh_server: PrimaryServer) -> None:
    with fresh_server.client() as client:
        pem = client.get("/api/v1/crl", params={"format": "pem"})
    assert pem.text.startswith("-----BEGIN X509 CRL-----")
    assert crl_number(x509.load_pem_x509_crl(pem.content)) >= 1
