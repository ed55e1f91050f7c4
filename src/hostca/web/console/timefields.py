"""Times entered in the browser's time zone, stored in UTC.

A ``datetime-local`` field holds a wall-clock time without a zone. The console's
script adds a hidden ``<field>_utc`` with the same instant in UTC, which the
browser computes in its own time zone. Without the script, the field is read as
UTC, and the field's label names UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hostca.core.errors import InvalidRequestError

__all__ = ["parse_browser_time"]


def parse_browser_time(local: str, utc: str, field: str) -> datetime | None:
    text = (utc or local).strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestError(
            f"{text}: {field} is not a date and time; use the form YYYY-MM-DD HH:MM.",
            code="timestamp_invalid",
            details={"field": field},
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
