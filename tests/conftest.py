"""Shared fixtures: a real primary server process on a free loopback port.

With ``HOSTCA_TEST_DATABASE_URL`` set to a PostgreSQL server's maintenance database
(``postgresql://USER@HOST:PORT/postgres``, as scripts/postgres-for-tests.sh sets
it), every server that ``init_server`` creates gets a fresh PostgreSQL database of
its own, copied from a migrated template, instead of SQLite in its data directory.
Tests that only make sense on one backend are marked ``sqlite_only`` or
``postgresql_only``; tests that touch no database at all run on SQLite only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

HOSTCA = str(Path(sys.executable).with_name("hostca"))
ADMIN_PASSWORD = "correct-horse-battery-staple"
TEST_DATABASE_URL = os.environ.get("HOSTCA_TEST_DATABASE_URL") or None
TEMPLATE_DATABASE = "hostca_test_template"
# Test directories whose tests use no hostca database (the agent tests talk to a stand-in
# primary, and the benchmarks start their own SQLite servers), so a PostgreSQL run
# leaves them out.
DATABASE_FREE = ("agent", "bench", "ca", "core")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run each test on the backends it concerns: ``HOSTCA_TEST_DATABASE_URL`` picks the run."""
    keep, drop = [], []
    tests_root = Path(__file__).parent
    for item in items:
        relative = item.path.relative_to(tests_root)
        if TEST_DATABASE_URL is None:
            unwanted = item.get_closest_marker("postgresql_only") is not None
        else:
            unwanted = (
                item.get_closest_marker("sqlite_only") is not None
                or relative.parts[0] in DATABASE_FREE
            )
        (drop if unwanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _admin_engine() -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from hostca.store.database import normalize_database_url

    assert TEST_DATABASE_URL is not None
    return create_engine(
        normalize_database_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )


def _ensure_template(connection: Any) -> None:
    """Create the migrated template database once, whichever test process comes first."""
    from sqlalchemy import text

    from hostca.store.database import Database, advisory_lock_key, normalize_database_url

    key = {"key": advisory_lock_key(TEMPLATE_DATABASE)}
    connection.execute(text("SELECT pg_advisory_lock(:key)"), key)
    try:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": TEMPLATE_DATABASE}
        ).first()
        if exists is None:
            connection.execute(text(f"CREATE DATABASE {TEMPLATE_DATABASE}"))
            assert TEST_DATABASE_URL is not None
            url = normalize_database_url(TEST_DATABASE_URL).set(database=TEMPLATE_DATABASE)
            template = Database(url.render_as_string(hide_password=False))
            try:
                template.upgrade()
            finally:
                template.dispose()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)


def fresh_database_url() -> str | None:
    """Create an empty, migrated PostgreSQL database and return its URL; None on SQLite runs."""
    if TEST_DATABASE_URL is None:
        return None
    from sqlalchemy import text

    from hostca.store.database import normalize_database_url

    name = f"hostca_test_{uuid.uuid4().hex[:16]}"
    engine = _admin_engine()
    try:
        with engine.connect() as connection:
            _ensure_template(connection)
            connection.execute(text(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DATABASE}"))
    finally:
        engine.dispose()
    # The form a user would write, which hostca maps to its psycopg driver.
    url = normalize_database_url(TEST_DATABASE_URL).set(drivername="postgresql", database=name)
    return url.render_as_string(hide_password=False)


def execute_sql(data_dir: Path, statements: Sequence[str]) -> None:
    """Run SQL statements in one transaction on the database of a data directory."""
    from sqlalchemy import text

    from hostca.datadir import DataDir
    from hostca.service.server_setup import database_for

    database = database_for(DataDir(data_dir), None)
    try:
        with database.transaction() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        database.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrimaryServer:
    """A running ``hostca server run`` process and what a test needs to talk to it."""

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _session: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "ca" / "ca.cert.pem"

    def client(self, cert: tuple[Path, Path] | None = None) -> httpx.Client:
        """An HTTPS client that trusts the CA, optionally presenting a client certificate."""
        import ssl

        context = ssl.create_default_context(cafile=str(self.ca_file))
        if cert is not None:
            context.load_cert_chain(str(cert[0]), str(cert[1]))
        return httpx.Client(base_url=self.url, verify=context, timeout=30)

    def admin_session(self) -> str:
        if self._session is None:
            with self.client() as client:
                answer = client.post(
                    "/api/v1/login", json={"user": "admin", "password": ADMIN_PASSWORD}
                )
                answer.raise_for_status()
                self._session = answer.json()["session"]
        return self._session

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.admin_session()}"}
        with self.client() as client:
            return client.request(method, path, headers=headers, **kwargs)

    def create_token(self, name: str, **body: Any) -> str:
        answer = self.admin("POST", "/api/v1/tokens", json={"name": name, **body})
        assert answer.status_code == 201, answer.text
        value: str = answer.json()["value"]
        return value

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def query_rows(data_dir: Path, query: str) -> list[tuple[Any, ...]]:
    """Return the rows of a query on the database of a data directory."""
    from sqlalchemy import text

    from hostca.datadir import DataDir
    from hostca.service.server_setup import database_for

    database = database_for(DataDir(data_dir), None)
    try:
        with database.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query))]
    finally:
        database.dispose()


def init_server(
    data_dir: Path,
    tmp: Path,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> None:
    """Run ``hostca server init`` for localhost, on a fresh PostgreSQL database in PostgreSQL runs.

    ``extra_args`` go to init as further options.
    """
    password_file = tmp / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n")
    database_url = fresh_database_url()
    subprocess.run(
        [
            HOSTCA,
            "server",
            "init",
            "--data-dir",
            str(data_dir),
            "--name",
            "localhost",
            "--alt-name",
            "127.0.0.1",
            "--alt-name",
            "::1",
            "--admin-password-file",
            str(password_file),
            *(["--database-url", database_url] if database_url else []),
            *extra_args,
        ],
        check=True,
        capture_output=True,
        env={**os.environ, **(env or {})},
    )
    raise_rate_limit(data_dir)


def raise_rate_limit(data_dir: Path) -> None:
    """Let a test server take many failed token redemptions and logins from one address.

    Every test sends from 127.0.0.1, so the default limit (10 failures in 5 minutes)
    would turn later rejections into 429. The rate limit tests set their own limit.
    """
    from datetime import UTC, datetime

    from hostca.datadir import DataDir
    from hostca.service.server_setup import database_for
    from hostca.store import setting_records

    database = database_for(DataDir(data_dir), None)
    try:
        with database.transaction() as connection:
            setting_records.write_setting(
                connection, "rate_limit_failures", 10_000, datetime.now(UTC)
            )
    finally:
        database.dispose()


def start_server(
    data_dir: Path,
    log_path: Path,
    env: dict[str, str] | None = None,
    options: Sequence[str] = (),
) -> PrimaryServer:
    port = free_port()
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            HOSTCA,
            "server",
            "run",
            "--data-dir",
            str(data_dir),
            "--listen",
            f"127.0.0.1:{port}",
            *options,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    server = PrimaryServer(data_dir=data_dir, port=port, process=process, log_path=log_path)
    try:
        wait_until_ready(server)
    except BaseException:
        stop_server(server)
        raise
    return server


def wait_until_ready(server: PrimaryServer, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"hostca server exited with {server.process.returncode}:\n{server.log_text()}"
            )
        try:
            with server.client() as client:
                if client.get("/healthz").status_code == 200:
                    return
        except (httpx.TransportError, FileNotFoundError):
            # Not listening yet, or still writing its CA on first start.
            time.sleep(0.1)
    raise RuntimeError(f"hostca server did not answer within {timeout} s:\n{server.log_text()}")


def stop_server(server: PrimaryServer) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="module")
def primary_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrimaryServer]:
    """One initialized server per test module."""
    tmp = tmp_path_factory.mktemp("primary")
    data_dir = tmp / "data"
    init_server(data_dir, tmp)
    server = start_server(data_dir, tmp / "server.log")
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.fail(
            "the openssl command is required by the end-to-end tests; install it (apt-get install openssl)"
        )
    return path


@pytest.fixture(scope="session")
def curl() -> str:
    path = shutil.which("curl")
    if path is None:
        pytest.fail(
            "the curl command is required by the end-to-end tests; install it (apt-get install curl)"
        )
    return path
