"""API key values, names and hashes.

A key value is ``hca_`` followed by 32 bytes (256 bits) from ``secrets`` in
URL-safe base64. The prefix distinguishes a key from a session secret in the same
``Authorization: Bearer`` header. The database keeps only the SHA-256 of the value.
A keyed hash would add nothing here: unlike a 16-letter token value, a 256-bit
random value cannot be found from its SHA-256 by trying candidates, and a plain
hash does not tie the keys to the token HMAC secret of one server.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from hostca.core.errors import InvalidRequestError

__all__ = [
    "API_KEY_PREFIX",
    "MAX_API_KEY_LIFETIME",
    "api_key_matches",
    "generate_api_key_value",
    "hash_api_key_value",
    "looks_like_api_key",
    "validate_api_key_name",
]

API_KEY_PREFIX = "hca_"
API_KEY_RANDOM_BYTES = 32
MAX_API_KEY_LIFETIME = timedelta(days=999)

_API_KEY_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def generate_api_key_value() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(API_KEY_RANDOM_BYTES)


def looks_like_api_key(credential: str) -> bool:
    """Return whether a bearer credential has the API key prefix (and so is not a session)."""
    return credential.startswith(API_KEY_PREFIX)


def hash_api_key_value(value: str) -> str:
    """Return the SHA-256, in lower-case hex, of an API key value."""
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def api_key_matches(value: str, stored_hash: str) -> bool:
    """Return whether a key value has the stored hash, comparing in constant time."""
    computed = hash_api_key_value(value)
    return hmac.compare_digest(computed.encode("ascii"), stored_hash.encode("utf-8"))


def validate_api_key_name(name: str) -> str:
    """Return an API key name unchanged, or raise InvalidRequestError (``apikey_name_invalid``)."""
    if not _API_KEY_NAME.fullmatch(name):
        raise InvalidRequestError(
            f"{name!r}: invalid API key name; use 1 to 64 letters, digits, '.', '_' and '-'.",
            code="apikey_name_invalid",
        )
    return name
