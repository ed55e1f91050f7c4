"""Administrators: accounts, argon2id password hashes and login sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection

from hostca.core.errors import ConflictError, HostcaError, InvalidRequestError, UnauthorizedError
from hostca.service.audit_log import append_event, record_failure
from hostca.service.context import Actor, ServiceContext
from hostca.store import user_records

__all__ = [
    "ROLES",
    "SESSION_LIFETIME",
    "AdminIdentity",
    "authenticate_session",
    "create_user",
    "login",
    "logout",
]

ROLES = ("security-admin", "operator", "auditor")
SESSION_LIFETIME = timedelta(hours=24)
MIN_PASSWORD_LENGTH = 12

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
            secret = secrets.token_urlsafe(32)
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
        record_failure(context, error, category="LOGIN", action="login", actor=actor, target=name)
        raise
    return LoginResult(secret, expires_at, AdminIdentity(user.name, user.role, session.id))


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
