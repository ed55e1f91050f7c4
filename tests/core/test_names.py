"""Tests for host name normalization."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.provisional import domains

from hostca.core.errors import InvalidRequestError
from hostca.core.names import (
    InvalidNameError,
    is_ip_address,
    normalize_name,
    normalize_names,
    split_names,
)

# Text that mixes digits, dots and the letters of hex and octal forms, which is
# where numeric-looking names hide.
numeric_looking = st.text(alphabet="0123456789.xXabcdefABCDEF", min_size=1, max_size=20)
ip_addresses = st.ip_addresses()


def label(length: int) -> str:
    return "a" * length


# Three labels of 63 and dots take 192 characters, so the last label sets the length.
NAME_OF_253 = ".".join([label(63)] * 3 + [label(61)])
NAME_OF_254 = ".".join([label(63)] * 3 + [label(62)])


# Properties


@given(st.text(max_size=40))
def test_normalize_idempotent_any_text(raw: str) -> None:
    try:
        normalized = normalize_name(raw)
    except InvalidNameError:
        return
    assert normalize_name(normalized) == normalized


@given(st.text(max_size=40) | domains(max_length=253))
def test_dns_result_is_ascii_ldh(raw: str) -> None:
    try:
        normalized = normalize_name(raw)
    except InvalidNameError:
        return
    if is_ip_address(normalized):
        return

    assert set(normalized) <= set("abcdefghijklmnopqrstuvwxyz0123456789-.")
    assert 1 <= len(normalized) <= 253
    assert all(1 <= len(part) <= 63 for part in normalized.split("."))


@given(domains(max_length=253))
def test_normalize_idempotent_domains(domain: str) -> None:
    try:
        normalized = normalize_name(domain)
    except InvalidNameError as error:
        # domains() may produce an "xn--" label that is not valid punycode.
        assert error.details["rule"] == "idna"
        return
    assert normalize_name(normalized) == normalized


@given(domains(max_length=253))
def test_case_and_trailing_dot_variants_equal(domain: str) -> None:
    try:
        expected = normalize_name(domain)
    except InvalidNameError:
        return

    assert normalize_name(domain.upper()) == expected
    assert normalize_name(domain.swapcase()) == expected
    assert normalize_name(domain + ".") == expected
    assert normalize_name(f"  {domain.upper()}.\t") == expected


@given(ip_addresses)
def test_ip_addresses_round_trip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    normalized = normalize_name(str(address))

    assert normalized == str(address)
    assert is_ip_address(normalized)
    assert ipaddress.ip_address(normalized) == address


@given(st.ip_addresses(v=6))
def test_ipv6_forms_become_compressed(address: ipaddress.IPv6Address) -> None:
    assert normalize_name(address.exploded.upper()) == str(address)
    assert normalize_name(f"[{address.exploded}]") == str(address)


@given(ip_addresses)
def test_ip_literal_never_dns_name(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    dns_names, addresses = split_names([normalize_name(str(address))])

    assert dns_names == []
    assert addresses == [address]


@given(numeric_looking)
@example("1.2.3")
@example("01.2.3.4")
@example("0x7f.1")
@example("127.1")
def test_numeric_text_never_dns_name(raw: str) -> None:
    """Whatever the resolver would read as an IPv4 address must not pass as a DNS name."""
    try:
        normalized = normalize_name(raw)
    except InvalidNameError:
        return
    if is_ip_address(normalized):
        return
    with pytest.raises(OSError):
        socket.inet_aton(normalized)


# Accepted names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("web01", "web01"),
        ("localhost", "localhost"),
        ("Web-01.Example.TEST.", "web-01.example.test"),
        ("  web-01.example.test  ", "web-01.example.test"),
        ("1.example", "1.example"),
        ("example.123a", "example.123a"),
        ("a--b.example", "a--b.example"),
        ("192.0.2.10", "192.0.2.10"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[::1]", "::1"),
        ("::ffff:192.0.2.1", str(ipaddress.ip_address("::ffff:192.0.2.1"))),
    ],
)
def test_normalize_accepts(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.EXAMPLE", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("XN--BCHER-KVA.Example.", "xn--bcher-kva.example"),
        # IDNA 2008 keeps sharp s (UTS 46 non-transitional), unlike IDNA 2003.
        ("straße.de", "xn--strae-oqa.de"),
        ("bücher。example", "xn--bcher-kva.example"),
        # Full-width "web" and full stop, which UTS 46 maps to ASCII.
        ("\uff57\uff45\uff42\uff0eexample", "web.example"),
        ("例え.テスト", "xn--r8jz45g.xn--zckzah"),
    ],
)
def test_normalize_idn(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


def test_normalize_names_dedupes_in_order() -> None:
    raws = ["B.example", "a.example", "b.example.", "192.0.2.1", "A.EXAMPLE", "[::1]", "::1"]

    assert normalize_names(raws) == ["b.example", "a.example", "192.0.2.1", "::1"]


def test_normalize_names_raises_on_invalid() -> None:
    with pytest.raises(InvalidNameError) as caught:
        normalize_names(["a.example", "bad_name.example"])

    assert caught.value.details["name"] == "bad_name.example"


def test_split_names_keeps_order() -> None:
    names = ["web.example", "192.0.2.2", "web", "2001:db8::1", "192.0.2.1"]

    dns_names, addresses = split_names(names)

    assert dns_names == ["web.example", "web"]
    assert addresses == [
        ipaddress.IPv4Address("192.0.2.2"),
        ipaddress.IPv6Address("2001:db8::1"),
        ipaddress.IPv4Address("192.0.2.1"),
    ]


def test_is_ip_address_false_for_dns() -> None:
    assert not is_ip_address("web.example")
    assert not is_ip_address("localhost")


# Length boundaries


def test_label_of_63_accepted() -> None:
    assert normalize_name(f"{label(63)}.example") == f"{label(63)}.example"


def test_label_of_64_rejected() -> None:
    with pytest.raises(InvalidNameError) as caught:
        normalize_name(f"{label(64)}.example")

    assert caught.value.details["rule"] == "label_too_long"
    assert "64 characters" in caught.value.message


def test_idn_label_of_63_accepted() -> None:
    # "ü" and 55 letters encode to "xn--", 55 letters, "-" and 3 more characters.
    normalized = normalize_name("ü" + label(55) + ".example")

    assert normalized == "xn--" + label(55) + "-oxf.example"
    assert len(normalized.split(".")[0]) == 63


def test_idn_label_of_64_rejected() -> None:
    with pytest.raises(InvalidNameError) as caught:
        normalize_name("ü" + label(56) + ".example")

    assert caught.value.details["rule"] == "label_too_long"
    assert "64 characters" in caught.value.message


def test_name_of_253_accepted() -> None:
    assert len(NAME_OF_253) == 253
    assert normalize_name(NAME_OF_253) == NAME_OF_253
    assert normalize_name(NAME_OF_253 + ".") == NAME_OF_253


def test_name_of_254_rejected() -> None:
    assert len(NAME_OF_254) == 254

    with pytest.raises(InvalidNameError) as caught:
        normalize_name(NAME_OF_254)

    assert caught.value.details["rule"] == "name_too_long"
    assert "254 characters" in caught.value.message


# Rejections


@pytest.mark.parametrize(
    ("raw", "rule", "hint"),
    [
        ("", "empty", "must not be empty"),
        ("   ", "empty", "must not be empty"),
        ("*.example.test", "wildcard", "wildcard"),
        ("web.*.example", "wildcard", "wildcard"),
        ("\uff0a.example.test", "wildcard", "wildcard"),  # full-width asterisk
        ("a..b", "empty_label", "empty label"),
        (".example", "empty_label", "empty label"),
        ("example..", "empty_label", "empty label"),
        (".", "empty_label", "empty label"),
        ("web_01.example.test", "invalid_character", "invalid character '_'"),
        ("web 01.example", "invalid_character", "invalid character ' '"),
        ("web/01", "invalid_character", "invalid character '/'"),
        ("web\n01", "invalid_character", "invalid character '\\n'"),
        ("-web.example", "hyphen", "hyphen"),
        ("web-.example", "hyphen", "hyphen"),
        ("1.2.3", "numeric", "not a valid IP address, and not a valid DNS name"),
        ("01.2.3.4", "numeric", "not a valid IP address, and not a valid DNS name"),
        ("999.1.1.1", "numeric", "not a valid IP address, and not a valid DNS name"),
        ("1.2.3.4.", "numeric", "not a valid IP address, and not a valid DNS name"),
        ("12345", "numeric", "not a valid IP address, and not a valid DNS name"),
        ("0x7f000001", "numeric", "not a valid IP address, and not a valid DNS name"),
        ("web.0x1f", "numeric", "not a valid IP address, and not a valid DNS name"),
        ("[192.0.2.1]", "ip_literal", "only IPv6"),
        ("[web.example]", "ip_literal", "not a valid IPv6 address"),
        ("[2001:db8::1", "invalid_character", "invalid character '['"),
        ("fe80::1%eth0", "ip_zone", "zone ID"),
        ("1:2:3", "invalid_character", "invalid character ':'"),
        ("xn--zz.example", "idna", "not a valid IDNA 2008 A-label"),
        ("xn--bcher-kva-.example", "hyphen", "hyphen"),
        ("a\u200db.example", "idna", "IDNA 2008"),
        ("\u0301a.example", "idna", "IDNA 2008"),
        ("☃.example", "idna", "IDNA 2008"),
    ],
)
def test_normalize_rejects(raw: str, rule: str, hint: str) -> None:
    with pytest.raises(InvalidNameError) as caught:
        normalize_name(raw)

    error = caught.value
    assert isinstance(error, InvalidRequestError)
    assert error.code == "name_invalid"
    assert error.status == 400
    assert error.details == {"name": raw, "rule": rule}
    assert hint in error.message


@pytest.mark.parametrize(
    "raw",
    ["web_01.example.test", "*.example.test", "1.2.3", "a..b", "xn--zz.example", "[1.2.3.4]"],
)
def test_message_starts_with_name(raw: str) -> None:
    with pytest.raises(InvalidNameError) as caught:
        normalize_name(raw)

    assert caught.value.message.startswith(f"{raw}: ")


def test_message_quotes_unprintable_name() -> None:
    with pytest.raises(InvalidNameError) as caught:
        normalize_name("web\n01")

    assert caught.value.message.startswith("'web\\n01': ")


def test_message_cuts_long_name() -> None:
    raw = "_" * 5000

    with pytest.raises(InvalidNameError) as caught:
        normalize_name(raw)

    assert len(caught.value.message) < 300
    assert caught.value.details["name"] == raw


def test_invalid_character_message_exact() -> None:
    with pytest.raises(InvalidNameError) as caught:
        normalize_name("web_01.example.test")

    assert caught.value.message == (
        "web_01.example.test: label 'web_01' has an invalid character '_'; "
        "use letters, digits and hyphens."
    )
