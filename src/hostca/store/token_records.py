"""Queries on the tokens table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, insert, or_, select, update

from hostca.store.database import lock_for_transaction
from hostca.store.tables import tokens

__all__ = [
    "consume_token",
    "find_live_token_by_name",
    "find_token_by_hash",
    "insert_token",
    "list_tokens",
    "lock_token_name",
    "mark_token_deleted",
    "purge_unusable_tokens",
]


def insert_token(connection: Connection, **values: Any) -> int:
    result = connection.execute(insert(tokens).values(**values))
    primary_key = result.inserted_primary_key
    assert primary_key is not None
    return int(primary_key[0])


def lock_token_name(connection: Connection, name: str) -> None:
    """Keep other transactions from creating a token named ``name`` until this one ends."""
    lock_for_transaction(connection, f"hostca.token:{name}")


_FIND_TOKEN_BY_HASH = select(tokens).where(tokens.c.value_hash == bindparam("value_hash"))
# Counts one use only while the token is usable. Built once, as it runs for every enrolment.
_CONSUME_TOKEN = (
    update(tokens)
    .where(
        tokens.c.id == bindparam("token_id"),
        tokens.c.deleted_at.is_(None),
        tokens.c.valid_until > bindparam("now", type_=tokens.c.valid_until.type),
        tokens.c.uses < tokens.c.max_uses,
    )
    .values(uses=tokens.c.uses + 1)
)


def find_token_by_hash(connection: Connection, value_hash: str) -> Row[Any] | None:
    return connection.execute(_FIND_TOKEN_BY_HASH, {"value_hash": value_hash}).one_or_none()


def find_live_token_by_name(connection: Connection, name: str) -> Row[Any] | None:
    return connection.execute(
        select(tokens).where(tokens.c.name == name, tokens.c.deleted_at.is_(None))
    ).one_or_none()


def list_tokens(connection: Connection, *, include_deleted: bool) -> list[Row[Any]]:
    query = select(tokens).order_by(tokens.c.created_at, tokens.c.id)
    if not include_deleted:
        query = query.where(tokens.c.deleted_at.is_(None))
    return list(connection.execute(query))


def consume_token(connection: Connection, token_id: int, now: datetime) -> bool:
    """Count one use, only if the token is still usable; return whether it was."""
    result = connection.execute(_CONSUME_TOKEN, {"token_id": token_id, "now": now})
    return result.rowcount == 1


def mark_token_deleted(connection: Connection, token_id: int, now: datetime) -> None:
    connection.execute(update(tokens).where(tokens.c.id == token_id).values(deleted_at=now))


def purge_unusable_tokens(connection: Connection, now: datetime) -> list[str]:
    """Delete expired, used-up and deleted tokens and return the names of those removed."""
    unusable = or_(
        tokens.c.deleted_at.is_not(None),
        tokens.c.valid_until <= now,
        tokens.c.uses >= tokens.c.max_uses,
    )
    names = [row.name for row in connection.execute(select(tokens.c.name).where(unusable))]
    connection.execute(delete(tokens).where(and_(unusable)))
    return names
