"""Time one database use of hostca's SQLite engine against its parts.

Until commit 33de621, hostca's SQLite engine used ``NullPool``, so every use opened a
new connection, ran its PRAGMAs and started with ``BEGIN IMMEDIATE``. This script
times one use, a lookup and ``read_settings`` through the current engine, and the
steps of a new connection with ``sqlite3`` alone, so that the share of each step is
visible. It also times one lookup by primary key on an open connection four ways:
a statement built for each call, a statement built once with a bound parameter (as
hostca's enrolment and renewal statements are), the SQL text through
``exec_driver_sql``, and ``sqlite3`` alone.

Run: ``taskset -c 0 python bench/db_use_cost.py --data-dir D`` on an initialized
data directory, where no server is running.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, bindparam, select

from hostca.datadir import DataDir
from hostca.service.server_setup import open_context
from hostca.service.settings_service import read_settings
from hostca.store import certificate_records
from hostca.store.tables import certificates

__all__ = ["time_per_call"]

PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000")


def time_per_call(operation: Callable[[], object], count: int) -> float:
    """Return the mean time of ``operation`` in microseconds, after one warm-up call."""
    operation()
    start = time.perf_counter()
    for _ in range(count):
        operation()
    return (time.perf_counter() - start) / count * 1e6


def hostca_rows(data_dir: Path, count: int) -> list[tuple[str, float]]:
    context = open_context(DataDir(data_dir), ca_passphrase=None, database_url=None)
    engine = context.database.engine

    def empty_use() -> None:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def lookup() -> None:
        with engine.connect() as connection:
            certificate_records.find_certificate(connection, "00")

    rows = [
        (
            "`engine.connect()`, `SELECT 1`, close (hostca's engine)",
            time_per_call(empty_use, count),
        ),
        ("the same with `certificate_records.find_certificate`", time_per_call(lookup, count)),
        ("`read_settings(context)`", time_per_call(lambda: read_settings(context), count)),
    ]
    with engine.connect() as connection:
        rows.append(
            (
                "`SELECT 1` on a connection that stays open",
                time_per_call(lambda: connection.exec_driver_sql("SELECT 1").fetchall(), count),
            )
        )
        rows += statement_rows(connection, count)
    context.database.dispose()
    return rows


def statement_rows(connection: Connection, count: int) -> list[tuple[str, float]]:
    """Time one certificate lookup by serial number on an open connection, four ways."""
    serial = "00"
    built_once = select(certificates).where(certificates.c.serial_number == bindparam("serial"))
    driver_sql = "SELECT * FROM certificates WHERE serial_number = ?"
    raw = connection.connection.driver_connection
    assert raw is not None  # an open pooled connection has its driver connection

    def built_per_call() -> None:
        statement = select(certificates).where(certificates.c.serial_number == serial)
        connection.execute(statement).one_or_none()

    label = "lookup by serial number on an open connection"
    return [
        (f"{label}: statement built for each call", time_per_call(built_per_call, count)),
        (
            f"{label}: statement built once, bound parameter",
            time_per_call(
                lambda: connection.execute(built_once, {"serial": serial}).one_or_none(), count
            ),
        ),
        (
            f"{label}: SQL text through `exec_driver_sql`",
            time_per_call(
                lambda: connection.exec_driver_sql(driver_sql, (serial,)).fetchone(), count
            ),
        ),
        (
            f"{label}: `sqlite3` alone",
            time_per_call(lambda: raw.execute(driver_sql, (serial,)).fetchone(), count),
        ),
    ]


def sqlite_rows(database: Path, count: int) -> list[tuple[str, float]]:
    def connect_with_pragmas() -> None:
        connection = sqlite3.connect(database, isolation_level=None)
        for pragma in PRAGMAS:
            connection.execute(f"PRAGMA {pragma}")
        connection.close()

    def connect_without_reading() -> None:
        connection = sqlite3.connect(database, isolation_level=None)
        connection.execute("SELECT 1").fetchall()
        connection.close()

    label = "`sqlite3.connect` + the four PRAGMAs + close"
    rows = [(f"{label}, no other connection open", time_per_call(connect_with_pragmas, count))]
    # Closing the last connection checkpoints the WAL and removes its files, so an
    # extra open connection shows the cost without that step.
    keeper = sqlite3.connect(database)
    keeper.execute("SELECT count(*) FROM sqlite_master").fetchall()
    rows.append(
        (f"{label}, one more connection held open", time_per_call(connect_with_pragmas, count))
    )
    keeper.close()
    rows.append(
        (
            "`sqlite3.connect` + `SELECT 1` + close (the file is not read)",
            time_per_call(connect_without_reading, count),
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Time hostca's SQLite database uses.")
    parser.add_argument(
        "--data-dir", type=Path, required=True, help="initialized hostca data directory"
    )
    parser.add_argument("--count", type=int, default=2000, help="calls per operation")
    arguments = parser.parse_args()

    rows = hostca_rows(arguments.data_dir, arguments.count)
    rows += sqlite_rows(arguments.data_dir / "hostca.db", arguments.count)
    print("| operation | time per call |\n|---|---|")
    for label, microseconds in rows:
        print(f"| {label} | {microseconds:.0f} µs |")


if __name__ == "__main__":
    main()
