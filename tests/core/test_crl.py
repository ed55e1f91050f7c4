"""Tests of hostca.core.crl: reason codes, CRL contents, pkilint and openssl verify."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID

from hostca.core.crl import (
    DEFAULT_NEXT_UPDATE,
    MAX_CRL_NUMBER,
    REASON_CODES,
    ReasonCodeInvalidError,
    RevokedEntry,
    build_crl,
    parse_reason_code,
    reason_code_name,
)
from hostca.core.keys import SigningKey, check_ca_private_key, generate_private_key
from hostca.core.profile import (
    DEFAULT_LIFETIME,
    HostCertificateRequest,
    build_ca_certificate,
    build_host_certificate,
    generate_serial_number,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
LINT_CRL = Path(sys.executable).parent / "lint_crl"

ALL_REASONS = [
    ("unspecified", 0, x509.ReasonFlags.unspecified),
    ("key-compromise", 1, x509.ReasonFlags.key_compromise),
    ("ca-compromise", 2, x509.ReasonFlags.ca_compromise),
    ("affiliation-changed", 3, x509.ReasonFlags.affiliation_changed),
    ("superseded", 4, x509.ReasonFlags.superseded),
    ("cessation-of-operation", 5, x509.ReasonFlags.cessation_of_operation),
    ("privilege-withdrawn", 9, x509.ReasonFlags.privilege_withdrawn),
]


class Issuer:
    def __init__(self, key: SigningKey, certificate: x509.Certificate) -> None:
        self.key = key
        self.certificate = certificate


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    key = check_ca_private_key(generate_private_key("ec-p256"))
    certificate = build_ca_certificate(key, common_name="CRL Test CA", organization=None, now=NOW)
    return Issuer(key, certificate)


def crl_for(
    issuer: Issuer, entries: list[RevokedEntry], crl_number: int = 1
) -> x509.CertificateRevocationList:
    return build_crl(
        entries,
        crl_number=crl_number,
        this_update=NOW,
        next_update=NOW + DEFAULT_NEXT_UPDATE,
        ca_certificate=issuer.certificate,
        ca_key=issuer.key,
    )


# Reason codes.


def test_reason_code_names() -> None:
    assert list(REASON_CODES) == [name for name, _, _ in ALL_REASONS]


@pytest.mark.parametrize(("name", "number", "flag"), ALL_REASONS)
def test_parse_reason_code_forms(name: str, number: int, flag: x509.ReasonFlags) -> None:
    assert parse_reason_code(name) is flag
    assert parse_reason_code(number) is flag
    assert parse_reason_code(str(number)) is flag
    assert parse_reason_code(f"  {name.upper()} ") is flag
    assert parse_reason_code(name.replace("-", "_")) is flag
    assert parse_reason_code(flag.value) is flag  # the RFC 5280 camelCase name
    assert reason_code_name(flag) == name


@pytest.mark.parametrize(
    "text",
    [6, 8, 7, 10, -1, "6", "8", "certificate-hold", "remove-from-crl", "aa-compromise", "", "x"],
)
def test_parse_reason_code_rejected(text: str | int) -> None:
    with pytest.raises(ReasonCodeInvalidError) as caught:
        parse_reason_code(text)

    assert caught.value.code == "reason_code_invalid"
    assert caught.value.status == 400
    assert caught.value.message == (
        f"{text!r}: not an accepted revocation reason code; use one of unspecified, "
        "key-compromise, ca-compromise, affiliation-changed, superseded, "
        "cessation-of-operation, privilege-withdrawn (or its RFC 5280 number 0-5 or 9)."
    )


def test_parse_reason_code_rejects_bool() -> None:
    with pytest.raises(ReasonCodeInvalidError):
        parse_reason_code(True)


def test_reason_code_name_of_unaccepted_flags() -> None:
    assert reason_code_name(x509.ReasonFlags.certificate_hold) == "certificate-hold"
    assert reason_code_name(x509.ReasonFlags.remove_from_crl) == "remove-from-crl"
    assert reason_code_name(x509.ReasonFlags.aa_compromise) == "aa-compromise"


# CRL contents.


def test_empty_crl(issuer: Issuer) -> None:
    crl = crl_for(issuer, [], crl_number=42)

    assert len(crl) == 0
    assert crl.issuer == issuer.certificate.subject
    assert crl.last_update_utc == NOW
    assert crl.next_update_utc == NOW + timedelta(days=7)
    assert crl.is_signature_valid(issuer.key.public_key())
    assert isinstance(crl.signature_hash_algorithm, hashes.SHA256)
    criticality = {extension.oid: extension.critical for extension in crl.extensions}
    assert criticality == {
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER: False,
        ExtensionOID.CRL_NUMBER: False,
    }
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 42


def test_crl_authority_key_identifier(issuer: Issuer) -> None:
    crl = crl_for(issuer, [])

    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.key_identifier == ca_ski.value.digest


def test_crl_entries_and_reason_codes(issuer: Issuer) -> None:
    entries = [
        RevokedEntry(
            serial_number=1000 + index, revocation_date=NOW - timedelta(hours=index), reason=flag
        )
        for index, (_, _, flag) in enumerate(ALL_REASONS)
    ]

    crl = crl_for(issuer, entries)

    assert [revoked.serial_number for revoked in crl] == [entry.serial_number for entry in entries]
    for entry, revoked in zip(entries, crl, strict=True):
        assert revoked.revocation_date_utc == entry.revocation_date
        extension_oids = [extension.oid for extension in revoked.extensions]
        if entry.reason is x509.ReasonFlags.unspecified:
            # RFC 5280 5.3.1: no reasonCode extension rather than "unspecified".
            assert extension_oids == []
        else:
            assert extension_oids == [CRLEntryExtensionOID.CRL_REASON]
            reason = revoked.extensions.get_extension_for_class(x509.CRLReason)
            assert reason.value.reason is entry.reason
            assert not reason.critical


def test_build_crl_avoids_add_revoked_certificate(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # add_revoked_certificate copies the list on every call, which makes a loop
    # over it quadratic in the number of entries.
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("build_crl must pass revoked_certificates to the constructor")

    monkeypatch.setattr(x509.CertificateRevocationListBuilder, "add_revoked_certificate", fail)
    entries = [
        RevokedEntry(serial_number=serial, revocation_date=NOW, reason=x509.ReasonFlags.superseded)
        for serial in range(1, 5001)
    ]

    crl = crl_for(issuer, entries)

    assert len(crl) == 5000


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"crl_number": -1}, "crl_number -1 is not in 0..2**159-1"),
        ({"crl_number": MAX_CRL_NUMBER + 1}, "is not in 0..2**159-1"),
        ({"next_update": NOW}, "is not after this_update"),
        ({"this_update": datetime(2026, 3, 1)}, "must be timezone-aware"),
    ],
)
def test_build_crl_invalid_arguments(
    issuer: Issuer, changes: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {
        "crl_number": 1,
        "this_update": NOW,
        "next_update": NOW + DEFAULT_NEXT_UPDATE,
        "ca_certificate": issuer.certificate,
        "ca_key": issuer.key,
    }
    arguments.update(changes)

    with pytest.raises(ValueError, match=re.escape(message)):
        build_crl([], **arguments)  # type: ignore[arg-type]


def test_crl_number_accepts_maximum(issuer: Issuer) -> None:
    crl = crl_for(issuer, [], crl_number=MAX_CRL_NUMBER)

    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == MAX_CRL_NUMBER


def test_crl_p384_signs_with_sha384() -> None:
    key = check_ca_private_key(generate_private_key("ec-p384"))
    certificate = build_ca_certificate(key, common_name="P-384 CA", organization=None, now=NOW)

    crl = crl_for(Issuer(key, certificate), [])

    assert isinstance(crl.signature_hash_algorithm, hashes.SHA384)
    assert crl.is_signature_valid(key.public_key())


# pkilint, RFC 5280 CRL linter.


def lint_crl(crl: x509.CertificateRevocationList, tmp_path: Path) -> list[tuple[str, str]]:
    """Run lint_crl with the PKIX profile and return each ERROR or FATAL finding."""
    path = tmp_path / "crl.pem"
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    completed = subprocess.run(
        [str(LINT_CRL), "lint", "-t", "CRL", "-p", "PKIX", "-f", "JSON", "-s", "ERROR", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.stderr == ""
    return [
        (description["code"], description["message"])
        for result in json.loads(completed.stdout)["results"]
        for description in result["finding_descriptions"]
        if description["severity"] in ("ERROR", "FATAL")
    ]


def test_pkilint_empty_crl(issuer: Issuer, tmp_path: Path) -> None:
    assert lint_crl(crl_for(issuer, []), tmp_path) == []


def test_pkilint_crl_with_entries(issuer: Issuer, tmp_path: Path) -> None:
    entries = [
        RevokedEntry(serial_number=generate_serial_number(), revocation_date=NOW, reason=flag)
        for _, _, flag in ALL_REASONS
    ]

    assert lint_crl(crl_for(issuer, entries), tmp_path) == []


# Real verification with the openssl CLI.


def write_pem(path: Path, item: x509.Certificate | x509.CertificateRevocationList) -> Path:
    path.write_bytes(item.public_bytes(serialization.Encoding.PEM))
    return path


def openssl_verify(
    ca: Path, crl: Path, host: Path, purpose: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "openssl",
            "verify",
            "-x509_strict",
            "-purpose",
            purpose,
            "-attime",
            str(int(NOW.timestamp())),
            "-CAfile",
            str(ca),
            "-crl_check",
            "-CRLfile",
            str(crl),
            str(host),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def issue_host_certificate(issuer: Issuer, key_type: str) -> x509.Certificate:
    request = HostCertificateRequest(
        host_id=uuid.uuid4(),
        dns_names=("web-01.example.test",),
        ip_addresses=(ipaddress.IPv4Address("127.0.0.1"),),
        public_key=generate_private_key(key_type).public_key(),
        serial_number=generate_serial_number(),
        now=NOW - timedelta(hours=1),
        lifetime=DEFAULT_LIFETIME,
        crl_url="https://127.0.0.1:1556/api/v1/crl",
        ca_issuers_url="https://127.0.0.1:1556/api/v1/ca?format=pem",
    )
    return build_host_certificate(request, issuer.certificate, issuer.key)


@pytest.mark.parametrize("key_type", ["ec-p256", "rsa-2048", "ed25519"])
def test_openssl_verify_good_and_revoked(issuer: Issuer, key_type: str, tmp_path: Path) -> None:
    good = issue_host_certificate(issuer, key_type)
    revoked = issue_host_certificate(issuer, key_type)
    crl = crl_for(
        issuer,
        [
            RevokedEntry(
                serial_number=revoked.serial_number,
                revocation_date=NOW - timedelta(minutes=1),
                reason=x509.ReasonFlags.key_compromise,
            )
        ],
    )
    ca_path = write_pem(tmp_path / "ca.pem", issuer.certificate)
    crl_path = write_pem(tmp_path / "crl.pem", crl)
    good_path = write_pem(tmp_path / "good.pem", good)
    revoked_path = write_pem(tmp_path / "revoked.pem", revoked)

    for purpose in ("sslserver", "sslclient"):
        accepted = openssl_verify(ca_path, crl_path, good_path, purpose)
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        assert accepted.stdout.strip() == f"{good_path}: OK"

        rejected = openssl_verify(ca_path, crl_path, revoked_path, purpose)
        assert rejected.returncode != 0
        assert "certificate revoked" in rejected.stdout + rejected.stderr


def test_openssl_verify_empty_crl(issuer: Issuer, tmp_path: Path) -> None:
    host = issue_host_certificate(issuer, "ec-p256")
    ca_path = write_pem(tmp_path / "ca.pem", issuer.certificate)
    crl_path = write_pem(tmp_path / "crl.pem", crl_for(issuer, []))
    host_path = write_pem(tmp_path / "host.pem", host)

    completed = openssl_verify(ca_path, crl_path, host_path, "sslserver")

    assert completed.returncode == 0, completed.stdout + completed.stderr
