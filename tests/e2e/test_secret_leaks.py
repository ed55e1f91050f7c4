"""One whole workflow against a real server, then a search for every secret it used.

The workflow: init with an encrypted CA key, login, user add, a wrong password,
passwd, apikey create, token create, enrol, renew with a new key, renew with the
same key, a wrong token value, reissue token, revoke, reissue, logout and backup.
Every secret that it made or sent (token values, passwords, session secrets, the
API key, the CA and backup passphrases and every private key) must then be absent from:

- the server's log (its stdout and stderr);
- the audit events, as the API returns them;
- the raw bytes of the SQLite database, its WAL and shared-memory files, both while
  the server runs and after it stopped;
- every response after the one that created the secret. Secrets that the client
  made (passwords, passphrases, private keys) are in no response at all.
"""

from __future__ import annotations

import base64
import secrets
import string
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import HOSTCA, PrimaryServer, start_server, stop_server

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "leak-check admin password 1"
OPS_PASSWORD = "leak-check operator password 2"
OPS_NEW_PASSWORD = "leak-check operator password 3"
WRONG_PASSWORD = "leak-check wrong password 4"
CA_PASSPHRASE = "leak-check CA passphrase 5"
BACKUP_PASSPHRASE = "leak-check backup passphrase 6"


@dataclass
class Secret:
    label: str
    forms: list[bytes]
    # Index of the response that created it; None for secrets the client made.
    created_by_response: int | None = None


@dataclass
class Workflow:
    server: PrimaryServer
    tmp: Path
    responses: list[tuple[str, bytes]] = field(default_factory=list)
    secrets: list[Secret] = field(default_factory=list)

    def call(
        self,
        method: str,
        path: str,
        *,
        credential: str | None = None,
        cert: tuple[Path, Path] | None = None,
        body: Any = None,
    ) -> httpx.Response:
        headers = {} if credential is None else {"authorization": f"Bearer {credential}"}
        with self.server.client(cert=cert) as client:
            answer = client.request(method, path, headers=headers, json=body)
        header_text = "\n".join(f"{k}: {v}" for k, v in answer.headers.items())
        self.responses.append((f"{method} {path}", header_text.encode() + b"\n" + answer.content))
        return answer

    def text_secret(self, label: str, value: str, *, from_response: bool = False) -> None:
        forms = {value, value.lower(), value.upper()}
        created = len(self.responses) - 1 if from_response else None
        self.secrets.append(Secret(label, [form.encode() for form in forms], created))

    def key_secret(self, label: str, key: ec.EllipticCurvePrivateKey) -> None:
        scalar = key.private_numbers().private_value.to_bytes(32, "big")
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        forms = [scalar, scalar.hex().encode(), base64.b64encode(der)[16:80], pem]
        self.secrets.append(Secret(label, forms))


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def csr_for(key: ec.EllipticCurvePrivateKey, name: str) -> str:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def write_identity(
    directory: Path, name: str, key: ec.EllipticCurvePrivateKey, certificate_pem: str
) -> tuple[Path, Path]:
    key_path = directory / f"{name}.key.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    certificate_path = directory / f"{name}.cert.pem"
    certificate_path.write_text(certificate_pem)
    return certificate_path, key_path


def hostca(*arguments: str | Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [HOSTCA, *map(str, arguments)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def init_encrypted(data_dir: Path, tmp: Path) -> Path:
    """Initialize with an admin password file and an encrypted CA key; return the passphrase file."""
    password_file = tmp / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n")
    passphrase_file = tmp / "ca-passphrase"
    passphrase_file.write_text(CA_PASSPHRASE + "\n")
    hostca(
        "server", "init", "--data-dir", data_dir, "--name", "localhost",
        "--alt-name", "127.0.0.1", "--admin-password-file", password_file,
        "--ca-passphrase-file", passphrase_file,
    )  # fmt: skip
    return passphrase_file


def database_bytes(data_dir: Path) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes()
        for path in sorted(data_dir.glob("hostca.db*"))
        if path.is_file()
    }


def run_workflow(flow: Workflow) -> str:
    """Run the workflow and return the API key it created."""
    # Sessions, a user, a failed login, a password change and an API key.
    login = flow.call("POST", "/api/v1/login", body={"user": "admin", "password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.text
    session = login.json()["session"]
    flow.text_secret("admin session", session, from_response=True)
    added = flow.call(
        "POST",
        "/api/v1/users",
        credential=session,
        body={"name": "leak-ops", "role": "operator", "password": OPS_PASSWORD},
    )
    assert added.status_code == 201, added.text
    wrong = flow.call(
        "POST", "/api/v1/login", body={"user": "leak-ops", "password": WRONG_PASSWORD}
    )
    assert wrong.status_code == 401, wrong.text
    ops_login = flow.call(
        "POST", "/api/v1/login", body={"user": "leak-ops", "password": OPS_PASSWORD}
    )
    assert ops_login.status_code == 200, ops_login.text
    flow.text_secret("operator session", ops_login.json()["session"], from_response=True)
    changed = flow.call(
        "POST",
        "/api/v1/users/leak-ops/password",
        credential=session,
        body={"password": OPS_NEW_PASSWORD},
    )
    assert changed.status_code == 200, changed.text
    created_key = flow.call(
        "POST",
        "/api/v1/apikeys",
        credential=session,
        body={"name": "leak-key", "role": "security-admin", "expires": "1d"},
    )
    assert created_key.status_code == 201, created_key.text
    api_key = created_key.json()["value"]
    flow.text_secret("API key", api_key, from_response=True)

    # An authorization token, enrolment, and renewal with a new key and with the same key.
    token = flow.call(
        "POST", "/api/v1/tokens", credential=api_key, body={"name": "leak-enrol", "max_uses": 2}
    )
    assert token.status_code == 201, token.text
    flow.text_secret("authorization token", token.json()["value"], from_response=True)
    first_key = new_key()
    flow.key_secret("host key 1", first_key)
    enrolled = flow.call(
        "POST",
        "/api/v1/enroll",
        body={"csr": csr_for(first_key, "leak.example.test"), "token": token.json()["value"]},
    )
    assert enrolled.status_code == 200, enrolled.text
    identity = write_identity(flow.tmp, "first", first_key, enrolled.json()["certificate"])
    second_key = new_key()
    flow.key_secret("host key 2", second_key)
    rekeyed = flow.call(
        "POST",
        "/api/v1/renew",
        cert=identity,
        body={"csr": csr_for(second_key, "leak.example.test")},
    )
    assert rekeyed.status_code == 200, rekeyed.text
    identity = write_identity(flow.tmp, "second", second_key, rekeyed.json()["certificate"])
    renewed = flow.call("POST", "/api/v1/renew", cert=identity, body={})
    assert renewed.status_code == 200, renewed.text
    guessed = "".join(secrets.choice(string.ascii_uppercase) for _ in range(16))
    flow.text_secret("wrong token value", guessed)
    rejected = flow.call(
        "POST",
        "/api/v1/enroll",
        body={"csr": csr_for(new_key(), "other.example.test"), "token": guessed},
    )
    assert rejected.status_code == 401, rejected.text

    # Reissue token, revocation and reissue.
    reissue = flow.call(
        "POST",
        "/api/v1/tokens",
        credential=api_key,
        body={"name": "leak-reissue", "kind": "reissue", "host": "leak.example.test"},
    )
    assert reissue.status_code == 201, reissue.text
    flow.text_secret("reissue token", reissue.json()["value"], from_response=True)
    revoked = flow.call(
        "POST",
        "/api/v1/certificates/revoke",
        credential=api_key,
        body={"host": "leak.example.test", "reason_code": "key-compromise"},
    )
    assert revoked.status_code == 200, revoked.text
    third_key = new_key()
    flow.key_secret("host key 3", third_key)
    reissued = flow.call(
        "POST",
        "/api/v1/enroll",
        body={"csr": csr_for(third_key, "leak.example.test"), "token": reissue.json()["value"]},
    )
    assert reissued.status_code == 200, reissued.text

    # Everything an administrator can read back, then the end of the session.
    for path in ("tokens?all=true", "apikeys", "users", "certificates", "hosts", "settings"):
        listed = flow.call("GET", f"/api/v1/{path}", credential=api_key)
        assert listed.status_code == 200, listed.text
    for path in ("ca", "crl?format=pem", "time"):
        assert flow.call("GET", f"/api/v1/{path}").status_code == 200
    assert flow.call("POST", "/api/v1/logout", credential=session).status_code == 200
    return str(api_key)


def test_no_secret_leaks(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    passphrase_file = init_encrypted(data_dir, tmp_path)
    server = start_server(
        data_dir,
        tmp_path / "server.log",
        env={"HOSTCA_CA_PASSPHRASE_FILE": str(passphrase_file)},
    )
    flow = Workflow(server, tmp_path)
    for label, value in [
        ("admin password", ADMIN_PASSWORD),
        ("operator password", OPS_PASSWORD),
        ("new operator password", OPS_NEW_PASSWORD),
        ("wrong password", WRONG_PASSWORD),
        ("CA passphrase", CA_PASSPHRASE),
        ("backup passphrase", BACKUP_PASSPHRASE),
    ]:
        flow.text_secret(label, value)
    ca_key = serialization.load_pem_private_key(
        (data_dir / "ca" / "ca.key.pem").read_bytes(), CA_PASSPHRASE.encode()
    )
    tls_key = serialization.load_pem_private_key(
        (data_dir / "tls" / "server.key.pem").read_bytes(), None
    )
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    assert isinstance(tls_key, ec.EllipticCurvePrivateKey)
    flow.key_secret("CA key", ca_key)
    flow.key_secret("server TLS key", tls_key)

    try:
        api_key = run_workflow(flow)
        backup_passphrase_file = tmp_path / "backup-passphrase"
        backup_passphrase_file.write_text(BACKUP_PASSPHRASE + "\n")
        backup_output = hostca(
            "server", "backup", "--data-dir", data_dir, "--out", tmp_path / "leak.hcab",
            "--passphrase-file", backup_passphrase_file, "--json",
        )  # fmt: skip
        audit = flow.call("GET", "/api/v1/audit", credential=api_key, body=None)
        assert audit.status_code == 200, audit.text
        running_database = database_bytes(data_dir)
    finally:
        stop_server(server)
    stopped_database = database_bytes(data_dir)

    actions = {event["action"] for event in audit.json()}
    assert {"login", "user_passwd", "apikey_create", "enroll", "renew", "revoke"} <= actions
    assert {"reissue", "backup"} <= actions
    places: dict[str, bytes] = {
        "server log": server.log_path.read_bytes(),
        "audit events": audit.content,
        "backup output": backup_output.encode(),
        **{f"{name} (running)": data for name, data in running_database.items()},
        **{f"{name} (stopped)": data for name, data in stopped_database.items()},
    }
    assert "hostca.db-wal (running)" in places
    assert b"certificate_issued" in places["server log"]

    # The search finds each secret where it belongs, so its absence elsewhere means something.
    for secret in flow.secrets:
        if secret.created_by_response is not None:
            label, content = flow.responses[secret.created_by_response]
            assert any(form in content for form in secret.forms), f"{secret.label} not in {label}"
    host_key = next(secret for secret in flow.secrets if secret.label == "host key 1")
    assert host_key.forms[-1] == (tmp_path / "first.key.pem").read_bytes()

    for secret in flow.secrets:
        for place, data in places.items():
            for form in secret.forms:
                assert form not in data, f"{secret.label} in {place}"
        for index, (label, content) in enumerate(flow.responses):
            if secret.created_by_response is not None and index <= secret.created_by_response:
                continue
            for form in secret.forms:
                assert form not in content, f"{secret.label} in response {index} ({label})"
