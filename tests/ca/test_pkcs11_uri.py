"""Parsing of the PKCS #11 URIs (RFC 7512) that name the CA key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostca.ca.pkcs11_uri import Pkcs11UriInvalidError, parse_pkcs11_uri


def test_uri_with_token_and_object() -> None:
    uri = parse_pkcs11_uri("pkcs11:token=hostca;object=root-ca")

    assert uri.token == "hostca"
    assert uri.object_label == "root-ca"
    assert uri.object_id is None
    assert uri.token_serial is None
    assert uri.module_path is None
    assert uri.text == "pkcs11:token=hostca;object=root-ca"


def test_uri_with_every_supported_attribute() -> None:
    uri = parse_pkcs11_uri(
        "pkcs11:token=Root%20CA%20token;object=ca%3Bkey;id=%01%a2;type=private;"
        "serial=4f2c9a?module-path=/usr/lib/softhsm/libsofthsm2.so"
    )

    assert uri.token == "Root CA token"
    assert uri.object_label == "ca;key"
    assert uri.object_id == b"\x01\xa2"
    assert uri.token_serial == "4f2c9a"
    assert uri.module_path == Path("/usr/lib/softhsm/libsofthsm2.so")


def test_uri_scheme_is_case_insensitive() -> None:
    assert parse_pkcs11_uri("PKCS11:token=t;object=o").token == "t"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("token=t;object=o", "does not start with 'pkcs11:'"),
        ("pkcs11:object=o", "token= and object= are both required"),
        ("pkcs11:token=t", "token= and object= are both required"),
        ("pkcs11:token=;object=o", "token= and object= are both required"),
        ("pkcs11:token=t;object=o;type=public", "type=public does not name a private key"),
        ("pkcs11:token=t;object=o;slot-id=3", "attribute 'slot-id' is not supported"),
        ("pkcs11:token=t;object=o?module-name=softhsm2", "attribute 'module-name'"),
        ("pkcs11:token=t;token=u;object=o", "attribute 'token' appears twice"),
        ("pkcs11:token=t;object", "'object' is not of the form name=value"),
        ("pkcs11:token=%ff;object=o", "the value of token is not UTF-8 text"),
    ],
)
def test_uri_rejected(text: str, problem: str) -> None:
    with pytest.raises(Pkcs11UriInvalidError) as caught:
        parse_pkcs11_uri(text)

    assert caught.value.code == "pkcs11_uri_invalid"
    assert problem in caught.value.message
    assert repr(text) in caught.value.message


@pytest.mark.parametrize("attribute", ["pin-value=1234", "pin-source=file:/tmp/pin"])
def test_uri_with_pin_rejected_without_echo(attribute: str) -> None:
    with pytest.raises(Pkcs11UriInvalidError) as caught:
        parse_pkcs11_uri(f"pkcs11:token=t;object=o?{attribute}")

    assert "--ca-pin-file" in caught.value.message
    assert attribute.split("=", 1)[1] not in caught.value.message
