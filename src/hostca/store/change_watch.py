"""Tell cheaply whether any connection has committed to a SQLite database since the last look.

SQLite's ``PRAGMA data_version`` returns, on one connection, a value that changes
whenever another connection commits, in this process or in another. A cache that
notes the value before it reads the database may answer from its copy for as long
as the value stays the same. The watch's own connection never writes, so every
commit it can miss is one that it would see. PostgreSQL has no such counter; a
deployment on it has no watch, and its callers read the database every time.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

__all__ = ["ChangeWatch"]


class ChangeWatch:
    """A read-only connection to a SQLite file that reports its data version."""

    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        # Another connection may hold the write lock while the version is read.
        self._connection.execute("PRAGMA busy_timeout=30000")
        self._lock = threading.Lock()

    def version(self) -> int:
        """Return a value that differs from the last one once another connection has committed."""
        with self._lock:
            row = self._connection.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._connection.close()
