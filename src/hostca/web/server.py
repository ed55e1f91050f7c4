"""Run the primary server: one HTTPS listener with optional client certificates."""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import ssl
import sys
import threading
from pathlib import Path

import structlog
import uvicorn

from hostca.core.errors import InvalidRequestError, UnavailableError
from hostca.core.fingerprints import fingerprint
from hostca.datadir import DataDir
from hostca.service.context import ServiceContext
from hostca.service.crl_service import publish_crl
from hostca.service.domain_settings import load_domain_settings
from hostca.web.app import create_app
from hostca.web.tls_protocol import PeerCertificateProtocol

__all__ = [
    "TLS12_CIPHERS",
    "build_config",
    "check_address_free",
    "configure_logging",
    "parse_listen",
    "serve",
]

# OpenSSL's X509_V_FLAG_NO_CHECK_TIME. The handshake then still checks the signature
# chain, while the application checks validity times against the database and can
# return "certificate_expired" instead of a bare handshake failure.
VERIFY_NO_CHECK_TIME = 0x200000
# TLS 1.2 cipher suites: ECDHE key exchange with an AEAD cipher only, so no CBC mode
# and no finite-field DHE. TLS 1.3 keeps OpenSSL's default suites, which are all AEAD.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"

log = structlog.get_logger("hostca.server")


def configure_logging(level: str = "info") -> None:
    """Log structured events as JSON lines on stderr."""
    numeric = logging.getLevelName(level.upper())
    logging.basicConfig(stream=sys.stderr, level=numeric, format="%(message)s")
    # Alembic narrates every migration step at INFO; hostca reports the schema itself.
    logging.getLogger("alembic").setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def parse_listen(text: str) -> tuple[str, int]:
    """Split ``ADDR:PORT`` (``[::1]:1556`` for IPv6) into address and port."""
    address, separator, port_text = text.rpartition(":")
    if not separator or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidRequestError(
            f"{text}: not an address and port; use ADDR:PORT such as 0.0.0.0:1556 or [::1]:1556.",
            code="listen_invalid",
        )
    address = address.strip("[]") or "0.0.0.0"  # noqa: S104 - listening on all addresses is the documented default
    if address != "localhost":
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise InvalidRequestError(
                f"{text}: {address} is not an IP address; give the address to listen on, such as 0.0.0.0.",
                code="listen_invalid",
            ) from None
    return address, int(port_text)


def check_address_free(listen: str) -> None:
    """Raise if nothing can listen on ``listen``, before anything is initialized or announced."""
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise UnavailableError(
                f"{listen}: cannot listen there ({error.strerror}); stop the process that uses the port "
                "or choose another address with --listen.",
                code="listen_failed",
            ) from None


class CrlRefresher:
    """Regenerate the CRL after every revocation and at least every ``crl_refresh_minutes``."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="crl-refresher", daemon=True)

    def publish(self, trigger: str) -> None:
        with self.lock:
            try:
                crl = publish_crl(self.context)
            except Exception:
                log.exception("crl_publish_failed", trigger=trigger)
                return
        log.info("crl_published", crl_number=crl.crl_number, entries=crl.entries, trigger=trigger)

    def _interval_seconds(self) -> float:
        with self.context.database.engine.connect() as connection:
            return load_domain_settings(connection).crl_refresh_minutes * 60.0

    def _run(self) -> None:
        while not self.stop_event.wait(self._interval_seconds()):
            self.publish("schedule")

    def start(self) -> None:
        self.publish("start-up")
        self.context.on_revocation.append(lambda: self.publish("revocation"))
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()


def build_config(context: ServiceContext, data_dir: DataDir, listen: str) -> uvicorn.Config:
    host, port = parse_listen(listen)
    config = uvicorn.Config(
        create_app(context),
        host=host,
        port=port,
        http=PeerCertificateProtocol,
        loop="uvloop",
        ssl_certfile=str(data_dir.tls_certificate),
        ssl_keyfile=str(data_dir.tls_key),
        ssl_ca_certs=str(Path(data_dir.ca_dir) / "ca.cert.pem"),
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
        ssl_ciphers=TLS12_CIPHERS,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    config.load()
    tls = config.ssl
    assert tls is not None
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    # A TLS 1.2 client must not swap certificates in the middle of a connection.
    tls.options |= ssl.OP_NO_RENEGOTIATION
    tls.verify_flags |= VERIFY_NO_CHECK_TIME
    return config


def serve(context: ServiceContext, data_dir: DataDir, listen: str) -> None:
    """Serve until interrupted; log the start and the stop."""
    config = build_config(context, data_dir, listen)
    refresher = CrlRefresher(context)
    refresher.start()
    log.info(
        "server_started",
        listen=listen,
        data_dir=str(data_dir.root),
        database=context.database.url_for_display,
        ca_sha256=fingerprint(context.ca.certificate, "sha256"),
    )
    # uvicorn handles SIGTERM with a graceful shutdown and then raises the signal again
    # for the handler that was installed before it. The default handler would end the
    # process before the cleanup below, so the handler here only notes the stop.
    previous = signal.signal(signal.SIGTERM, lambda _signal, _frame: None)
    try:
        uvicorn.Server(config).run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        refresher.stop()
        context.database.dispose()
        log.info("server_stopped", listen=listen)
