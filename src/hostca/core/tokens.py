"""Token values, token names, and the validity of a token.

A token value is 16 upper-case letters A to Z from ``secrets``, about 75 bits.
It is shown once at creation and never stored. The database keeps its
HMAC-SHA-256 under a server secret, so a leaked database does not reveal
usable values.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import unicodedata
from datetime import UTC, datetime, timedelta

from hostca.core.errors import InvalidRequestError, UnauthorizedError

__all__ = [
    "DEFAULT_VALIDITY",
    "MAX_REASON_LENGTH",
    "MAX_VALIDITY",
    "TOKEN_VALUE_LENGTH",
    "TokenValueError",
    "canonicalize_token_value",
    "generate_token_value",
    "hash_token_value",
    "parse_duration",
    "parse_timestamp",
    "resolve_valid_until",
    "token_value_matches",
    "validate_reason",
    "validate_token_name",
]

TOKEN_VALUE_LENGTH = 16
TOKEN_VALUE_ALPHABET = string.ascii_uppercase
MAX_VALIDITY = timedelta(days=999)
DEFAULT_VALIDITY = timedelta(hours=24)
MAX_REASON_LENGTH = 512

_TOKEN_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_TOKEN_VALUE_SEPARATORS = re.compile(r"[\s-]+")
# Days, hours and minutes, in that order, each at most once. ``[0-9]`` and not
# ``\d``, which would also match digits of other scripts.
_DURATION = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?", re.IGNORECASE)
_DURATION_FORM = "write days, hours and minutes in that order, such as 2d, 4h30m or 1d2h3m"
_SHOWN_LENGTH = 80


class TokenValueError(UnauthorizedError):
    """A token value that is malformed or matches no token.

    The message is the same whatever the cause, so that it reveals nothing about
    which tokens exist. ``details["cause"]`` (such as ``malformed`` or
    ``not_found``) is for the audit event, not for the caller.
    """

    default_code = "token_invalid"

    def __init__(self, *, cause: str) -> None:
        super().__init__(
            "Token value is invalid; check it or ask an administrator for a new token. "
            "A token value is 16 letters A to Z, and case, spaces and dashes do not matter.",
            details={"cause": cause},
        )


def generate_token_value() -> str:
    """Return a new token value: 16 upper-case letters from a cryptographic source."""
    return "".join(secrets.choice(TOKEN_VALUE_ALPHABET) for _ in range(TOKEN_VALUE_LENGTH))


def canonicalize_token_value(raw: str) -> str:
    """Return the canonical form of a token value as a user typed it, or raise TokenValueError.

    Case, whitespace and dashes do not matter, so ``abcd-efgh ijkl-mnop`` is
    ``ABCDEFGHIJKLMNOP``. Only ASCII letters count, and the check runs before
    upper-casing because ``str.upper`` turns ``ß`` into ``SS``.
    """
    compact = _TOKEN_VALUE_SEPARATORS.sub("", raw)
    if len(compact) != TOKEN_VALUE_LENGTH or not (compact.isascii() and compact.isalpha()):
        raise TokenValueError(cause="malformed")
    return compact.upper()


def hash_token_value(secret: bytes, value: str) -> str:
    """Return the HMAC-SHA-256, in lower-case hex, of the canonical form of a token value.

    Raises TokenValueError when the value is malformed, and ValueError when the
    server secret is empty, because an HMAC under an empty key protects nothing.
    """
    if not secret:
        raise ValueError("the token HMAC secret must not be empty")
    canonical = canonicalize_token_value(value)
    return hmac.new(secret, canonical.encode("ascii"), hashlib.sha256).hexdigest()


def token_value_matches(secret: bytes, value: str, stored_hash: str) -> bool:
    """Return whether a token value has the stored hash, comparing in constant time.

    Raises TokenValueError when the value is malformed.
    """
    computed = hash_token_value(secret, value)
    return hmac.compare_digest(computed.encode("ascii"), stored_hash.encode("utf-8"))


def validate_token_name(name: str) -> str:
    """Return a token name unchanged, or raise InvalidRequestError (``token_name_invalid``)."""
    if not _TOKEN_NAME.fullmatch(name):
        raise InvalidRequestError(
            f"{_shown(name)}: invalid token name; use 1 to 64 characters of letters, "
            "digits, '.', '_' and '-'.",
            code="token_name_invalid",
            details={"name": name},
        )
    return name


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as ``2d``, ``4h30m`` or ``1d2h3m`` (any case).

    Raises InvalidRequestError (``duration_invalid``) for any other form and for
    a duration of zero.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        raise InvalidRequestError(
            f"{_shown(text)}: invalid duration; {_DURATION_FORM}.",
            code="duration_invalid",
            details={"duration": text},
        )

    days, hours, minutes = (int(group or 0) for group in match.groups())
    try:
        duration = timedelta(days=days, hours=hours, minutes=minutes)
    except OverflowError:
        raise InvalidRequestError(
            f"{_shown(text)}: the duration is too long; give at most {MAX_VALIDITY.days}d.",
            code="duration_invalid",
            details={"duration": text},
        ) from None

    if duration <= timedelta(0):
        raise InvalidRequestError(
            f"{_shown(text)}: a duration must be longer than zero; {_DURATION_FORM}.",
            code="duration_invalid",
            details={"duration": text},
        )
    return duration


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO 8601 timestamp that carries a UTC offset or ``Z``, and return it in UTC.

    A timestamp without an offset is rejected rather than read in some local
    time zone. Raises InvalidRequestError (``timestamp_invalid``).
    """
    try:
        timestamp = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequestError(
            f"{_shown(text)}: invalid timestamp; use ISO 8601 with an offset, "
            "such as 2030-01-31T12:00:00+00:00 or 2030-01-31T12:00:00Z.",
            code="timestamp_invalid",
            details={"timestamp": text},
        ) from None

    if timestamp.utcoffset() is None:
        raise InvalidRequestError(
            f"{_shown(text)}: the timestamp has no UTC offset; add one, such as +00:00 or Z.",
            code="timestamp_invalid",
            details={"timestamp": text},
        )
    return timestamp.astimezone(UTC)


def resolve_valid_until(
    now: datetime, *, valid_for: str | None, valid_until: str | None
) -> datetime:
    """Return when a new token expires, in UTC, from at most one of the two options.

    Without either option the token is valid for ``DEFAULT_VALIDITY``. The
    result must lie after ``now`` and at most ``MAX_VALIDITY`` after it.
    ``now`` must be timezone-aware.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    now = now.astimezone(UTC)

    if valid_for is not None and valid_until is not None:
        raise InvalidRequestError(
            f"valid_for {_shown(valid_for)} and valid_until {_shown(valid_until)}: "
            "give only one of them.",
            details={"valid_for": valid_for, "valid_until": valid_until},
        )
    if valid_for is not None:
        expires = now + parse_duration(valid_for)
        option_value = valid_for
    elif valid_until is not None:
        expires = parse_timestamp(valid_until)
        option_value = valid_until
    else:
        return now + DEFAULT_VALIDITY

    if expires <= now:
        raise InvalidRequestError(
            f"{_shown(option_value)}: the expiry time {_format(expires)} is not in the future; "
            "give a later time.",
            code="timestamp_invalid",
            details={"valid_until": _format(expires)},
        )
    if expires - now > MAX_VALIDITY:
        raise InvalidRequestError(
            f"{_shown(option_value)}: a token may be valid for at most {MAX_VALIDITY.days} days, "
            f"that is until {_format(now + MAX_VALIDITY)}; give a shorter validity.",
            code="validity_too_long",
            details={"valid_until": _format(expires)},
        )
    return expires


def validate_reason(reason: str | None) -> str | None:
    """Return a reason with surrounding whitespace removed, and None for a blank one.

    Raises InvalidRequestError (``reason_too_long``) when the reason has more
    than ``MAX_REASON_LENGTH`` characters, and (``reason_invalid``) when it holds
    a control character or a bidirectional formatting character. Those would let
    a reason display differently from what is stored, in the console, the CLI
    and audit exports.
    """
    if reason is None:
        return None

    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidRequestError(
            f"Reason of {len(reason)} characters is too long; "
            f"shorten it to at most {MAX_REASON_LENGTH}.",
            code="reason_too_long",
            details={"length": len(reason)},
        )
    hidden = sorted({f"U+{ord(c):04X}" for c in reason if _is_hidden_character(c)})
    if hidden:
        raise InvalidRequestError(
            f"the reason contains control or text-direction characters ({', '.join(hidden)}); "
            "write it as plain text on one line.",
            code="reason_invalid",
            details={"characters": hidden},
        )
    return reason or None


# Unicode's explicit bidirectional formatting characters (UAX #9, section 2).
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def _is_hidden_character(character: str) -> bool:
    return unicodedata.category(character) == "Cc" or character in _BIDI_CONTROLS


def _format(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _shown(value: str) -> str:
    """Return a value for a message, quoted when it would not read plainly."""
    text = value if value and value.isprintable() and value == value.strip() else repr(value)
    if len(text) > _SHOWN_LENGTH:
        text = text[: _SHOWN_LENGTH - 1] + "…"
    return text
