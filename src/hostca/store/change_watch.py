"""Check cheaply whether any connection has committed to a SQLite database since the last check.

SQLite's ``PRAGMA data_version`` returns, on one connection, a value that changes
whenever another connection commits, in this process or in another. A cache that
notes the value before it reads the database may serve its copy for as long as
the value stays the same. The value leaves out only the commits of the
connection it is read on, and the watch's connection never writes, so the watch
sees every commit. PostgreSQL has no such counter. A deployment on it has no
watch, and its callers read the database every time.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

__all__ = ["ChangeWatch"]


class ChangeWatch:
    """A connection to a SQLite file that only reads the file's data version."""

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
