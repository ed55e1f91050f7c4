"""Locks that elect one leader among the processes that serve one database.

On PostgreSQL the leader holds a session advisory lock on a connection of its
own, which the database releases as soon as that connection ends, also when the
process is killed. On SQLite the worker processes of the one server on a data
directory share a lock file there, which the kernel releases when its holder exits.

Leadership only decides who runs the periodic jobs. Their correctness does not
depend on it: CRL numbers come from the database under a transaction lock, so
two processes that both believed they led would still publish in order.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from hostca.store.database import Database, advisory_lock_key

__all__ = ["AdvisoryLeaderLock", "FileLeaderLock", "LeaderLock", "leader_lock_for"]

LEADER_LOCK = "hostca.leader"


class LeaderLock(Protocol):
    def try_acquire(self) -> bool:
        """Return whether this process holds the lock now, taking it when it is free."""

    def release(self) -> None:
        """Give the lock up, if held."""


class AdvisoryLeaderLock:
    """``pg_try_advisory_lock`` held on a dedicated connection outside the pool."""

    def __init__(self, database: Database) -> None:
        # TCP keepalives in both directions: the server releases the lock of a leader
        # whose machine died within about 25 s, instead of Linux's default of about
        # two hours, and a partitioned leader notices that it lost the lock.
        self.engine = create_engine(
            database.url,
            poolclass=NullPool,
            connect_args={
                "connect_timeout": 10,
                "application_name": "hostca-leader",
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 5,
                "keepalives_count": 3,
                "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 "
                "-c tcp_keepalives_count=3",
            },
        )
        self.connection: Connection | None = None

    def try_acquire(self) -> bool:
        if self.connection is not None:
            try:
                self.connection.execute(text("SELECT 1"))
                return True
            except DBAPIError:
                # The connection died, and the lock with it.
                self.release()
        try:
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except DBAPIError:
            return False
        try:
            acquired = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": advisory_lock_key(LEADER_LOCK)}
            ).scalar_one()
        except DBAPIError:
            connection.close()
            return False
        if not acquired:
            connection.close()
            return False
        self.connection = connection
        return True

    def release(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(DBAPIError):
                self.connection.close()
            self.connection = None
        self.engine.dispose()


class FileLeaderLock:
    """An exclusive ``flock`` on a file in the data directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stream: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self.stream is not None:
            return True
        # Mode 0600 whatever the umask, like every other file of the data directory.
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(descriptor, 0o600)
        stream = os.fdopen(descriptor, "a+")
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.close()
            return False
        self.stream = stream
        return True

    def release(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None


def leader_lock_for(database: Database, lock_file: Path) -> LeaderLock:
    """Return the leader lock of ``database``: advisory on PostgreSQL, ``lock_file`` on SQLite."""
    if database.is_sqlite:
        return FileLeaderLock(lock_file)
    return AdvisoryLeaderLock(database)
