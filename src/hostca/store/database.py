"""The database: engine creation, transactions and schema version checks.

SQLite is the embedded default. It runs in WAL mode, and every transaction starts
with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the database lock
instead of failing when a read lock would have to be upgraded.

PostgreSQL, reached through psycopg 3, serves several replicas at once. Its
transactions run at READ COMMITTED: writers do not wait for each other except where
they lock the same rows (a token, the audit chain head) or take the same
transaction lock (``lock_for_transaction``). Nothing outside this package emits SQL
that only one backend understands.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import QueuePool

from hostca.core.errors import InvalidRequestError, UnavailableError
from hostca.store.change_watch import ChangeWatch
from hostca.store.tables import hosts

__all__ = [
    "Database",
    "PoolLimits",
    "SchemaMismatchError",
    "advisory_lock_key",
    "is_transient_error",
    "lock_for_transaction",
    "normalize_database_url",
    "sqlite_url",
]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option that marks a connection's transaction as one that writes.
WRITE_OPTION = "hostca_write"
# SQLSTATEs after which the same transaction may succeed when run again:
# serialization_failure, deadlock_detected and lock_not_available.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


class SchemaMismatchError(UnavailableError):
    default_code = "schema_mismatch"


@dataclass(frozen=True)
class PoolLimits:
    """Connections one process keeps open to PostgreSQL, and how long a request waits for one.

    Each worker process of each replica has its own pool, so a deployment needs up
    to replicas x workers x (size + overflow + 1) connections, the one being the
    leader election's, within the server's ``max_connections``.
    """

    size: int = 5
    overflow: int = 10
    timeout_seconds: float = 30


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def normalize_database_url(url: str) -> URL:
    """Parse a database URL and choose psycopg 3 as the PostgreSQL driver.

    ``postgresql://`` and ``postgres://`` URLs (as libpq writes them) mean psycopg 3;
    SQLite and PostgreSQL are the only backends hostca supports.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidRequestError(
            f"{url.split('@')[-1]}: not a database URL; give sqlite:///PATH or "
            "postgresql://USER@HOST:PORT/DATABASE.",
            code="database_url_invalid",
        ) from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed
    raise InvalidRequestError(
        f"{parsed.render_as_string(hide_password=True)}: hostca supports SQLite and PostgreSQL "
        "only; give sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE.",
        code="database_url_invalid",
    )


def is_transient_error(error: BaseException) -> bool:
    """Whether ``error`` is a serialization failure or deadlock that a retry may get past."""
    if not isinstance(error, DBAPIError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate in TRANSIENT_SQLSTATES


def lock_for_transaction(connection: Connection, name: str) -> None:
    """Serialize the transactions that lock ``name``, until this transaction ends.

    PostgreSQL takes a transaction-scoped advisory lock; SQLite needs nothing,
    because a writing transaction already holds the lock of the whole database.
    """
    if connection.dialect.name != "postgresql":
        return
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_lock_key(name)})


def advisory_lock_key(name: str) -> int:
    """Return the signed 64-bit key of the PostgreSQL advisory lock named ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event below control transactions, not pysqlite.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Writers take the write lock at once; readers keep a deferred transaction,
        # which in WAL mode reads a snapshot without blocking or being blocked.
        writes = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN DEFERRED")


@functools.cache
def _head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


@functools.cache
def _known_revisions() -> frozenset[str]:
    return frozenset(rev.revision for rev in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions())


class Database:
    """One database, reached through a SQLAlchemy engine."""

    def __init__(self, url: str, pool: PoolLimits | None = None) -> None:
        self.url = normalize_database_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        # SQLite lets one writer in at a time, and a waiting writer polls with
        # sleeps (busy_timeout), so the lock can sit unused between a commit and the
        # next poll. Writers of this process queue on this lock instead and go in
        # one after another. Re-entrant, so that a nested transaction fails in
        # SQLite as before rather than waiting here forever.
        self._write_queue: threading.RLock | None = threading.RLock() if self.is_sqlite else None
        # Only a SQLite file has a change watch; an in-memory database or PostgreSQL has none.
        path = self.url.database
        self._watch_path = (
            Path(path)
            if self.is_sqlite and path and path != ":memory:" and not path.startswith("file:")
            else None
        )
        self._watch: ChangeWatch | None = None
        self._watch_lock = threading.Lock()
        if self.is_sqlite:
            # Pooled connections skip opening the file and the PRAGMAs on every use.
            # The pool hands a connection to one thread at a time, so sharing it
            # across threads is safe with check_same_thread off.
            self.engine = create_engine(
                self.url,
                poolclass=QueuePool,
                pool_size=8,
                max_overflow=32,
                connect_args={"check_same_thread": False},
            )
            _configure_sqlite(self.engine)
        else:
            limits = pool or PoolLimits()
            # pre_ping replaces connections that a database restart or failover closed;
            # recycle keeps them from outliving idle timeouts of proxies in between.
            self.engine = create_engine(
                self.url,
                pool_size=limits.size,
                max_overflow=limits.overflow,
                pool_timeout=limits.timeout_seconds,
                pool_pre_ping=True,
                pool_recycle=1800,
                connect_args={"connect_timeout": 10, "application_name": "hostca"},
            )

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Yield a connection inside one transaction that commits on success."""
        with self._queued_for_write(), self.engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                yield connection

    @contextmanager
    def _queued_for_write(self) -> Iterator[None]:
        if self._write_queue is None:
            yield
            return
        with self._write_queue:
            yield

    def change_watch(self) -> ChangeWatch | None:
        """Return the watch for commits to this database, or None for a database without one.

        The watch opens on first use and closes with ``dispose``. Every cached
        ``/self`` response calls this, so an open watch is returned without the lock.
        """
        watch = self._watch
        if watch is not None or self._watch_path is None:
            return watch
        with self._watch_lock:
            if self._watch is None:
                self._watch = ChangeWatch(self._watch_path)
            return self._watch

    def dispose(self) -> None:
        with self._watch_lock:
            if self._watch is not None:
                self._watch.close()
                self._watch = None
        self.engine.dispose()

    # Schema management

    def _alembic_config(self, connection: Connection) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        return config

    def upgrade(self) -> None:
        """Apply every migration up to the newest."""
        with self.engine.begin() as connection:
            command.upgrade(self._alembic_config(connection), "head")

    def head_revision(self) -> str:
        return _head_revision()

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def is_empty(self) -> bool:
        """Whether the database holds no hostca domain yet: no schema, or no host."""
        if self.current_revision() is None:
            return True
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(hosts)).scalar_one() == 0

    def collation(self) -> str | None:
        """Return the PostgreSQL database's LC_COLLATE, or None for SQLite, which compares bytes."""
        if self.engine.dialect.name != "postgresql":
            return None
        with self.engine.connect() as connection:
            return str(
                connection.execute(
                    text("SELECT datcollate FROM pg_database WHERE datname = current_database()")
                ).scalar_one()
            )

    def check_schema(self, migrate_command: str = "hostca server migrate") -> None:
        """Raise unless the database schema is the one this code was written for.

        ``migrate_command`` is the command that the message of an older schema names.
        """
        current = self.current_revision()
        head = self.head_revision()
        if current == head:
            return
        if current is None:
            message = f"the database at {self.url_for_display} has no hostca schema; run 'hostca server init' first."
        elif current in _known_revisions():
            message = (
                f"the database schema is at revision {current}, older than {head} that this "
                f"hostca needs; run '{migrate_command}' first."
            )
        else:
            message = (
                f"the database schema is at revision {current}, which this hostca does not know "
                f"(newest known: {head}); upgrade hostca before starting it on this database."
            )
        raise SchemaMismatchError(message, details={"current": current, "expected": head})

    def check_ready(self) -> None:
        """Raise ``UnavailableError`` unless the database answers with a schema this code can use.

        A revision this code does not know comes from a newer hostca that migrated the
        database during a rolling upgrade. A running server keeps serving then, so it
        stays ready, while ``check_schema`` keeps it from starting.
        """
        try:
            current = self.current_revision()
        except DBAPIError as error:
            raise UnavailableError(
                f"{self.url_for_display}: the database does not answer "
                f"({type(error.orig or error).__name__}); check that it runs and is reachable.",
                code="database_unavailable",
            ) from None
        if current is not None and current not in _known_revisions():
            return
        self.check_schema()

    @property
    def url_for_display(self) -> str:
        return self.url.render_as_string(hide_password=True)
