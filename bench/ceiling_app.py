"""Bare ceilings: minimal ASGI apps under uvicorn with hostca's TLS setup.

The server runs with the same TLS settings as ``hostca server run`` (optional client
certificates checked against the CA, TLS 1.2 or later, no renegotiation, no time
check in the handshake), the same uvicorn protocol class, httptools and uvloop. The
app does only the least work that each hostca route needs:

- ``GET /self`` reads the peer certificate from the TLS scope and returns its size.
- ``POST /sign`` signs a certificate with the CA key and returns it as PEM. With a
  ``csr`` in the JSON body it loads the CSR and checks its signature first, as an
  enrolment must. Without one it reuses the public key of the peer certificate, as
  a renewal that keeps the key does.

No database, no audit record, no name or policy check: it is an upper bound.

Run: ``python bench/ceiling_app.py --data-dir D --listen 127.0.0.1:PORT``, where D is
an initialized hostca data directory whose CA, TLS certificate and key it uses.
"""

from __future__ import annotations

import argparse
import datetime
import json
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hostca.web.server import VERIFY_NO_CHECK_TIME
from hostca.web.tls_protocol import PeerCertificateProtocol

__all__ = ["CeilingApp", "build_config"]

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

LIFETIME = datetime.timedelta(days=30)


class CeilingApp:
    """An ASGI app with ``GET /self`` and ``POST /sign`` and nothing else."""

    def __init__(self, ca_certificate: x509.Certificate, ca_key: Any) -> None:
        self.ca_certificate = ca_certificate
        self.ca_key = ca_key

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        peer_der = scope.get("extensions", {}).get("tls", {}).get("client_cert_der")
        if scope["method"] == "GET" and scope["path"] == "/self":
            if not peer_der:
                await _respond(send, 401, {"error": "client certificate required"})
                return
            await _respond(send, 200, {"peer_certificate_bytes": len(peer_der)})
            return
        if scope["method"] == "POST" and scope["path"] == "/sign":
            body = await _read_body(receive)
            await _respond(send, 200, {"certificate": self.sign(body, peer_der)})
            return
        await _respond(send, 404, {"error": "not found"})

    def sign(self, body: bytes, peer_der: bytes | None) -> str:
        request = json.loads(body or b"{}")
        if request.get("csr"):
            csr = x509.load_pem_x509_csr(request["csr"].encode("ascii"))
            if not csr.is_signature_valid:
                raise ValueError("CSR signature is invalid")
            public_key = csr.public_key()
            subject = csr.subject
        else:
            if peer_der is None:
                raise ValueError("a renewal needs a client certificate")
            peer = x509.load_der_x509_certificate(peer_der)
            public_key = peer.public_key()
            subject = peer.subject

        now = datetime.datetime.now(datetime.UTC)
        names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        san = x509.SubjectAlternativeName([x509.DNSName(str(names[0].value))] if names else [])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.ca_certificate.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + LIFETIME)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(san, critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_config(data_dir: Path, host: str, port: int) -> uvicorn.Config:
    """Return a uvicorn configuration with the TLS setup of ``hostca.web.server``."""
    ca_file = data_dir / "ca" / "ca.cert.pem"
    ca_certificate = x509.load_pem_x509_certificate(ca_file.read_bytes())
    ca_key = serialization.load_pem_private_key(
        (data_dir / "ca" / "ca.key.pem").read_bytes(), password=None
    )
    config = uvicorn.Config(
        CeilingApp(ca_certificate, ca_key),
        host=host,
        port=port,
        http=PeerCertificateProtocol,
        loop="uvloop",
        ssl_certfile=str(data_dir / "tls" / "server.cert.pem"),
        ssl_keyfile=str(data_dir / "tls" / "server.key.pem"),
        ssl_ca_certs=str(ca_file),
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    config.load()
    tls = config.ssl
    assert tls is not None
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    tls.options |= ssl.OP_NO_RENEGOTIATION
    tls.verify_flags |= VERIFY_NO_CHECK_TIME
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the bare ceiling app on loopback.")
    parser.add_argument(
        "--data-dir", type=Path, required=True, help="initialized hostca data directory"
    )
    parser.add_argument("--listen", default="127.0.0.1:0", help="loopback ADDR:PORT")
    arguments = parser.parse_args()
    host, _, port = arguments.listen.rpartition(":")
    if host not in ("127.0.0.1", "::1", "[::1]", "localhost"):
        parser.error(f"{host}: the ceiling app listens on loopback only; use 127.0.0.1")
    uvicorn.Server(build_config(arguments.data_dir, host.strip("[]"), int(port))).run()


if __name__ == "__main__":
    main()
