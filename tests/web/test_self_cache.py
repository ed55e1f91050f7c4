"""The GET /api/v1/self cache: a hit reads nothing from the database, and any commit empties it.

The ASGI app runs in process on a real initialized data directory, with the peer
certificate put into the TLS scope as the server's TLS protocol does. Statements
are counted with a SQLAlchemy listener, so a test sees whether a poll read the
database. Commits come from another process, the way another worker or replica
would make them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import event
from starlette.testclient import TestClient

from asgi_helpers import PeerCertificateApp
from hostca.datadir import DataDir
from hostca.service.context import Actor, ServiceContext
from hostca.service.server_setup import open_context
from hostca.service.settings_service import change_setting
from hostca.service.token_service import CreateTokenRequest, create_token
from hostca.web.app import create_app

from conftest import init_server

ADMIN = Actor(name="admin", role="security-admin")


@dataclass
class Host:
    context: ServiceContext
    data_dir: Path
    client: TestClient
    peer: PeerCertificateApp
    serial_number: str
    statements: list[str]

    def poll(self) -> Any:
        self.statements.clear()
        return self.client.get("/api/v1/self")


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    init_server(tmp_path / "data", tmp_path)
    context = open_context(DataDir(tmp_path / "data"), ca_passphrase=None, database_url=None)
    statements: list[str] = []

    @event.listens_for(context.database.engine, "before_cursor_execute")
    def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    peer = PeerCertificateApp(create_app(context))
    client = TestClient(peer, base_url="https://testserver", raise_server_exceptions=False)
    token = create_token(
        context, ADMIN, CreateTokenRequest(name="self-answers", max_uses=1, valid_for="1h")
    )
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "poll.example.test")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    with client:
        enrolled = client.post("/api/v1/enroll", json={"csr": csr, "token": token.value})
        assert enrolled.status_code == 200, enrolled.text
        body = enrolled.json()
        peer.peer_der = x509.load_pem_x509_certificate(body["certificate"].encode()).public_bytes(
            serialization.Encoding.DER
        )
        yield Host(context, tmp_path / "data", client, peer, body["serial_number"], statements)
    context.database.dispose()


def revoke_in_another_process(data_dir: Path, serial_number: str) -> None:
    """Mark the certificate revoked through a connection of another process, as another worker would."""
    script = (
        "import sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1])\n"
        "db.execute(\"UPDATE certificates SET status = 'revoked', revoked_at = '2026-01-01 00:00:00',"
        " revocation_reason = 'keyCompromise' WHERE serial_number = ?\", (sys.argv[2],))\n"
        "db.commit()\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(data_dir / "hostca.db"), serial_number], check=True
    )


def audit_codes(host: Host) -> list[str]:
    with host.context.database.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT error_code FROM audit_events WHERE action = 'self' ORDER BY sequence"
        )
        return [row[0] for row in rows]


@pytest.mark.sqlite_only
def test_second_poll_reads_nothing(host: Host) -> None:
    first = host.poll()
    assert first.status_code == 200
    assert host.statements, "the first poll should read the database"

    second = host.poll()
    assert second.status_code == 200
    assert host.statements == []
    assert second.content == first.content
    assert first.headers["content-type"] == "application/json"
    assert second.headers["content-type"] == "application/json"


@pytest.mark.sqlite_only
def test_commit_in_other_process_empties_cache(host: Host) -> None:
    assert host.poll().status_code == 200

    revoke_in_another_process(host.data_dir, host.serial_number)
    answer = host.poll()

    assert answer.status_code == 403
    assert answer.json()["code"] == "certificate_revoked"
    assert audit_codes(host) == ["certificate_revoked"]


@pytest.mark.sqlite_only
def test_expired_certificate_skips_cache(host: Host) -> None:
    assert host.poll().status_code == 200
    assert host.poll().status_code == 200
    not_after = datetime.fromisoformat(host.poll().json()["certificate"]["not_after"])

    host.context.clock = lambda: not_after + timedelta(seconds=1)
    answer = host.poll()

    assert answer.status_code == 403
    assert answer.json()["code"] == "certificate_expired"
    assert audit_codes(host) == ["certificate_expired"]


@pytest.mark.sqlite_only
def test_not_yet_valid_certificate_skips_cache(host: Host) -> None:
    not_before = datetime.fromisoformat(host.poll().json()["certificate"]["not_before"])
    assert host.poll().status_code == 200

    host.context.clock = lambda: not_before - timedelta(seconds=1)
    answer = host.poll()

    assert answer.status_code == 403
    assert answer.json()["code"] == "certificate_not_yet_valid"


@pytest.mark.sqlite_only
def test_setting_change_empties_cache(host: Host) -> None:
    before = host.poll().json()
    assert host.poll().json() == before
    assert before["security_level"] != "very-high"

    change_setting(host.context, ADMIN, "security-level", "very-high")
    after = host.poll().json()

    assert after["security_level"] == "very-high"
    assert after["crl_refresh_interval_seconds"] < before["crl_refresh_interval_seconds"]


@pytest.mark.postgresql_only
def test_postgresql_reads_every_poll(host: Host) -> None:
    assert host.poll().status_code == 200
    second = host.poll()
    assert second.status_code == 200
    assert host.statements, "without a change watch, every poll reads the database"
