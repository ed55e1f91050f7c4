"""Tests of hostca.core.fingerprints, checked against the openssl CLI."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from hostca.core.fingerprints import (
    FingerprintInvalidError,
    fingerprint,
    fingerprints_match,
    normalize_fingerprint,
)
from hostca.core.keys import check_ca_private_key, generate_private_key
from hostca.core.profile import build_ca_certificate

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
CERTIFICATE = build_ca_certificate(
    check_ca_private_key(generate_private_key("ec-p256")),
    common_name="Fingerprint Test CA",
    organization=None,
    now=NOW,
)
OTHER_CERTIFICATE = build_ca_certificate(
    check_ca_private_key(generate_private_key("ec-p256")),
    common_name="Other CA",
    organization=None,
    now=NOW,
)


def openssl_fingerprint(tmp_path: Path, digest: str) -> str:
    path = tmp_path / "ca.pem"
    path.write_bytes(CERTIFICATE.public_bytes(serialization.Encoding.PEM))
    completed = subprocess.run(
        ["openssl", "x509", "-in", str(path), "-noout", "-fingerprint", f"-{digest}"],
        capture_output=True,
        text=True,
        check=True,
    )
    # openssl prints "sha256 Fingerprint=AB:CD:..."
    return completed.stdout.strip().split("=", 1)[1]


@pytest.mark.parametrize(("algorithm", "length"), [("sha256", 32), ("sha1", 20)])
def test_fingerprint_matches_openssl(algorithm: str, length: int, tmp_path: Path) -> None:
    value = fingerprint(CERTIFICATE, algorithm)  # type: ignore[arg-type]

    assert value == openssl_fingerprint(tmp_path, algorithm)
    assert len(value.split(":")) == length
    assert value == value.upper()


def test_normalize_fingerprint_forms() -> None:
    expected = fingerprint(CERTIFICATE, "sha256")
    bare = expected.replace(":", "")

    assert normalize_fingerprint(expected) == expected
    assert normalize_fingerprint(bare) == expected
    assert normalize_fingerprint(bare.lower()) == expected
    assert normalize_fingerprint(f"  {expected.lower()}\n") == expected
    assert normalize_fingerprint(fingerprint(CERTIFICATE, "sha1").lower()) == fingerprint(
        CERTIFICATE, "sha1"
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "AB:CD",
        "G" * 64,
        "A" * 63,
        "A" * 65,
        "A" * 48,  # 24 bytes: neither SHA-1 nor SHA-256
        "AB CD " * 32,
        "sha256 Fingerprint=" + "AB:" * 31 + "AB",
    ],
)
def test_normalize_fingerprint_invalid(text: str) -> None:
    with pytest.raises(FingerprintInvalidError) as caught:
        normalize_fingerprint(text)

    assert caught.value.code == "fingerprint_invalid"
    assert caught.value.status == 400
    assert caught.value.message == (
        f"{text.strip()!r}: not a certificate fingerprint; give the SHA-256 fingerprint "
        "as 64 hex digits (or SHA-1 as 40), with or without colons."
    )


@given(digest=st.binary(min_size=32, max_size=32), lower=st.booleans(), colons=st.booleans())
def test_normalize_fingerprint_round_trip(digest: bytes, lower: bool, colons: bool) -> None:
    canonical = digest.hex(":").upper()
    text = digest.hex(":") if colons else digest.hex()
    text = text.lower() if lower else text.upper()

    assert normalize_fingerprint(text) == canonical
    assert normalize_fingerprint(canonical) == canonical


def test_fingerprints_match() -> None:
    sha256 = fingerprint(CERTIFICATE, "sha256")
    sha1 = fingerprint(CERTIFICATE, "sha1")

    assert fingerprints_match(CERTIFICATE, sha256)
    assert fingerprints_match(CERTIFICATE, sha256.replace(":", "").lower())
    assert fingerprints_match(CERTIFICATE, sha1)
    assert not fingerprints_match(OTHER_CERTIFICATE, sha256)
    assert not fingerprints_match(OTHER_CERTIFICATE, sha1)


def test_fingerprints_match_invalid_text() -> None:
    with pytest.raises(FingerprintInvalidError):
        fingerprints_match(CERTIFICATE, "not a fingerprint")
