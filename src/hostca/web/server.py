"""Run the primary server: one HTTPS listener with optional client certificates.

With ``workers`` above one, uvicorn's supervisor shares the listening socket with
that many worker processes. Each worker opens its own service context, so that
nothing but the database is shared: a revocation through one worker is refused by
every other on its next request, because each request reads the certificate's row.
One process among all workers and replicas is elected leader and runs the
periodic jobs (``hostca.service.leader_jobs``).
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import ssl
import sys
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
import uvicorn
from uvicorn.supervisors import Multiprocess

from hostca.core.errors import InvalidRequestError, UnavailableError
from hostca.core.fingerprints import fingerprint
from hostca.datadir import DataDir
from hostca.service.context import ServiceContext
from hostca.service.crl_service import publish_crl
from hostca.service.domain_settings import load_domain_settings
from hostca.service.leader_jobs import run_periodic_jobs
from hostca.service.server_setup import open_context
from hostca.store.database import PoolLimits
from hostca.store.leader_lock import LeaderLock, leader_lock_for
from hostca.web.app import create_app
from hostca.web.tls_protocol import PeerCertificateProtocol

if TYPE_CHECKING:
    from hostca.ca.pkcs11_key import Pkcs11Login

__all__ = [
    "TLS12_CIPHERS",
    "ServerSpec",
    "build_config",
    "check_address_free",
    "configure_logging",
    "open_server_context",
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


@dataclass(frozen=True)
class ServerSpec:
    """What a server process needs to open its service context; workers get a pickled copy."""

    data_dir: Path
    listen: str
    database_url: str | None = None
    ca_passphrase: bytes | None = field(default=None, repr=False)
    hosts_file: Path | None = None
    public_base_url: str | None = None
    pool: PoolLimits = field(default_factory=PoolLimits)
    # Seconds between CRL refreshes; None follows the domain setting crl_refresh_minutes.
    crl_interval_seconds: float | None = None
    log_level: str = "info"
    workers: int = 1
    # Reaches the token when the CA key lives in an HSM; each worker logs in itself.
    pkcs11_login: Pkcs11Login | None = field(default=None, repr=False)


def open_server_context(spec: ServerSpec) -> ServiceContext:
    return open_context(
        DataDir(spec.data_dir),
        ca_passphrase=spec.ca_passphrase,
        database_url=spec.database_url,
        hosts_file=spec.hosts_file,
        public_port=parse_listen(spec.listen)[1],
        public_base_url=spec.public_base_url,
        pool=spec.pool,
        pkcs11_login=spec.pkcs11_login,
    )


class LeaderJobs:
    """Take part in the leader election, and as leader publish CRLs and run the periodic jobs.

    Every process checks the election four times per CRL interval. A new leader
    publishes a CRL at once, and then whenever the newest CRL would be older than
    the interval at the next check. So a CRL is never older than one interval
    while a leader runs. When the leader dies, a follower takes over within a
    quarter of an interval after the database releases the leader's lock, and
    publishes at once. Every process, leader or not, publishes a new CRL after a
    revocation it made, before the revocation request returns.
    """

    CHECKS_PER_INTERVAL = 4

    def __init__(
        self, context: ServiceContext, lock: LeaderLock, interval_seconds: float | None = None
    ) -> None:
        self.context = context
        self.lock = lock
        self.fixed_interval = interval_seconds
        self.stop_event = threading.Event()
        self.publish_lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def publish(self, trigger: str) -> None:
        with self.publish_lock:
            try:
                crl = publish_crl(self.context)
            except Exception:
                log.exception("crl_publish_failed", trigger=trigger)
                return
        log.info("crl_published", crl_number=crl.crl_number, entries=crl.entries, trigger=trigger)

    def _interval_seconds(self) -> float:
        if self.fixed_interval is not None:
            return self.fixed_interval
        with self.context.database.engine.connect() as connection:
            return load_domain_settings(connection).crl_refresh_minutes * 60.0

    def check(self) -> float:
        """Run one round of the election and, as leader, the jobs; return the seconds to the next."""
        try:
            interval = self._interval_seconds()
            pause = interval / self.CHECKS_PER_INTERVAL
            was_leader = self.context.leadership.is_leader
            is_leader = self.context.leadership.is_leader = self.lock.try_acquire()
            if is_leader != was_leader:
                log.info("leadership_changed", leader=is_leader)
            if is_leader and not was_leader:
                self.publish("leader")
            elif is_leader:
                with self.publish_lock:
                    crl = run_periodic_jobs(self.context, timedelta(seconds=interval - pause))
                if crl is not None:
                    log.info(
                        "crl_published",
                        crl_number=crl.crl_number,
                        entries=crl.entries,
                        trigger="schedule",
                    )
            return pause
        except Exception:
            log.exception("leader_jobs_failed")
            return 5.0

    def _run(self, pause: float) -> None:
        while not self.stop_event.wait(pause):
            pause = self.check()

    def start(self) -> None:
        """Run the first round here, so that a leader has published before it serves."""
        self.context.on_revocation.append(lambda: self.publish("revocation"))
        pause = self.check()
        self.thread = threading.Thread(
            target=self._run, args=(pause,), name="leader-jobs", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.lock.release()
        self.context.leadership.is_leader = False


def start_leader_jobs(context: ServiceContext, spec: ServerSpec) -> LeaderJobs:
    lock = leader_lock_for(context.database, DataDir(spec.data_dir).leader_lock_file)
    jobs = LeaderJobs(context, lock, spec.crl_interval_seconds)
    jobs.start()
    return jobs


def _tls_context(config: uvicorn.Config, default_factory: Any) -> ssl.SSLContext:
    tls: ssl.SSLContext = default_factory()
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    # A TLS 1.2 client must not swap certificates in the middle of a connection.
    tls.options |= ssl.OP_NO_RENEGOTIATION
    tls.verify_flags |= VERIFY_NO_CHECK_TIME
    return tls


class HostcaConfig(uvicorn.Config):
    """A uvicorn configuration whose app is built in the process that serves it.

    A worker process gets this object pickled, without a context, and opens its
    own service context and leader jobs when uvicorn loads the app.
    """

    def __init__(self, spec: ServerSpec, context: ServiceContext | None, **options: Any) -> None:
        self.spec = spec
        self.context = context
        super().__init__("hostca.web.app:create_app", factory=True, **options)

    def load_app(self) -> Any:
        context = self.context
        if context is None:
            configure_logging(self.spec.log_level)
            context = open_server_context(self.spec)
            start_leader_jobs(context, self.spec)
        return lambda: create_app(context)


def build_config(
    spec: ServerSpec, context: ServiceContext | None, data_dir: DataDir
) -> HostcaConfig:
    host, port = parse_listen(spec.listen)
    return HostcaConfig(
        spec,
        context,
        host=host,
        port=port,
        workers=spec.workers,
        http=PeerCertificateProtocol,
        loop="uvloop",
        ssl_certfile=str(data_dir.tls_certificate),
        ssl_keyfile=str(data_dir.tls_key),
        ssl_ca_certs=str(Path(data_dir.ca_dir) / "ca.cert.pem"),
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
        ssl_context_factory=_tls_context,
        ssl_ciphers=TLS12_CIPHERS,
        log_config=None,
        access_log=False,
        # Hosts reach hostca directly or through a TLS passthrough, never through a
        # proxy that ends TLS, so X-Forwarded-For is never trusted, not even from
        # 127.0.0.1, which uvicorn trusts by default.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )


def serve(context: ServiceContext, spec: ServerSpec) -> None:
    """Serve until interrupted; log the start and the stop.

    ``context`` is this process's, already checked. With one worker it serves the
    requests; with more, the workers open their own and this process supervises.
    """
    data_dir = DataDir(spec.data_dir)
    log.info(
        "server_started",
        listen=spec.listen,
        workers=spec.workers,
        data_dir=str(data_dir.root),
        database=context.database.url_for_display,
        ca_sha256=fingerprint(context.ca.certificate, "sha256"),
    )
    # uvicorn handles SIGTERM with a graceful shutdown and then raises the signal again
    # for the handler that was installed before it. The default handler would end the
    # process before the cleanup below, so the handler here only notes the stop.
    previous = signal.signal(signal.SIGTERM, lambda _signal, _frame: None)
    jobs = None
    try:
        if spec.workers == 1:
            jobs = start_leader_jobs(context, spec)
            uvicorn.Server(build_config(spec, context, data_dir)).run()
        else:
            context.database.dispose()
            config = build_config(spec, None, data_dir)
            Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if jobs is not None:
            jobs.stop()
        context.database.dispose()
        log.info("server_stopped", listen=spec.listen)
