"""Queries on domain settings stored in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from hostca.store.database import lock_for_transaction
from hostca.store.tables import settings

__all__ = ["read_settings", "write_setting"]


_READ_SETTINGS = select(settings.c.key, settings.c.value)


def read_settings(connection: Connection) -> dict[str, Any]:
    return {row.key: row.value for row in connection.execute(_READ_SETTINGS)}


def write_setting(connection: Connection, key: str, value: Any, now: datetime) -> None:
    # Two first writes of a key would otherwise both find no row and both insert one.
    lock_for_transaction(connection, f"hostca.setting:{key}")
    result = connection.execute(
        update(settings).where(settings.c.key == key).values(value=value, updated_at=now)
    )
    if result.rowcount == 0:
        connection.execute(settings.insert().values(key=key, value=value, updated_at=now))
