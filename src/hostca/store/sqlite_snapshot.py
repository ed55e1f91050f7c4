"""Consistent copies of a SQLite database file, taken while a server may write to it.

Copying the live file could catch a write half done, or miss the pages that still
sit in the WAL file. SQLite's online backup API instead copies every page under
one read transaction, so the copy is the database as of one commit.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hostca.core.errors import UnavailableError
from hostca.store.database import SQLITE_BUSY_TIMEOUT_MS

__all__ = ["SnapshotFailedError", "check_integrity", "snapshot_database"]


class SnapshotFailedError(UnavailableError):
    """A SQLite database that cannot be copied or fails its integrity check."""

    default_code = "database_snapshot_failed"


def snapshot_database(source: Path, target: Path) -> None:
    """Copy the database at ``source`` into the new file ``target`` with the backup API.

    The copy uses the rollback journal instead of WAL, so that it is one
    self-contained file. A server opening it switches it back to WAL.
    """
    if not source.is_file():
        raise SnapshotFailedError(
            f"{source}: database file not found; give the data directory of an initialized server.",
            details={"path": str(source)},
        )
    try:
        source_connection = sqlite3.connect(source, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        target_connection = sqlite3.connect(target)
        try:
            # pages=-1 (the default) copies the whole database in one step, under
            # one read transaction. WAL lets the server keep writing meanwhile.
            source_connection.backup(target_connection)
            target_connection.execute("PRAGMA journal_mode=DELETE")
        finally:
            target_connection.close()
            source_connection.close()
    except sqlite3.Error as error:
        raise SnapshotFailedError(
            f"{source}: taking a snapshot of the database failed ({error}); check that the "
            "file is readable and retry.",
            details={"path": str(source)},
        ) from error


def check_integrity(path: Path) -> None:
    """Raise ``SnapshotFailedError`` unless ``PRAGMA integrity_check`` of ``path`` returns ok."""
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise SnapshotFailedError(
            f"{path}: not a readable SQLite database ({error}).", details={"path": str(path)}
        ) from error
    if rows != [("ok",)]:
        first_problem = rows[0][0] if rows else "no result"
        raise SnapshotFailedError(
            f"{path}: the SQLite integrity check failed ({first_problem}).",
            details={"path": str(path)},
        )
