"""API keys: long-lived bearer credentials for scripts, each with a role and an expiry.

A request made with a key acts as ``apikey:<name>`` with the key's role, so its
audit events name the key. The key's role is its own, but the key belongs to the
user who created it (directly, or through the keys it was created with): while that
user is disabled, the key is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from hostca.core.api_keys import (
    MAX_API_KEY_LIFETIME,
    api_key_matches,
    generate_api_key_value,
    hash_api_key_value,
    validate_api_key_name,
)
from hostca.core.errors import ConflictError, InvalidRequestError, NotFoundError, UnauthorizedError
from hostca.core.tokens import parse_duration
from hostca.service.audit_log import append_event, audit_rejection, record_failure
from hostca.service.context import Actor, ServiceContext
from hostca.service.user_service import ROLES, AdminIdentity
from hostca.store import api_key_records, user_records

__all__ = [
    "CreatedApiKey",
    "api_key_actor_name",
    "authenticate_api_key",
    "create_api_key",
    "list_api_keys",
    "revoke_api_key",
]


@dataclass(frozen=True)
class CreatedApiKey:
    """A new key's view and its value, which is returned only this once."""

    view: dict[str, Any]
    value: str


API_KEY_ACTOR_PREFIX = "apikey:"


def api_key_actor_name(name: str) -> str:
    return f"{API_KEY_ACTOR_PREFIX}{name}"


def _state(key: Row[Any], now: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at <= now:
        return "expired"
    return "active"


def _api_key_view(key: Row[Any], now: datetime) -> dict[str, Any]:
    return {
        "name": key.name,
        "role": key.role,
        "state": _state(key, now),
        "expires_at": key.expires_at,
        "created_at": key.created_at,
        "created_by": key.created_by,
        "revoked_at": key.revoked_at,
    }


def _check_role_and_lifetime(role: str, expires: str) -> None:
    if role not in ROLES:
        raise InvalidRequestError(
            f"{role}: unknown role; use one of {', '.join(ROLES)}.", code="role_invalid"
        )
    if parse_duration(expires) > MAX_API_KEY_LIFETIME:
        raise InvalidRequestError(
            f"{expires}: an API key may be valid for at most {MAX_API_KEY_LIFETIME.days} days; "
            "give a shorter --expires.",
            code="validity_too_long",
        )


def create_api_key(
    context: ServiceContext, actor: Actor, name: str, role: str, expires: str
) -> CreatedApiKey:
    """Create a key valid for the duration ``expires`` (such as ``30d`` or ``12h``)."""
    with audit_rejection(
        context, category="SEC_CONFIG", action="apikey_create", actor=actor, target=name
    ):
        validate_api_key_name(name)
        _check_role_and_lifetime(role, expires)
        now = context.clock()
        value = generate_api_key_value()

        with context.database.transaction() as connection:
            if api_key_records.find_api_key_by_name(connection, name) is not None:
                raise ConflictError(
                    f"{name}: an API key with this name exists, revoked keys included; "
                    "choose another name.",
                    code="apikey_exists",
                )
            api_key_records.insert_api_key(
                connection,
                name=name,
                key_hash=hash_api_key_value(value),
                role=role,
                created_at=now,
                created_by=actor.name,
                expires_at=now + parse_duration(expires),
            )
            key = api_key_records.find_api_key_by_name(connection, name)
            assert key is not None
            append_event(
                connection,
                context,
                category="SEC_CONFIG",
                action="apikey_create",
                actor=actor,
                target=name,
                details={"role": role, "expires_at": key.expires_at.isoformat()},
            )
    return CreatedApiKey(_api_key_view(key, now), value)


def list_api_keys(context: ServiceContext) -> list[dict[str, Any]]:
    now = context.clock()
    with context.database.engine.connect() as connection:
        return [_api_key_view(key, now) for key in api_key_records.list_api_keys(connection)]


def revoke_api_key(context: ServiceContext, actor: Actor, name: str) -> dict[str, Any]:
    """Revoke a key so that it is rejected from the next request on."""
    with audit_rejection(
        context, category="SEC_CONFIG", action="apikey_revoke", actor=actor, target=name
    ):
        now = context.clock()
        with context.database.transaction() as connection:
            key = api_key_records.find_api_key_by_name(connection, name)
            if key is None:
                raise NotFoundError(
                    f"{name}: API key not found; 'hostca apikey list' shows the keys.",
                    code="apikey_not_found",
                )
            if key.revoked_at is None:
                api_key_records.mark_api_key_revoked(connection, key.id, now)
                append_event(
                    connection,
                    context,
                    category="SEC_CONFIG",
                    action="apikey_revoke",
                    actor=actor,
                    target=name,
                )
            revoked = api_key_records.find_api_key_by_name(connection, name)
            assert revoked is not None
    return _api_key_view(revoked, now)


def _owner_problem(connection: Connection, key: Row[Any]) -> str | None:
    """Return why the user behind ``key`` may not act now, or None while that user is enabled.

    A key made with another key belongs to the user behind that key, so the chain of
    ``created_by`` is followed to a user. Names are never reused, so it ends.
    """
    created_by = str(key.created_by)
    seen: set[str] = set()
    while created_by.startswith(API_KEY_ACTOR_PREFIX) and created_by not in seen:
        seen.add(created_by)
        parent = api_key_records.find_api_key_by_name(
            connection, created_by.removeprefix(API_KEY_ACTOR_PREFIX)
        )
        if parent is None:
            break
        created_by = str(parent.created_by)

    user = user_records.find_user(connection, created_by)
    if user is None:
        return (
            f"the API key {key.name} was created by {created_by}, which is not a user; "
            "create a new key with 'hostca apikey create'."
        )
    if user.disabled:
        return (
            f"the API key {key.name} belongs to the user {user.name}, who is disabled; enable "
            f"the user with 'hostca user enable {user.name}' or create a new key."
        )
    return None


def authenticate_api_key(
    context: ServiceContext, value: str, source_ip: str | None
) -> AdminIdentity:
    """Return the identity of an API key value, or audit and raise ``apikey_invalid``."""
    now = context.clock()
    with context.database.engine.connect() as connection:
        key = api_key_records.find_api_key_by_hash(connection, hash_api_key_value(value))
        owner_problem = None if key is None else _owner_problem(connection, key)

    actor = Actor.anonymous(source_ip)
    problem = None
    if key is None or not api_key_matches(value, key.key_hash):
        problem = "the API key is not known; check HOSTCA_API_KEY or create a key with 'hostca apikey create'."
    else:
        actor = Actor(name=api_key_actor_name(key.name), source_ip=source_ip, role=key.role)
        if key.revoked_at is not None:
            problem = (
                f"the API key {key.name} was revoked; create a new key with 'hostca apikey create'."
            )
        elif key.expires_at <= now:
            problem = (
                f"the API key {key.name} expired at {key.expires_at.isoformat()}; "
                "create a new key with 'hostca apikey create'."
            )
        elif owner_problem is not None:
            problem = owner_problem

    if problem is not None:
        error = UnauthorizedError(problem, code="apikey_invalid")
        record_failure(context, error, category="LOGIN", action="authenticate", actor=actor)
        raise error
    assert key is not None
    return AdminIdentity(api_key_actor_name(key.name), key.role)
