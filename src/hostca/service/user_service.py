"""Administrators: accounts, argon2id password hashes and login sessions."""

from __future__ import annotations

import hashlib
import re
import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Row

from hostca.core.api_keys import API_KEY_PREFIX
from hostca.core.errors import (
    ConflictError,
    HostcaError,
    InvalidRequestError,
    NotFoundError,
    UnauthorizedError,
)
from hostca.service.audit_log import AuditScope, append_event, audit_rejection, record_failure
from hostca.service.context import Actor, ServiceContext
from hostca.service.permissions import ROLE_ORDER
from hostca.service.rate_limits import LOGIN, check_rate_limit, count_auth_failure
from hostca.store import user_records

__all__ = [
    "ROLES",
    "SESSION_LIFETIME",
    "AdminIdentity",
    "add_user",
    "authenticate_session",
    "change_password",
    "create_user",
    "disable_user",
    "enable_user",
    "list_users",
    "login",
    "logout",
]

ROLES = ROLE_ORDER
SESSION_LIFETIME = timedelta(hours=24)
MIN_PASSWORD_LENGTH = 12
# No ':' so that a user name never looks like the actor of a host or an API key.
_USER_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified when the user name is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class AdminIdentity:
    name: str
    role: str
    session_id: int | None = None

    def actor(self, source_ip: str | None) -> Actor:
        return Actor(name=self.name, source_ip=source_ip, role=self.role)


@dataclass(frozen=True)
class LoginResult:
    secret: str
    expires_at: datetime
    identity: AdminIdentity


def _session_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequestError(
            f"the password has {len(password)} characters; use at least {MIN_PASSWORD_LENGTH}.",
            code="password_too_short",
        )


def create_user(
    connection: Connection,
    context: ServiceContext,
    actor: Actor,
    name: str,
    role: str,
    password: str,
) -> None:
    if not _USER_NAME.fullmatch(name):
        raise InvalidRequestError(
            f"{name!r}: invalid user name; use 1 to 64 letters, digits, '.', '_', '@' or '-'.",
            code="user_name_invalid",
        )
    if role not in ROLES:
        raise InvalidRequestError(
            f"{role}: unknown role; use one of {', '.join(ROLES)}.", code="role_invalid"
        )
    check_password_strength(password)
    if user_records.find_user(connection, name) is not None:
        raise ConflictError(f"{name}: a user with this name exists.", code="user_exists")
    user_records.insert_user(
        connection,
        name=name,
        role=role,
        password_hash=_hasher.hash(password),
        disabled=False,
        created_at=context.clock(),
    )
    append_event(
        connection,
        context,
        category="SEC_CONFIG",
        action="user_add",
        actor=actor,
        target=name,
        details={"role": role},
    )


def login(context: ServiceContext, name: str, password: str, source_ip: str | None) -> LoginResult:
    """Check a user's password and start a session of 24 hours."""
    actor = Actor(name=name or "anonymous", source_ip=source_ip)
    try:
        check_rate_limit(context, LOGIN, source_ip)
        now = context.clock()
        with context.database.transaction() as connection:
            user = user_records.find_user(connection, name)
            if (
                not _password_matches(None if user is None else user.password_hash, password)
                or user is None
                or user.disabled
            ):
                raise UnauthorizedError(
                    "the user name or password is not correct.",
                    code="login_failed",
                    details={
                        "user_known": user is not None,
                        "disabled": bool(user and user.disabled),
                    },
                )
            secret = _new_session_secret()
            expires_at = now + SESSION_LIFETIME
            user_records.insert_session(
                connection,
                secret_hash=_session_hash(secret),
                user_id=user.id,
                created_at=now,
                expires_at=expires_at,
            )
            append_event(
                connection, context, category="LOGIN", action="login", actor=actor, target=name
            )
            session = user_records.find_session(connection, _session_hash(secret))
            assert session is not None
    except HostcaError as error:
        if error.code == "login_failed":
            count_auth_failure(context, LOGIN, source_ip)
        record_failure(context, error, category="LOGIN", action="login", actor=actor, target=name)
        raise
    return LoginResult(secret, expires_at, AdminIdentity(user.name, user.role, session.id))


def _new_session_secret() -> str:
    # A session secret never starts like an API key, which the bearer check tells
    # apart by its prefix alone.
    while (secret := secrets.token_urlsafe(32)).startswith(API_KEY_PREFIX):
        pass
    return secret


def _password_matches(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def authenticate_session(
    context: ServiceContext, secret: str, source_ip: str | None
) -> AdminIdentity:
    """Return the administrator of a bearer session secret, or raise ``unauthorized``."""
    now = context.clock()
    with context.database.engine.connect() as connection:
        session = user_records.find_session(connection, _session_hash(secret))
    problem = None
    if session is None:
        problem = "the session is not known; log in with 'hostca login'."
    elif session.ended_at is not None:
        problem = "the session was ended by logout; log in again with 'hostca login'."
    elif session.expires_at <= now:
        problem = f"the session expired at {session.expires_at.isoformat()}; log in again with 'hostca login'."
    elif session.disabled:
        problem = "the user of this session is disabled."
    if problem is not None:
        error = UnauthorizedError(problem, code="session_invalid")
        record_failure(
            context,
            error,
            category="LOGIN",
            action="authenticate",
            actor=Actor.anonymous(source_ip),
        )
        raise error
    assert session is not None
    return AdminIdentity(session.name, session.role, session.id)


def logout(context: ServiceContext, identity: AdminIdentity, source_ip: str | None) -> None:
    if identity.session_id is None:
        return
    with context.database.transaction() as connection:
        user_records.end_session(connection, identity.session_id, context.clock())
        append_event(
            connection,
            context,
            category="LOGIN",
            action="logout",
            actor=identity.actor(source_ip),
            target=identity.name,
        )


# Account administration: each function is one transaction, and a rejection is
# audited in a transaction of its own.


def _audit_rejection(
    context: ServiceContext, actor: Actor, action: str, target: str
) -> AbstractContextManager[AuditScope]:
    return audit_rejection(
        context, category="SEC_CONFIG", action=action, actor=actor, target=target
    )


def _user_view(user: Row[Any]) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role,
        "disabled": bool(user.disabled),
        "created_at": user.created_at,
    }


def _existing_user(connection: Connection, name: str) -> Row[Any]:
    user = user_records.find_user(connection, name)
    if user is None:
        raise NotFoundError(
            f"{name}: user not found; 'hostca user list' shows the users.", code="user_not_found"
        )
    return user


def list_users(context: ServiceContext) -> list[dict[str, Any]]:
    with context.database.engine.connect() as connection:
        return [_user_view(user) for user in user_records.list_users(connection)]


def add_user(
    context: ServiceContext, actor: Actor, name: str, role: str, password: str
) -> dict[str, Any]:
    """Create an enabled user and return its view."""
    with (
        _audit_rejection(context, actor, "user_add", name),
        context.database.transaction() as connection,
    ):
        create_user(connection, context, actor, name, role, password)
        return _user_view(_existing_user(connection, name))


def disable_user(context: ServiceContext, actor: Actor, name: str) -> dict[str, Any]:
    """Disable a user and end its sessions, unless it is the last enabled security-admin.

    The user's sessions stop working at once in any case, because every session
    check reads the user's ``disabled`` flag.
    """
    with (
        _audit_rejection(context, actor, "user_disable", name),
        context.database.transaction() as connection,
    ):
        user = _existing_user(connection, name)
        if user.disabled:
            return _user_view(user)

        if user.role == "security-admin":
            enabled_admins = user_records.count_enabled_users_with_role(
                connection, "security-admin"
            )
            if enabled_admins <= 1:
                raise ConflictError(
                    f"{name}: the last enabled security-admin cannot be disabled; "
                    "add another security-admin first.",
                    code="last_security_admin",
                )

        user_records.set_user_disabled(connection, user.id, True)
        ended = user_records.end_user_sessions(connection, user.id, context.clock())
        append_event(
            connection,
            context,
            category="SEC_CONFIG",
            action="user_disable",
            actor=actor,
            target=name,
            details={"sessions_ended": ended},
        )
        return _user_view(_existing_user(connection, name))


def enable_user(context: ServiceContext, actor: Actor, name: str) -> dict[str, Any]:
    """Enable a disabled user again.

    The user logs in anew, since disabling ended every session, and the API keys
    the user created work again.
    """
    with (
        _audit_rejection(context, actor, "user_enable", name),
        context.database.transaction() as connection,
    ):
        user = _existing_user(connection, name)
        if not user.disabled:
            return _user_view(user)

        user_records.set_user_disabled(connection, user.id, False)
        append_event(
            connection,
            context,
            category="SEC_CONFIG",
            action="user_enable",
            actor=actor,
            target=name,
        )
        return _user_view(_existing_user(connection, name))


def change_password(
    context: ServiceContext, admin: AdminIdentity, source_ip: str | None, name: str, password: str
) -> dict[str, Any]:
    """Set a user's password and end the user's sessions, except the caller's own."""
    actor = admin.actor(source_ip)
    with _audit_rejection(context, actor, "user_passwd", name):
        check_password_strength(password)
        with context.database.transaction() as connection:
            user = _existing_user(connection, name)
            user_records.set_password_hash(connection, user.id, _hasher.hash(password))

            keep = admin.session_id if admin.name == name else None
            ended = user_records.end_user_sessions(
                connection, user.id, context.clock(), keep_session_id=keep
            )
            append_event(
                connection,
                context,
                category="SEC_CONFIG",
                action="user_passwd",
                actor=actor,
                target=name,
                details={"sessions_ended": ended},
            )
            return {**_user_view(user), "sessions_ended": ended}
