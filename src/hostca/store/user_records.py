"""Queries on administrators and their sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from hostca.store.tables import sessions, users

__all__ = [
    "end_session",
    "find_session",
    "find_user",
    "insert_session",
    "insert_user",
    "list_users",
]


def insert_user(connection: Connection, **values: Any) -> None:
    connection.execute(insert(users).values(**values))


def find_user(connection: Connection, name: str) -> Row[Any] | None:
    return connection.execute(select(users).where(users.c.name == name)).one_or_none()


def list_users(connection: Connection) -> list[Row[Any]]:
    return list(connection.execute(select(users).order_by(users.c.name)))


def insert_session(connection: Connection, **values: Any) -> None:
    connection.execute(insert(sessions).values(**values))


def find_session(connection: Connection, secret_hash: str) -> Row[Any] | None:
    """Return the session joined with its user."""
    return connection.execute(
        select(sessions, users.c.name, users.c.role, users.c.disabled)
        .join(users, users.c.id == sessions.c.user_id)
        .where(sessions.c.secret_hash == secret_hash)
    ).one_or_none()


def end_session(connection: Connection, session_id: int, now: datetime) -> None:
    connection.execute(update(sessions).where(sessions.c.id == session_id).values(ended_at=now))
