"""Queries on administrators and their sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from hostca.store.tables import sessions, users

__all__ = [
    "count_enabled_users_with_role",
    "end_session",
    "end_user_sessions",
    "find_session",
    "find_user",
    "insert_session",
    "insert_user",
    "list_users",
    "set_password_hash",
    "set_user_disabled",
]


def insert_user(connection: Connection, **values: Any) -> None:
    connection.execute(insert(users).values(**values))


def find_user(connection: Connection, name: str) -> Row[Any] | None:
    return connection.execute(select(users).where(users.c.name == name)).one_or_none()


def list_users(connection: Connection) -> list[Row[Any]]:
    return list(connection.execute(select(users).order_by(users.c.name)))


def count_enabled_users_with_role(connection: Connection, role: str) -> int:
    """Count the enabled users of ``role``, locking their rows until the transaction ends.

    The lock (FOR UPDATE on PostgreSQL, the database write lock on SQLite) keeps two
    concurrent requests from each disabling one of the last two such users.
    """
    rows = connection.execute(
        select(users.c.id)
        .where(users.c.role == role, users.c.disabled.is_(False))
        .with_for_update()
    )
    return len(list(rows))


def set_user_disabled(connection: Connection, user_id: int, disabled: bool) -> None:
    connection.execute(update(users).where(users.c.id == user_id).values(disabled=disabled))


def set_password_hash(connection: Connection, user_id: int, password_hash: str) -> None:
    connection.execute(
        update(users).where(users.c.id == user_id).values(password_hash=password_hash)
    )


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


def end_user_sessions(
    connection: Connection, user_id: int, now: datetime, *, keep_session_id: int | None = None
) -> int:
    """End every open session of a user except ``keep_session_id``; return how many ended."""
    query = update(sessions).where(sessions.c.user_id == user_id, sessions.c.ended_at.is_(None))
    if keep_session_id is not None:
        query = query.where(sessions.c.id != keep_session_id)
    return connection.execute(query.values(ended_at=now)).rowcount
