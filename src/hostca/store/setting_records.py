"""Queries on domain settings stored in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from hostca.store.tables import settings

__all__ = ["read_settings", "write_setting"]


def read_settings(connection: Connection) -> dict[str, Any]:
    return {row.key: row.value for row in connection.execute(select(settings))}


def write_setting(connection: Connection, key: str, value: Any, now: datetime) -> None:
    result = connection.execute(
        update(settings).where(settings.c.key == key).values(value=value, updated_at=now)
    )
    if result.rowcount == 0:
        connection.execute(settings.insert().values(key=key, value=value, updated_at=now))
