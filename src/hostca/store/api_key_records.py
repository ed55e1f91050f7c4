"""Queries on the api_keys table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from hostca.store.tables import api_keys

__all__ = [
    "find_api_key_by_hash",
    "find_api_key_by_name",
    "insert_api_key",
    "list_api_keys",
    "mark_api_key_revoked",
]


def insert_api_key(connection: Connection, **values: Any) -> None:
    connection.execute(insert(api_keys).values(**values))


def find_api_key_by_name(connection: Connection, name: str) -> Row[Any] | None:
    return connection.execute(select(api_keys).where(api_keys.c.name == name)).one_or_none()


def find_api_key_by_hash(connection: Connection, key_hash: str) -> Row[Any] | None:
    return connection.execute(select(api_keys).where(api_keys.c.key_hash == key_hash)).one_or_none()


def list_api_keys(connection: Connection) -> list[Row[Any]]:
    return list(connection.execute(select(api_keys).order_by(api_keys.c.name)))


def mark_api_key_revoked(connection: Connection, key_id: int, now: datetime) -> None:
    connection.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=now))
