"""Every rejection of the product rules for tokens, names, CSRs, certificates and sessions, against a real server."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from hostca.datadir import DataDir
from hostca.service.context import Actor, ServiceContext
from hostca.service.enrolment import EnrolRequest, enroll
from hostca.service.server_setup import open_context
from hostca.service.token_service import CreateTokenRequest, create_token
from hostca.service.user_service import create_user
from hostca.store.tables import sessions, tokens

from conftest import HOSTCA, PrimaryServer, query_rows
from e2e_helpers import openssl_csr

pytestmark = pytest.mark.e2e

VECTORS = Path(__file__).parent.parent / "vectors"


@pytest.fixture(scope="module")
def context(primary_server: PrimaryServer) -> Iterator[ServiceContext]:
    """The service layer on the same data directory, for arranging states a client cannot reach."""
    service_context = open_context(
        DataDir(primary_server.data_dir), ca_passphrase=None, database_url=None
    )
    yield service_context
    service_context.database.dispose()


def enrol(server: PrimaryServer, csr: Path | str, token: str | None) -> tuple[int, dict]:
    pem = csr.read_text() if isinstance(csr, Path) else csr
    body = {"csr": pem} if token is None else {"csr": pem, "token": token}
    with server.client() as client:
        answer = client.post("/api/v1/enroll", json=body)
    assert answer.headers["content-type"].startswith(
        "application/" + ("json" if answer.status_code == 200 else "problem+json")
    )
    return answer.status_code, answer.json()


def enrolled_host(server: PrimaryServer, tmp_path: Path, name: str) -> tuple[Path, Path, dict]:
    key, csr = openssl_csr(tmp_path, name)
    status, body = enrol(server, csr, server.create_token(f"setup-{name}"))
    assert status == 200, body
    certificate = tmp_path / f"{name}.cert.pem"
    certificate.write_text(body["certificate"])
    return key, certificate, body


def set_token_valid_until(context: ServiceContext, name: str, when: datetime) -> None:
    with context.database.transaction() as connection:
        connection.execute(
            update(tokens)
            .where(tokens.c.name == name, tokens.c.deleted_at.is_(None))
            .values(valid_until=when)
        )


# Tokens


def test_unknown_token_value(primary_server: PrimaryServer, tmp_path: Path) -> None:
    _key, csr = openssl_csr(tmp_path, "unknown-token.example.test")
    status, body = enrol(primary_server, csr, "ABCDEFGHIJKLMNOP")
    assert (status, body["code"]) == (401, "token_invalid")


def test_malformed_token_value(primary_server: PrimaryServer, tmp_path: Path) -> None:
    _key, csr = openssl_csr(tmp_path, "malformed-token.example.test")
    status, body = enrol(primary_server, csr, "12345")
    assert (status, body["code"]) == (401, "token_invalid")


def test_missing_token(primary_server: PrimaryServer, tmp_path: Path) -> None:
    _key, csr = openssl_csr(tmp_path, "no-token.example.test")
    status, body = enrol(primary_server, csr, None)
    assert (status, body["code"]) == (401, "token_required")


def test_expired_token(
    primary_server: PrimaryServer, context: ServiceContext, tmp_path: Path
) -> None:
    value = primary_server.create_token("expires-soon")
    set_token_valid_until(context, "expires-soon", datetime.now(UTC) - timedelta(minutes=1))
    _key, csr = openssl_csr(tmp_path, "expired-token.example.test")
    status, body = enrol(primary_server, csr, value)
    assert (status, body["code"]) == (401, "token_expired")
    assert primary_server.admin("GET", "/api/v1/tokens/expires-soon").json()["state"] == "expired"


def test_used_up_token(primary_server: PrimaryServer, tmp_path: Path) -> None:
    value = primary_server.create_token("single-use")
    _key, first = openssl_csr(tmp_path, "first-user.example.test")
    _key, second = openssl_csr(tmp_path, "second-user.example.test")
    assert enrol(primary_server, first, value)[0] == 200
    status, body = enrol(primary_server, second, value)
    assert (status, body["code"]) == (401, "token_used_up")


def test_token_accepts_case_spaces_and_dashes(
    primary_server: PrimaryServer, tmp_path: Path
) -> None:
    value = primary_server.create_token("relaxed-format")
    typed = f" {value[:4].lower()}-{value[4:8]} {value[8:12].lower()}-{value[12:]} "
    _key, csr = openssl_csr(tmp_path, "relaxed.example.test")
    assert enrol(primary_server, csr, typed)[0] == 200


def test_deleted_token(primary_server: PrimaryServer, tmp_path: Path) -> None:
    value = primary_server.create_token("to-delete")
    assert primary_server.admin("DELETE", "/api/v1/tokens/to-delete").status_code == 200
    _key, csr = openssl_csr(tmp_path, "deleted-token.example.test")
    status, body = enrol(primary_server, csr, value)
    assert (status, body["code"]) == (401, "token_invalid")


def test_failed_request_uses_nothing(primary_server: PrimaryServer, tmp_path: Path) -> None:
    value = primary_server.create_token("kept-on-failure")
    status, body = enrol(primary_server, "not a csr", value)
    assert (status, body["code"]) == (400, "csr_invalid")
    assert primary_server.admin("GET", "/api/v1/tokens/kept-on-failure").json()["uses"] == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "bad name!"}, "token_name_invalid"),
        ({"name": "x" * 65}, "token_name_invalid"),
        ({"name": "max-uses-0", "max_uses": 0}, "max_uses_invalid"),
        ({"name": "max-uses-big", "max_uses": 100_000}, "max_uses_invalid"),
        ({"name": "too-long", "valid_for": "1000d"}, "validity_too_long"),
        ({"name": "bad-duration", "valid_for": "2x"}, "duration_invalid"),
        ({"name": "no-offset", "valid_until": "2030-01-01T00:00:00"}, "timestamp_invalid"),
        (
            {"name": "both", "valid_for": "1d", "valid_until": "2030-01-01T00:00:00Z"},
            "invalid_request",
        ),
        ({"name": "long-reason", "reason": "r" * 513}, "reason_too_long"),
        ({"name": "reissue-no-host", "kind": "reissue"}, "host_required"),
        (
            {"name": "reissue-unknown", "kind": "reissue", "host": "nobody.example.test"},
            "host_not_found",
        ),
        ({"name": "reissue-bad-id", "kind": "reissue", "host_id": "not-a-uuid"}, "host_id_invalid"),
        (
            {"name": "reissue-two-uses", "kind": "reissue", "host": "localhost", "max_uses": 2},
            "max_uses_invalid",
        ),
    ],
)
def test_token_create_rejections(primary_server: PrimaryServer, body: dict, code: str) -> None:
    answer = primary_server.admin("POST", "/api/v1/tokens", json=body)
    assert answer.status_code in (400, 404), answer.text
    assert answer.json()["code"] == code


def test_duplicate_token_name(primary_server: PrimaryServer) -> None:
    primary_server.create_token("twice")
    answer = primary_server.admin("POST", "/api/v1/tokens", json={"name": "twice"})
    assert (answer.status_code, answer.json()["code"]) == (409, "token_name_taken")


# Reissue and registered names


def test_authorization_token_for_registered_name(
    primary_server: PrimaryServer, tmp_path: Path
) -> None:
    enrolled_host(primary_server, tmp_path, "registered.example.test")
    value = primary_server.create_token("wrong-kind")
    again = tmp_path / "again"
    again.mkdir()
    _key, csr = openssl_csr(again, "registered.example.test")
    status, body = enrol(primary_server, csr, value)
    assert (status, body["code"]) == (409, "reissue_token_required")
    assert primary_server.admin("GET", "/api/v1/tokens/wrong-kind").json()["uses"] == 0


def test_reissue_token_alias_rejected(primary_server: PrimaryServer, tmp_path: Path) -> None:
    _key, _cert, body = enrolled_host(primary_server, tmp_path, "aliased.example.test")
    primary_server.admin(
        "POST", f"/api/v1/hosts/{body['host_id']}/mappings", json={"name": "aliased-short"}
    )
    answer = primary_server.admin(
        "POST",
        "/api/v1/tokens",
        json={"name": "by-alias", "kind": "reissue", "host": "aliased-short"},
    )
    assert (answer.status_code, answer.json()["code"]) == (400, "name_not_primary")
    assert "aliased.example.test" in answer.json()["detail"]


def test_reissue_token_for_another_host(primary_server: PrimaryServer, tmp_path: Path) -> None:
    enrolled_host(primary_server, tmp_path, "owner-a.example.test")
    enrolled_host(primary_server, tmp_path, "owner-b.example.test")
    value = primary_server.admin(
        "POST",
        "/api/v1/tokens",
        json={"name": "for-a", "kind": "reissue", "host": "owner-a.example.test"},
    ).json()["value"]
    other = tmp_path / "b"
    other.mkdir()
    _key, csr = openssl_csr(other, "owner-b.example.test")
    status, body = enrol(primary_server, csr, value)
    assert (status, body["code"]) == (403, "token_host_mismatch")
    assert primary_server.admin("GET", "/api/v1/tokens/for-a").json()["uses"] == 0


def test_reissue_token_for_unmapped_name(primary_server: PrimaryServer, tmp_path: Path) -> None:
    enrolled_host(primary_server, tmp_path, "unmapped-owner.example.test")
    value = primary_server.admin(
        "POST",
        "/api/v1/tokens",
        json={"name": "for-unmapped", "kind": "reissue", "host": "unmapped-owner.example.test"},
    ).json()["value"]
    _key, csr = openssl_csr(tmp_path, "never-mapped.example.test")
    status, body = enrol(primary_server, csr, value)
    assert (status, body["code"]) == (403, "name_not_mapped")


# Renewal over mutual TLS


def renew(server: PrimaryServer, key: Path, certificate: Path) -> tuple[int, dict]:
    with server.client(cert=(certificate, key)) as client:
        answer = client.post("/api/v1/renew", json={})
    return answer.status_code, answer.json()


def test_renewal_supersedes_previous(primary_server: PrimaryServer, tmp_path: Path) -> None:
    key, certificate, body = enrolled_host(primary_server, tmp_path, "renewing.example.test")
    status, renewed = renew(primary_server, key, certificate)
    assert status == 200, renewed
    assert renewed["host_id"] == body["host_id"]
    old = primary_server.admin("GET", f"/api/v1/certificates/{body['serial_number']}").json()
    assert old["status"] == "superseded"


def test_renewal_with_revoked_certificate(primary_server: PrimaryServer, tmp_path: Path) -> None:
    key, certificate, body = enrolled_host(primary_server, tmp_path, "revoked-renewal.example.test")
    primary_server.admin(
        "POST", "/api/v1/certificates/revoke", json={"serial_number": body["serial_number"]}
    )
    status, answer = renew(primary_server, key, certificate)
    assert (status, answer["code"]) == (403, "certificate_revoked")
    assert "reissue token" in answer["detail"]


def test_renewal_with_expired_certificate(
    primary_server: PrimaryServer, context: ServiceContext, tmp_path: Path
) -> None:
    # Issue with a clock 400 days in the past, so the certificate expired 35 days ago.
    past = datetime.now(UTC) - timedelta(days=400)
    past_context = ServiceContext(
        database=context.database,
        ca=context.ca,
        token_hmac_key=context.token_hmac_key,
        public_base_url=context.public_base_url,
        clock=lambda: past,
    )
    created = create_token(past_context, Actor(name="test"), CreateTokenRequest(name="past-token"))
    key, csr = openssl_csr(tmp_path, "expired-renewal.example.test")
    issued = enroll(
        past_context,
        EnrolRequest(csr_pem=csr.read_text(), token_value=created.value, source_ip=None),
    )
    certificate = tmp_path / "expired.cert.pem"
    certificate.write_text(issued.certificate_pem)

    status, answer = renew(primary_server, key, certificate)
    assert (status, answer["code"]) == (403, "certificate_expired")
    assert "reissue token" in answer["detail"]
    with primary_server.client(cert=(certificate, key)) as client:
        assert client.get("/api/v1/self").json()["code"] == "certificate_expired"


def test_self_without_certificate(primary_server: PrimaryServer) -> None:
    with primary_server.client() as client:
        answer = client.get("/api/v1/self")
    assert (answer.status_code, answer.json()["code"]) == (401, "certificate_required")


def test_renew_without_certificate_skips_csr(primary_server: PrimaryServer) -> None:
    # The CSR is not checked: a client without a certificate learns only that it needs one.
    with primary_server.client() as client:
        answer = client.post("/api/v1/renew", json={"csr": "not a CSR"})

    assert answer.status_code == 401
    assert answer.json()["code"] == "certificate_required"


def test_untrusted_client_certificate_fails_handshake(
    primary_server: PrimaryServer, tmp_path: Path
) -> None:
    key = tmp_path / "self.key"
    certificate = tmp_path / "self.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
            "-subj",
            "/CN=intruder",
            "-days",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "--cacert",
            str(primary_server.ca_file),
            "--cert",
            str(certificate),
            "--key",
            str(key),
            f"{primary_server.url}/api/v1/self",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert '"code"' not in result.stdout


# CSRs and names


@pytest.mark.parametrize(
    ("vector", "code"),
    [
        ("bad-signature.csr.der", "csr_invalid"),
        ("ca-true.csr.pem", "csr_invalid"),
        ("no-name.csr.pem", "csr_invalid"),
        ("rsa-1024.csr.pem", "key_type_rejected"),
        ("dsa-2048.csr.pem", "key_type_rejected"),
        ("ec-secp256k1.csr.pem", "key_type_rejected"),
        ("ed448.csr.pem", "key_type_rejected"),
    ],
)
def test_csr_rejections(primary_server: PrimaryServer, vector: str, code: str) -> None:
    path = VECTORS / vector
    if not path.exists():
        pytest.fail(f"test vector {path} is missing; run tests/vectors/make_vectors.sh")
    value = primary_server.create_token(f"csr-{vector.replace('.', '-')}")
    data = path.read_bytes()
    if path.suffix == ".der":
        encoded = base64.encodebytes(data).decode("ascii")
        pem = f"-----BEGIN CERTIFICATE REQUEST-----\n{encoded}-----END CERTIFICATE REQUEST-----\n"
    else:
        pem = data.decode("ascii")
    status, body = enrol(primary_server, pem, value)
    assert (status, body["code"]) == (400, code)
    assert (
        primary_server.admin("GET", f"/api/v1/tokens/csr-{vector.replace('.', '-')}").json()["uses"]
        == 0
    )


@pytest.mark.parametrize(
    "name", ["*.example.test", "under_score.example.test", "-lead.example.test", "a" * 64 + ".test"]
)
def test_invalid_names_rejected(primary_server: PrimaryServer, tmp_path: Path, name: str) -> None:
    key = tmp_path / "k.pem"
    csr = tmp_path / "c.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-subj",
            "/CN=placeholder",
            "-addext",
            f"subjectAltName=DNS:{name}",
            "-out",
            str(csr),
        ],
        check=True,
        capture_output=True,
    )
    status, body = enrol(
        primary_server, csr, primary_server.create_token(f"name-{abs(hash(name))}")
    )
    assert (status, body["code"]) == (400, "name_invalid")
    assert name[:20] in body["detail"]


def test_invalid_name_for_host_add(primary_server: PrimaryServer) -> None:
    answer = primary_server.admin("POST", "/api/v1/hosts", json={"name": "bad..name"})
    assert (answer.status_code, answer.json()["code"]) == (400, "name_invalid")


# Administration


def test_admin_without_session(primary_server: PrimaryServer) -> None:
    with primary_server.client() as client:
        answer = client.get("/api/v1/tokens")
    assert (answer.status_code, answer.json()["code"]) == (401, "unauthorized")


def test_admin_with_unknown_session(primary_server: PrimaryServer) -> None:
    with primary_server.client() as client:
        answer = client.get("/api/v1/tokens", headers={"authorization": "Bearer not-a-session"})
    assert (answer.status_code, answer.json()["code"]) == (401, "session_invalid")


def test_admin_with_expired_session(primary_server: PrimaryServer, context: ServiceContext) -> None:
    with primary_server.client() as client:
        secret = client.post(
            "/api/v1/login", json={"user": "admin", "password": "correct-horse-battery-staple"}
        ).json()["session"]
    with context.database.transaction() as connection:
        connection.execute(
            update(sessions)
            .where(sessions.c.secret_hash == hashlib.sha256(secret.encode()).hexdigest())
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    with primary_server.client() as client:
        answer = client.get("/api/v1/tokens", headers={"authorization": f"Bearer {secret}"})
    assert (answer.status_code, answer.json()["code"]) == (401, "session_invalid")
    assert "expired" in answer.json()["detail"]


def test_wrong_password(primary_server: PrimaryServer) -> None:
    with primary_server.client() as client:
        answer = client.post(
            "/api/v1/login", json={"user": "admin", "password": "wrong-password-here"}
        )
    assert (answer.status_code, answer.json()["code"]) == (401, "login_failed")


def test_auditor_cannot_create_tokens(
    primary_server: PrimaryServer, context: ServiceContext
) -> None:
    with context.database.transaction() as connection:
        create_user(
            connection, context, Actor(name="test"), "auditor-1", "auditor", "auditor-password-1"
        )
    with primary_server.client() as client:
        secret = client.post(
            "/api/v1/login", json={"user": "auditor-1", "password": "auditor-password-1"}
        ).json()["session"]
        headers = {"authorization": f"Bearer {secret}"}
        assert client.get("/api/v1/tokens", headers=headers).status_code == 200
        answer = client.post("/api/v1/tokens", json={"name": "auditor-token"}, headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    events = primary_server.admin("GET", "/api/v1/audit", params={"category": "SEC_CONFIG"}).json()
    assert any(e["actor"] == "auditor-1" and e["error_code"] == "forbidden" for e in events)


def test_revoke_rejections(primary_server: PrimaryServer) -> None:
    cases = [
        ({"serial_number": "ZZ"}, 400, "serial_invalid"),
        ({"serial_number": "0123"}, 404, "certificate_not_found"),
        ({"host": "nobody.example.test"}, 404, "host_not_found"),
        ({"host": "localhost", "reason_code": "certificate-hold"}, 400, "reason_code_invalid"),
        ({}, 400, "invalid_request"),
    ]
    for body, status, code in cases:
        answer = primary_server.admin("POST", "/api/v1/certificates/revoke", json=body)
        assert (answer.status_code, answer.json()["code"]) == (status, code), body


def test_every_rejection_is_audited(primary_server: PrimaryServer, tmp_path: Path) -> None:
    before = len(primary_server.admin("GET", "/api/v1/audit").json())
    _key, csr = openssl_csr(tmp_path, "audited.example.test")
    enrol(primary_server, csr, "ZZZZZZZZZZZZZZZZ")
    events = primary_server.admin("GET", "/api/v1/audit").json()[before:]
    failure = next(e for e in events if e["outcome"] == "failure" and e["action"] == "enroll")
    assert failure["error_code"] == "token_invalid"
    assert failure["source_ip"] == "127.0.0.1"
    assert "ZZZZZZZZZZZZZZZZ" not in str(events)


# The primary server's own host


def test_reissue_token_for_primary_server(primary_server: PrimaryServer) -> None:
    primary = primary_server.admin("GET", "/api/v1/hosts/localhost").json()
    for body in ({"host": "localhost"}, {"host_id": primary["host_id"]}):
        answer = primary_server.admin(
            "POST", "/api/v1/tokens", json={"name": "primary-reissue", "kind": "reissue", **body}
        )
        assert (answer.status_code, answer.json()["code"]) == (403, "host_is_primary_server"), body


def test_auto_reissue_for_primary_server(primary_server: PrimaryServer) -> None:
    answer = primary_server.admin("POST", "/api/v1/hosts/localhost/auto-reissue", json={})
    assert (answer.status_code, answer.json()["code"]) == (403, "host_is_primary_server")


def test_revoke_primary_server_certificate(primary_server: PrimaryServer) -> None:
    primary = primary_server.admin("GET", "/api/v1/hosts/localhost").json()
    serial = primary["certificates"][0]["serial_number"]
    bodies = ({"host": "localhost"}, {"host_id": primary["host_id"]}, {"serial_number": serial})
    for body in bodies:
        answer = primary_server.admin("POST", "/api/v1/certificates/revoke", json=body)
        assert (answer.status_code, answer.json()["code"]) == (403, "host_is_primary_server"), body
    shown = primary_server.admin("GET", f"/api/v1/certificates/{serial}").json()
    assert shown["status"] == "valid"


def test_primary_server_name_not_for_enrolment(
    primary_server: PrimaryServer, tmp_path: Path
) -> None:
    _key, csr = openssl_csr(tmp_path, "localhost")
    status, body = enrol(primary_server, csr, None)
    assert (status, body["code"]) == (409, "name_conflict")


def test_reissue_token_with_host_and_host_id(primary_server: PrimaryServer, tmp_path: Path) -> None:
    _key, _cert, issued = enrolled_host(primary_server, tmp_path, "both-ways.example.test")
    answer = primary_server.admin(
        "POST",
        "/api/v1/tokens",
        json={
            "name": "both",
            "kind": "reissue",
            "host": "both-ways.example.test",
            "host_id": issued["host_id"],
        },
    )
    assert (answer.status_code, answer.json()["code"]) == (400, "invalid_request")


# Request limits


def test_body_too_large(primary_server: PrimaryServer) -> None:
    with primary_server.client() as client:
        declared = client.post(
            "/api/v1/enroll",
            content=b"x" * (300 * 1024),
            headers={"content-type": "application/json"},
        )

        def chunks() -> Iterator[bytes]:
            for _ in range(40):
                yield b"y" * 10_000

        streamed = client.post(
            "/api/v1/enroll", content=chunks(), headers={"content-type": "application/json"}
        )
    for answer in (declared, streamed):
        assert (answer.status_code, answer.json()["code"]) == (413, "request_too_large")


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "-1"}, {"offset": "-5"}])
def test_paging_bounds(primary_server: PrimaryServer, params: dict[str, str]) -> None:
    answer = primary_server.admin("GET", "/api/v1/audit", params=params)
    assert (answer.status_code, answer.json()["code"]) == (422, "invalid_request")
    assert "query string" in answer.json()["detail"]


def test_search_wildcards_are_literal(primary_server: PrimaryServer) -> None:
    page = primary_server.admin("GET", "/api/v1/hosts", params={"search": "_"}).json()
    assert all("_" in h["primary_name"] or "_" in h["host_id"] for h in page["hosts"])
    assert page["total"] == len(page["hosts"])


def test_renewal_with_superseded_certificate(primary_server: PrimaryServer, tmp_path: Path) -> None:
    key, certificate, _body = enrolled_host(primary_server, tmp_path, "superseded.example.test")
    assert renew(primary_server, key, certificate)[0] == 200
    status, answer = renew(primary_server, key, certificate)
    assert (status, answer["code"]) == (403, "certificate_superseded")


def test_ip_address_not_preregistered_as_host(primary_server: PrimaryServer) -> None:
    answer = primary_server.admin("POST", "/api/v1/hosts", json={"name": "10.0.0.99"})
    assert (answer.status_code, answer.json()["code"]) == (400, "name_invalid")


def test_mapping_conflict_with_primary_name_hint(
    primary_server: PrimaryServer, tmp_path: Path
) -> None:
    enrolled_host(primary_server, tmp_path, "hint-owner.example.test")
    _key, _cert, other = enrolled_host(primary_server, tmp_path, "hint-other.example.test")
    answer = primary_server.admin(
        "POST",
        f"/api/v1/hosts/{other['host_id']}/mappings",
        json={"name": "hint-owner.example.test", "shared": True},
    )
    assert (answer.status_code, answer.json()["code"]) == (409, "name_conflict")
    assert "primary name, which can be neither shared nor removed" in answer.json()["detail"]


def test_forwarded_for_header_ignored(primary_server: PrimaryServer) -> None:
    # A failed login is audited with its source address, so a forged X-Forwarded-For
    # from a loopback client would show there (and in the rate limits) if trusted.
    user = "forwarded-for-probe"
    with primary_server.client() as client:
        answer = client.post(
            "/api/v1/login",
            json={"user": user, "password": "not the password"},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
    rows = query_rows(
        primary_server.data_dir,
        f"SELECT source_ip FROM audit_events WHERE actor = '{user}'",  # noqa: S608 - a constant
    )

    assert answer.status_code == 401
    assert rows == [("127.0.0.1",)]


def test_migrate_refused_while_server_runs(primary_server: PrimaryServer) -> None:
    completed = subprocess.run(
        [HOSTCA, "server", "migrate", "--data-dir", str(primary_server.data_dir)],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )

    assert completed.returncode != 0
    assert f"(PID {primary_server.process.pid})" in completed.stderr
    assert "stop it before you migrate its database" in completed.stderr
