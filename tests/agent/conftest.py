"""A throwaway HTTPS primary on 127.0.0.1 and a test CA, for the agent tests.

``FakePrimary`` implements just enough of the REST API (``/api/v1/ca``,
``/api/v1/crl``, ``/api/v1/enroll``, ``/api/v1/renew``, ``/api/v1/self``,
``/api/v1/time``) with a test CA made here, so the agent's network code runs
against real TLS, including client certificates, without the real server. Tests
steer it through its attributes: ``enroll_problem``, ``renew_problem`` and
``self_problem`` make those requests fail with a problem document, ``revoked``
lists serial numbers that ``/api/v1/self`` rejects and the CRL lists, and ``clock_offset_seconds`` shifts the time that
``/api/v1/time`` returns. ``client_times`` records the ``X-Hostca-Client-Time``
header of every request (None where it was missing).
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class TestCa:
    """A self-signed CA with helpers to issue leaf certificates and CRLs."""

    __test__ = False

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, common_name: str = "Test CA") -> TestCa:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(key=key, certificate=certificate)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        public_key: Any,
        names: list[str],
        *,
        host_id: str | None = None,
        lifetime: timedelta = timedelta(days=365),
        not_before: datetime | None = None,
    ) -> x509.Certificate:
        start = not_before or datetime.now(UTC) - timedelta(minutes=5)
        entries: list[x509.GeneralName] = []
        for name in names:
            try:
                entries.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                entries.append(x509.DNSName(name))
        if host_id is not None:
            entries.append(x509.UniformResourceIdentifier(f"urn:uuid:{host_id}"))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host_id or names[0])])
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + lifetime)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(entries), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )

    def crl(self, revoked_serials: list[int], crl_number: int) -> x509.CertificateRevocationList:
        now = datetime.now(UTC)
        entries = [
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
            for serial in revoked_serials
        ]
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now)
            .next_update(now + timedelta(days=7))
            .add_extension(x509.CRLNumber(crl_number), critical=False)
        )
        for entry in entries:
            builder = builder.add_revoked_certificate(entry)
        return builder.sign(self.key, hashes.SHA256())


@dataclass
class FakePrimary:
    """State and knobs of the fake primary; see the module docstring."""

    ca: TestCa
    url: str = ""
    enroll_problem: dict[str, Any] | None = None
    renew_problem: dict[str, Any] | None = None
    self_problem: dict[str, Any] | None = None
    revoked: set[int] = field(default_factory=set)
    crl_number: int = 1
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    host_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    clock_offset_seconds: float = 0.0
    client_times: list[str | None] = field(default_factory=list)
    lifetime: timedelta = timedelta(days=365)

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_seconds)

    def enroll(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.enroll_problem is not None:
            return self.enroll_problem["status"], self.enroll_problem
        csr = x509.load_pem_x509_csr(body["csr"].encode())
        return 200, self._issue(csr.public_key(), _csr_names(csr))

    def renew(self, peer: x509.Certificate, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.renew_problem is not None:
            return self.renew_problem["status"], self.renew_problem
        public_key = peer.public_key()
        if "csr" in body:
            public_key = x509.load_pem_x509_csr(body["csr"].encode()).public_key()
        san = peer.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [*san.get_values_for_type(x509.DNSName)]
        names += [str(a) for a in san.get_values_for_type(x509.IPAddress)]
        return 200, self._issue(public_key, names)

    def self_record(self, peer: x509.Certificate) -> tuple[int, dict[str, Any]]:
        if self.self_problem is not None:
            return self.self_problem["status"], self.self_problem
        if peer.serial_number in self.revoked:
            return 403, {
                "title": "Certificate revoked",
                "status": 403,
                "detail": f"certificate {peer.serial_number:X} is revoked.",
                "code": "certificate_revoked",
            }
        return 200, {
            "host_id": self.host_id,
            "primary_name": "web-01.example.test",
            "names": ["web-01.example.test"],
            "certificate": {
                "serial_number": f"{peer.serial_number:X}",
                "status": "valid",
                "not_after": peer.not_valid_after_utc.isoformat(),
            },
            "security_level": "high",
            "crl_refresh_interval_seconds": 4 * 3600,
        }

    def _issue(self, public_key: Any, names: list[str]) -> dict[str, Any]:
        certificate = self.ca.issue(public_key, names, host_id=self.host_id, lifetime=self.lifetime)
        return {
            "host_id": self.host_id,
            "serial_number": f"{certificate.serial_number:X}",
            "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
            "ca_certificates": [self.ca.pem.decode()],
            "not_after": certificate.not_valid_after_utc.isoformat(),
            "names": names,
        }


def _csr_names(csr: x509.CertificateSigningRequest) -> list[str]:
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names: list[str] = []
    for entry in san:
        names.append(str(entry.value))
    return names


class _TlsServer(ThreadingHTTPServer):
    """A threading HTTP server that does the TLS handshake in the request thread."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        # typeshed declares the server argument as Self, which a subclass cannot match.
        self.RequestHandlerClass(connection, client_address, self)  # type: ignore[arg-type]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Keep test output quiet: clients that hang up are expected here."""


def make_handler(primary: FakePrimary) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the per-request log."""

        def do_GET(self) -> None:
            path, _, _query = self.path.partition("?")
            primary.requests.append(("GET", path, None))
            primary.client_times.append(self.headers.get("X-Hostca-Client-Time"))
            if path == "/api/v1/time":
                self._send_json(200, {"time": primary.now().isoformat().replace("+00:00", "Z")})
            elif path == "/api/v1/ca":
                body = {"certificates": [{"pem": primary.ca.pem.decode(), "sha256": "forged"}]}
                self._send_json(200, body)
            elif path == "/api/v1/crl":
                crl = primary.ca.crl(sorted(primary.revoked), primary.crl_number)
                self._send(
                    200, crl.public_bytes(serialization.Encoding.DER), "application/pkix-crl"
                )
            elif path == "/api/v1/self":
                peer = self._peer()
                if peer is None:
                    self._send_problem(401, "certificate_required")
                    return
                self._send_json(*primary.self_record(peer))
            else:
                self._send_problem(404, "not_found")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            primary.requests.append(("POST", self.path, body))
            primary.client_times.append(self.headers.get("X-Hostca-Client-Time"))
            if self.path == "/api/v1/enroll":
                self._send_json(*primary.enroll(body))
            elif self.path == "/api/v1/renew":
                peer = self._peer()
                if peer is None:
                    self._send_problem(401, "certificate_required")
                    return
                self._send_json(*primary.renew(peer, body))
            else:
                self._send_problem(404, "not_found")

        def _peer(self) -> x509.Certificate | None:
            der = self.connection.getpeercert(binary_form=True)
            return x509.load_der_x509_certificate(der) if der else None

        def _send_problem(self, status: int, code: str) -> None:
            problem = {"title": code, "status": status, "detail": f"{code}.", "code": code}
            self._send_json(status, problem)

        def _send_json(self, status: int, body: dict[str, Any]) -> None:
            kind = "application/problem+json" if status >= 400 else "application/json"
            self._send(status, json.dumps(body).encode(), kind)

        def _send(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@dataclass
class RunningServer:
    url: str
    ca: TestCa
    server: _TlsServer


def _server_context(
    ca: TestCa, tmp_path: Path, client_ca: TestCa | None, required: bool
) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = ca.issue(key.public_key(), ["localhost", "127.0.0.1"])
    directory = tmp_path / f"server-{uuid.uuid4().hex[:8]}"
    directory.mkdir()
    (directory / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (directory / "client-ca.pem").write_bytes((client_ca or ca).pem)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    context.load_verify_locations(directory / "client-ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
    return context


def start_server(
    ca: TestCa,
    tmp_path: Path,
    handler: type[BaseHTTPRequestHandler],
    *,
    client_ca: TestCa | None = None,
    require_client_certificate: bool = False,
) -> Iterator[RunningServer]:
    context = _server_context(ca, tmp_path, client_ca, require_client_certificate)
    server = _TlsServer(context, handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield RunningServer(
            url=f"https://127.0.0.1:{server.server_address[1]}", ca=ca, server=server
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def test_ca() -> TestCa:
    return TestCa.create()


@pytest.fixture
def fake_primary(test_ca: TestCa, tmp_path: Path) -> Iterator[FakePrimary]:
    primary = FakePrimary(ca=test_ca)
    for running in start_server(test_ca, tmp_path, make_handler(primary)):
        primary.url = running.url
        yield primary


@pytest.fixture
def second_primary(tmp_path: Path) -> Iterator[FakePrimary]:
    """Another fake primary with its own CA, for agents that trust several primaries."""
    primary = FakePrimary(ca=TestCa.create("Second CA"))
    for running in start_server(primary.ca, tmp_path, make_handler(primary)):
        primary.url = running.url
        yield primary


@pytest.fixture
def strict_server(test_ca: TestCa, tmp_path: Path) -> Iterator[RunningServer]:
    """A server that demands a client certificate from another CA than ``test_ca``."""
    primary = FakePrimary(ca=test_ca)
    other_ca = TestCa.create("Other CA")
    yield from start_server(
        test_ca,
        tmp_path,
        make_handler(primary),
        client_ca=other_ca,
        require_client_certificate=True,
    )


@pytest.fixture
def problem_server(test_ca: TestCa, tmp_path: Path) -> Iterator[RunningServer]:
    """A server that returns a 429 problem document, a 502 HTML page under /plain and text under /text."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the per-request log."""

        def do_GET(self) -> None:
            if self.path.startswith("/plain"):
                data = b"<html>Bad Gateway</html>"
                self.send_response(502)
                self.send_header("Content-Type", "text/html")
            elif self.path.startswith("/text"):
                data = b"hello"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
            else:
                data = json.dumps(
                    {
                        "type": "about:blank",
                        "title": "Too Many Requests",
                        "status": 429,
                        "detail": "too many failed token redemptions from 127.0.0.1.",
                        "code": "rate_limited",
                    }
                ).encode()
                self.send_response(429)
                self.send_header("Content-Type", "application/problem+json")
                self.send_header("Retry-After", "60")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    yield from start_server(test_ca, tmp_path, Handler)


@pytest.fixture
def make_ca() -> type[TestCa]:
    """The TestCa class, for tests that need a second, unrelated CA."""
    return TestCa
