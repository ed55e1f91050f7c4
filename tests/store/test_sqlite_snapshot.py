"""SQLite snapshots: consistent while another connection writes, and integrity checks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hostca.store.sqlite_snapshot import SnapshotFailedError, check_integrity, snapshot_database

# SQLite's backup API; PostgreSQL has its own tools.
pytestmark = pytest.mark.sqlite_only


def wal_database(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, text TEXT)")
    connection.execute("INSERT INTO events (text) VALUES ('committed')")
    return connection


def test_snapshot_skips_open_transaction(tmp_path: Path) -> None:
    writer = wal_database(tmp_path / "live.db")
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO events (text) VALUES ('uncommitted')")

        snapshot_database(tmp_path / "live.db", tmp_path / "copy.db")
        writer.execute("COMMIT")
    finally:
        writer.close()

    copy = sqlite3.connect(tmp_path / "copy.db")
    try:
        rows = copy.execute("SELECT text FROM events").fetchall()
        journal_mode = copy.execute("PRAGMA journal_mode").fetchone()
    finally:
        copy.close()
    assert rows == [("committed",)]
    assert journal_mode == ("delete",)
    check_integrity(tmp_path / "copy.db")


def test_snapshot_includes_wal_pages(tmp_path: Path) -> None:
    writer = wal_database(tmp_path / "live.db")
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("INSERT INTO events (text) VALUES ('only in the WAL')")
        snapshot_database(tmp_path / "live.db", tmp_path / "copy.db")
    finally:
        writer.close()

    copy = sqlite3.connect(tmp_path / "copy.db")
    try:
        rows = copy.execute("SELECT text FROM events ORDER BY id").fetchall()
    finally:
        copy.close()
    assert rows == [("committed",), ("only in the WAL",)]


def test_snapshot_missing_source(tmp_path: Path) -> None:
    with pytest.raises(SnapshotFailedError) as raised:
        snapshot_database(tmp_path / "absent.db", tmp_path / "copy.db")
    assert raised.value.code == "database_snapshot_failed"
    assert not (tmp_path / "copy.db").exists()


def test_integrity_check_rejects_garbage(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4080)
    with pytest.raises(SnapshotFailedError):
        check_integrity(garbage)
