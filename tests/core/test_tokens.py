"""Tests for token values, token names, durations and validity."""

from __future__ import annotations

import hashlib
import hmac
import string
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostca.core.errors import InvalidRequestError, UnauthorizedError
from hostca.core.tokens import (
    DEFAULT_VALIDITY,
    MAX_VALIDITY,
    TOKEN_VALUE_LENGTH,
    TokenValueError,
    canonicalize_token_value,
    generate_token_value,
    hash_token_value,
    parse_duration,
    parse_timestamp,
    resolve_valid_until,
    token_value_matches,
    validate_reason,
    validate_token_name,
)

SECRET = b"server-secret-for-tests"
VALUE = "ABCDEFGHIJKLMNOP"
NOW = datetime(2030, 1, 15, 12, 0, 0, 123456, tzinfo=UTC)


# Token values


def test_generate_alphabet_and_length() -> None:
    for _ in range(200):
        value = generate_token_value()

        assert len(value) == TOKEN_VALUE_LENGTH == 16
        assert set(value) <= set(string.ascii_uppercase)


def test_generate_unique_and_spread() -> None:
    values = [generate_token_value() for _ in range(2000)]

    assert len(set(values)) == len(values)
    # 32,000 uniform letters miss one of 26 with a probability below 1e-500.
    assert set("".join(values)) == set(string.ascii_uppercase)


@pytest.mark.parametrize(
    "raw",
    [
        "ABCDEFGHIJKLMNOP",
        "abcdefghijklmnop",
        "AbCdEfGhIjKlMnOp",
        "abcd-efgh ijkl-mnop",
        "ABCD-EFGH-IJKL-MNOP",
        "ABCD EFGH IJKL MNOP",
        "  abcdefghijklmnop\n",
        "abcd--efgh\tijkl - mnop",
    ],
)
def test_canonicalize_accepts_variants(raw: str) -> None:
    assert canonicalize_token_value(raw) == VALUE


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ABCDEFGHIJKLMNO",
        "ABCDEFGHIJKLMNOPQ",
        "ABCDEFGHIJKLMN0P",
        "ABCDEFGHIJKLMNO_",
        "ABCDEFGHIJKLMNOÄ",
        # "ß".upper() is "SS", which must not turn 15 characters into 16 letters.
        "ABCDEFGHIJKLMNß",
        "ABCD.EFGH.IJKL.MNOP",
    ],
)
def test_canonicalize_rejects(raw: str) -> None:
    with pytest.raises(TokenValueError) as caught:
        canonicalize_token_value(raw)

    error = caught.value
    assert isinstance(error, UnauthorizedError)
    assert error.code == "token_invalid"
    assert error.status == 401
    assert error.details == {"cause": "malformed"}


def test_token_error_hides_value() -> None:
    raw = "QWERTYUIOPASDFGHX"

    with pytest.raises(TokenValueError) as caught:
        canonicalize_token_value(raw)

    assert raw not in str(caught.value)
    assert raw[:16] not in str(caught.value)
    assert raw not in repr(caught.value.details)


def test_token_error_message_independent_of_cause() -> None:
    assert TokenValueError(cause="malformed").message == TokenValueError(cause="not_found").message


def test_hash_is_hmac_sha256_of_canonical() -> None:
    expected = hmac.new(SECRET, VALUE.encode(), hashlib.sha256).hexdigest()

    assert hash_token_value(SECRET, VALUE) == expected
    assert hash_token_value(SECRET, "abcd-efgh ijkl-mnop") == expected


def test_hash_depends_on_secret() -> None:
    assert hash_token_value(SECRET, VALUE) != hash_token_value(b"other secret", VALUE)


def test_hash_rejects_empty_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        hash_token_value(b"", VALUE)


def test_matches_true_for_same_value() -> None:
    stored = hash_token_value(SECRET, VALUE)

    assert token_value_matches(SECRET, VALUE, stored)
    assert token_value_matches(SECRET, "abcd efgh-ijkl mnop", stored)


def test_matches_false_for_other_value() -> None:
    stored = hash_token_value(SECRET, VALUE)

    assert not token_value_matches(SECRET, "ABCDEFGHIJKLMNOQ", stored)
    assert not token_value_matches(b"other secret", VALUE, stored)
    assert not token_value_matches(SECRET, VALUE, stored.upper())
    assert not token_value_matches(SECRET, VALUE, "")
    assert not token_value_matches(SECRET, VALUE, "é" * 64)


def test_matches_raises_for_malformed_value() -> None:
    stored = hash_token_value(SECRET, VALUE)

    with pytest.raises(TokenValueError):
        token_value_matches(SECRET, "short", stored)


# Token names


@pytest.mark.parametrize("name", ["a", "web-01", "Renamed_Host.2030", "x" * 64, "-._"])
def test_token_name_accepted(name: str) -> None:
    assert validate_token_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "x" * 65, "has space", "slash/name", "tab\tname", "ünicode", "trailing\n"]
)
def test_token_name_rejected(name: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_token_name(name)

    error = caught.value
    assert error.code == "token_name_invalid"
    assert error.details == {"name": name}
    assert "1 to 64 characters" in error.message


def test_token_name_message_starts_with_name() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_token_name("has space")

    assert caught.value.message.startswith("has space: ")


# Durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2d", timedelta(days=2)),
        ("4h30m", timedelta(hours=4, minutes=30)),
        ("1d2h3m", timedelta(days=1, hours=2, minutes=3)),
        ("90m", timedelta(minutes=90)),
        ("2D4H", timedelta(days=2, hours=4)),
        ("1d30m", timedelta(days=1, minutes=30)),
        ("0d1m", timedelta(minutes=1)),
        ("999d", timedelta(days=999)),
        (" 24h ", timedelta(hours=24)),
    ],
)
def test_parse_duration_accepts(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "0m",
        "0d0h0m",
        "2x",
        "h",
        "d",
        "4m2h",
        "2h1d",
        "1d1d",
        "2h 30m",
        "-1d",
        "+1d",
        "1.5h",
        "30",
        "1w",
        "PT4H",
        "٣d",
        "99999999999999999999d",
    ],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_duration(text)

    error = caught.value
    assert error.code == "duration_invalid"
    assert error.details == {"duration": text}


def test_parse_duration_message_shows_form() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_duration("4m2h")

    assert caught.value.message == (
        "4m2h: invalid duration; write days, hours and minutes in that order, "
        "such as 2d, 4h30m or 1d2h3m."
    )


def test_parse_duration_zero_message() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_duration("0m")

    assert caught.value.message.startswith("0m: a duration must be longer than zero")


@given(
    days=st.integers(0, 5000),
    hours=st.integers(0, 500),
    minutes=st.integers(0, 5000),
    upper=st.booleans(),
)
def test_parse_duration_round_trip(days: int, hours: int, minutes: int, upper: bool) -> None:
    text = "".join(
        f"{amount}{unit}" for amount, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if amount
    )
    if not text:
        return
    if upper:
        text = text.upper()

    assert parse_duration(text) == timedelta(days=days, hours=hours, minutes=minutes)


# Timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-31T12:00:00Z", datetime(2030, 1, 31, 12, tzinfo=UTC)),
        ("2030-01-31T12:00:00+00:00", datetime(2030, 1, 31, 12, tzinfo=UTC)),
        ("2030-01-31T14:30:00+02:30", datetime(2030, 1, 31, 12, tzinfo=UTC)),
        ("2030-01-31T07:00:00-05:00", datetime(2030, 1, 31, 12, tzinfo=UTC)),
        ("2030-01-31 12:00:00.5Z", datetime(2030, 1, 31, 12, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_accepts(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)

    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["2030-01-31T12:00:00", "2030-01-31", "2030-01-31T12:00"])
def test_parse_timestamp_rejects_missing_offset(text: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_timestamp(text)

    error = caught.value
    assert error.code == "timestamp_invalid"
    assert error.message.startswith(f"{text}: ")
    assert "+00:00" in error.message
    assert "or Z" in error.message


@pytest.mark.parametrize("text", ["", "tomorrow", "2030-13-01T00:00:00Z", "31/01/2030 12:00Z"])
def test_parse_timestamp_rejects_malformed(text: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_timestamp(text)

    assert caught.value.code == "timestamp_invalid"
    assert "ISO 8601" in caught.value.message


# Validity


def test_resolve_default_24_hours() -> None:
    valid_until = resolve_valid_until(NOW, valid_for=None, valid_until=None)

    assert valid_until == NOW + timedelta(hours=24)
    assert valid_until == NOW + DEFAULT_VALIDITY


def test_resolve_valid_for() -> None:
    assert resolve_valid_until(NOW, valid_for="4h30m", valid_until=None) == NOW + timedelta(
        hours=4, minutes=30
    )


def test_resolve_valid_until_in_utc() -> None:
    valid_until = resolve_valid_until(NOW, valid_for=None, valid_until="2030-01-16T14:00:00+02:00")

    assert valid_until == datetime(2030, 1, 16, 12, tzinfo=UTC)
    assert valid_until.tzinfo is UTC


def test_resolve_converts_now_to_utc() -> None:
    local_now = NOW.astimezone(timezone(timedelta(hours=-7)))

    valid_until = resolve_valid_until(local_now, valid_for="1h", valid_until=None)

    assert valid_until == NOW + timedelta(hours=1)
    assert valid_until.tzinfo is UTC


def test_resolve_rejects_both() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        resolve_valid_until(NOW, valid_for="2d", valid_until="2030-01-16T12:00:00Z")

    assert caught.value.code == "invalid_request"
    assert "only one" in caught.value.message


def test_resolve_rejects_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_valid_until(NOW.replace(tzinfo=None), valid_for=None, valid_until=None)


def test_resolve_rejects_past() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        resolve_valid_until(NOW, valid_for=None, valid_until="2030-01-15T11:59:00Z")

    assert caught.value.code == "timestamp_invalid"
    assert caught.value.message.startswith("2030-01-15T11:59:00Z: ")
    assert "not in the future" in caught.value.message


def test_resolve_rejects_now_itself() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        resolve_valid_until(NOW, valid_for=None, valid_until=NOW.isoformat())

    assert caught.value.code == "timestamp_invalid"


def test_resolve_999_days_accepted() -> None:
    exact = NOW + MAX_VALIDITY

    assert resolve_valid_until(NOW, valid_for="999d", valid_until=None) == exact
    assert resolve_valid_until(NOW, valid_for=None, valid_until=exact.isoformat()) == exact


@pytest.mark.parametrize(
    ("valid_for", "valid_until"),
    [
        ("999d1m", None),
        ("1000d", None),
        (None, (NOW + MAX_VALIDITY + timedelta(minutes=1)).isoformat()),
        (None, (NOW + MAX_VALIDITY + timedelta(microseconds=1)).isoformat()),
    ],
)
def test_resolve_over_999_days_rejected(valid_for: str | None, valid_until: str | None) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        resolve_valid_until(NOW, valid_for=valid_for, valid_until=valid_until)

    assert caught.value.code == "validity_too_long"
    assert "at most 999 days" in caught.value.message


def test_resolve_invalid_duration_propagates() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        resolve_valid_until(NOW, valid_for="4m2h", valid_until=None)

    assert caught.value.code == "duration_invalid"


# Reasons


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("host renamed", "host renamed"),
        ("  host renamed\n", "host renamed"),
        ("x" * 512, "x" * 512),
        ("ü" * 512, "ü" * 512),
    ],
)
def test_validate_reason_accepts(reason: str | None, expected: str | None) -> None:
    assert validate_reason(reason) == expected


def test_validate_reason_rejects_513() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_reason("x" * 513)

    error = caught.value
    assert error.code == "reason_too_long"
    assert error.details == {"length": 513}
    assert "513 characters" in error.message
    assert "at most 512" in error.message


@pytest.mark.parametrize("reason", ["left\u202eright", "two\nlines", "tab\there", "nul\x00"])
def test_reason_with_hidden_characters_rejected(reason: str) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        validate_reason(reason)
    assert raised.value.code == "reason_invalid"
    assert "U+" in raised.value.message
