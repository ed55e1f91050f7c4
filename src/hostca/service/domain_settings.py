"""Domain settings: the values administrators change with ``hostca settings``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from hostca.core.errors import InvalidRequestError, NotFoundError
from hostca.core.policy import SECURITY_LEVELS
from hostca.store import setting_records

__all__ = ["DomainSettings", "load_domain_settings", "parse_setting_value"]


@dataclass(frozen=True)
class DomainSettings:
    """Settings of the domain, stored in the database so every replica shares them."""

    security_level: str = "high"
    auto_map: bool = False
    certificate_lifetime_days: int = 365
    crl_next_update_hours: int = 168
    crl_refresh_minutes: int = 60
    rate_limit_failures: int = 10
    rate_limit_window_seconds: int = 300

    @property
    def certificate_lifetime(self) -> timedelta:
        return timedelta(days=self.certificate_lifetime_days)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_BOUNDS = {
    "certificate_lifetime_days": (1, 825),
    "crl_next_update_hours": (1, 24 * 30),
    "crl_refresh_minutes": (1, 60),
    "rate_limit_failures": (1, 10_000),
    "rate_limit_window_seconds": (10, 86_400),
}
_DESCRIPTIONS = {
    "security_level": "who gets a first certificate without a token: very-high, high or medium",
    "auto_map": "add discovered names that no other host uses as approved mappings: true or false",
    "certificate_lifetime_days": "lifetime of host certificates, in days (1 to 825)",
    "crl_next_update_hours": "hours from a CRL's thisUpdate to its nextUpdate (1 to 720)",
    "crl_refresh_minutes": "the CRL is regenerated at least this often, in minutes (1 to 60)",
    "rate_limit_failures": "failed logins, or failed token redemptions, that one source IP may "
    "make per window before it gets 429 (1 to 10000)",
    "rate_limit_window_seconds": "length of the rate limit window, in seconds (10 to 86400)",
}


def setting_keys() -> dict[str, str]:
    """Return each setting key with its description."""
    return dict(_DESCRIPTIONS)


def _normalize_key(key: str) -> str:
    normalized = key.strip().lower().replace("-", "_")
    if normalized not in {f.name for f in fields(DomainSettings)}:
        known = ", ".join(sorted(k.replace("_", "-") for k in _DESCRIPTIONS))
        raise NotFoundError(
            f"{key}: unknown setting; known settings are {known}.", code="setting_unknown"
        )
    return normalized


def parse_setting_value(key: str, raw: str | bool | int) -> tuple[str, Any]:
    """Check a key and value given by a user; return the stored key and typed value."""
    name = _normalize_key(key)
    text = str(raw).strip().lower()
    if name == "security_level":
        if text not in SECURITY_LEVELS:
            raise InvalidRequestError(
                f"{raw}: not a security level; use very-high, high or medium.",
                code="setting_invalid",
            )
        return name, text
    if name == "auto_map":
        if text in ("true", "on", "yes", "1"):
            return name, True
        if text in ("false", "off", "no", "0"):
            return name, False
        raise InvalidRequestError(f"{raw}: auto-map must be on or off.", code="setting_invalid")
    low, high = _BOUNDS[name]
    # int() also reads other scripts' digits and "1_000"; a setting is plain ASCII digits.
    number = int(text) if text.isascii() and text.lstrip("-").isdigit() else low - 1
    if not low <= number <= high:
        raise InvalidRequestError(
            f"{raw}: {name.replace('_', '-')} must be a whole number from {low} to {high}.",
            code="setting_invalid",
        )
    return name, number


def load_domain_settings(connection: Connection) -> DomainSettings:
    stored = setting_records.read_settings(connection)
    known = {f.name for f in fields(DomainSettings)}
    return replace(DomainSettings(), **{k: v for k, v in stored.items() if k in known})
