"""The database: engine creation, transactions and schema version checks.

SQLite is the embedded default. It runs in WAL mode, and every transaction starts
with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the database lock
instead of failing when a read lock would have to be upgraded. Nothing outside this
package emits SQL that only one backend understands.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import QueuePool

from hostca.core.errors import UnavailableError

__all__ = ["Database", "SchemaMismatchError", "sqlite_url"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option that marks a connection's transaction as one that writes.
WRITE_OPTION = "hostca_write"


class SchemaMismatchError(UnavailableError):
    default_code = "schema_mismatch"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


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


class Database:
    """One database, reached through a SQLAlchemy engine."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            # Pooled connections skip opening the file and the PRAGMAs on every use.
            # The pool hands a connection to one thread at a time, so sharing it
            # across threads is safe with check_same_thread off.
            self.engine = create_engine(
                url,
                poolclass=QueuePool,
                pool_size=8,
                max_overflow=32,
                connect_args={"check_same_thread": False},
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Yield a connection inside one transaction that commits on success."""
        with self.engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                yield connection

    def dispose(self) -> None:
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
        script = ScriptDirectory(str(MIGRATIONS_DIR))
        head = script.get_current_head()
        if head is None:
            raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
        return head

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def check_schema(self) -> None:
        """Raise unless the database schema is the one this code was written for."""
        current = self.current_revision()
        head = self.head_revision()
        if current == head:
            return
        if current is None:
            message = f"the database at {self.url_for_display} has no hostca schema; run 'hostca server init' first."
        elif current in {
            rev.revision for rev in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()
        }:
            message = (
                f"the database schema is at revision {current}, older than {head} that this "
                "hostca needs; run 'hostca server migrate' first."
            )
        else:
            message = (
                f"the database schema is at revision {current}, which this hostca does not know "
                f"(newest known: {head}); upgrade hostca before starting it on this database."
            )
        raise SchemaMismatchError(message, details={"current": current, "expected": head})

    @property
    def url_for_display(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)
