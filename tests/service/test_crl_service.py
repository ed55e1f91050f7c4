"""CRL publication from the database, on SQLite or on PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import CRLEntryExtensionOID

from hostca.core.crl import ReasonCodeInvalidError
from hostca.datadir import DataDir
from hostca.service.context import ServiceContext
from hostca.service.crl_service import KEPT_CRLS, current_crl, publish_crl
from hostca.service.server_setup import InitRequest, initialize_server, open_context
from hostca.store import certificate_records, host_records

from conftest import fresh_database_url

NOW = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)

# (status, days until not_after, stored reason, expected reason), one row per certificate.
CERTIFICATES = [
    ("revoked", 30, "key-compromise", x509.ReasonFlags.key_compromise),
    ("revoked", 30, "ca-compromise", x509.ReasonFlags.ca_compromise),
    ("revoked", 30, "affiliation-changed", x509.ReasonFlags.affiliation_changed),
    ("revoked", 30, "superseded", x509.ReasonFlags.superseded),
    ("revoked", 30, "cessation-of-operation", x509.ReasonFlags.cessation_of_operation),
    ("revoked", 30, "privilege-withdrawn", x509.ReasonFlags.privilege_withdrawn),
    ("revoked", 30, "unspecified", x509.ReasonFlags.unspecified),
    # Another spelling that parse_reason_code accepts.
    ("revoked", 30, "keyCompromise", x509.ReasonFlags.key_compromise),
    # Expired, so not listed.
    ("revoked", -1, "superseded", None),
    ("valid", 30, None, None),
    ("superseded", 30, None, None),
]


@pytest.fixture
def context(tmp_path: Path) -> Iterator[ServiceContext]:
    data_dir = tmp_path / "data"
    initialize_server(
        InitRequest(
            data_dir=data_dir, name="primary.example.test", database_url=fresh_database_url()
        )
    )
    opened = open_context(DataDir(data_dir), ca_passphrase=None, database_url=None)
    yield dataclasses.replace(opened, clock=lambda: NOW)
    opened.database.dispose()


def add_certificates(
    context: ServiceContext, rows: list[tuple[str, int, str | None]]
) -> dict[int, tuple[datetime, str]]:
    """Insert certificates given as (status, days until not_after, reason).

    Return the revocation time (whole seconds) and stored reason of each certificate
    that the CRL must list, by serial number.
    """
    expected: dict[int, tuple[datetime, str]] = {}
    with context.database.transaction() as connection:
        host_id = host_records.create_host(connection, "revoked.example.test", NOW)
        for index, (status, days, reason) in enumerate(rows):
            serial = 0x4000_0000 + index * 0x1_0001
            # Microseconds and seconds differ per row, to catch rows matched to wrong times.
            revoked_at = NOW - timedelta(hours=1 + index, seconds=index, microseconds=index)
            certificate_records.insert_certificate(
                connection,
                serial_number=f"{serial:X}",
                host_id=host_id,
                status=status,
                names=["revoked.example.test"],
                not_before=NOW - timedelta(days=60),
                not_after=NOW + timedelta(days=days),
                issued_at=NOW - timedelta(days=60),
                revoked_at=revoked_at if status == "revoked" else None,
                revocation_reason=reason,
                fingerprint_sha256="00",
                key_type="ec-p256",
                pem="",
            )
            if status == "revoked" and days > 0:
                assert reason is not None
                expected[serial] = (revoked_at.replace(microsecond=0), reason)
    return expected


def test_crl_lists_revoked_unexpired(context: ServiceContext) -> None:
    expected = add_certificates(context, [row[:3] for row in CERTIFICATES])
    flags = {row[2]: row[3] for row in CERTIFICATES if row[3] is not None}

    published = publish_crl(context)
    crl = x509.load_der_x509_crl(published.der)

    assert published.entries == len(expected) == 8
    assert sorted(entry.serial_number for entry in crl) == sorted(expected)
    for entry in crl:
        revoked_at, reason = expected[entry.serial_number]
        assert entry.revocation_date_utc == revoked_at
        flag = flags[reason]
        if flag is x509.ReasonFlags.unspecified:
            assert list(entry.extensions) == []
        else:
            extension = entry.extensions.get_extension_for_oid(CRLEntryExtensionOID.CRL_REASON)
            assert extension.value == x509.CRLReason(flag)
            assert extension.critical is False


def test_crl_entries_span_batches(context: ServiceContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(certificate_records, "REVOKED_BATCH_ROWS", 4)
    expected = add_certificates(context, [("revoked", 30, "superseded")] * 10)

    crl = x509.load_der_x509_crl(publish_crl(context).der)

    assert sorted(entry.serial_number for entry in crl) == sorted(expected)
    assert [entry.revocation_date_utc for entry in crl] == [
        expected[entry.serial_number][0] for entry in crl
    ]


def test_crl_unknown_stored_reason_rejected(context: ServiceContext) -> None:
    add_certificates(context, [("revoked", 30, "certificate-hold")])

    with pytest.raises(ReasonCodeInvalidError):
        publish_crl(context)


def test_old_crls_deleted_after_publication(context: ServiceContext) -> None:
    published = [publish_crl(context) for _ in range(KEPT_CRLS + 2)]

    with context.database.engine.connect() as connection:
        numbers = [
            row[0]
            for row in connection.exec_driver_sql("SELECT crl_number FROM crls ORDER BY crl_number")
        ]

    assert numbers == [crl.crl_number for crl in published[-KEPT_CRLS:]]
    assert current_crl(context).crl_number == published[-1].crl_number
    assert publish_crl(context).crl_number == published[-1].crl_number + 1


def test_revoked_rows_come_in_batches(
    context: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(certificate_records, "REVOKED_BATCH_ROWS", 4)
    add_certificates(context, [("revoked", 30, "superseded")] * 10)

    with context.database.transaction() as connection:
        sizes = [len(rows) for rows in certificate_records.revoked_unexpired(connection, NOW)]

    assert sizes == [4, 4, 2]


@pytest.mark.postgresql_only
def test_postgresql_reads_revoked_rows_through_server_cursor(
    context: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(certificate_records, "REVOKED_BATCH_ROWS", 4)
    add_certificates(context, [("revoked", 30, "superseded")] * 10)

    with context.database.transaction() as connection:
        batches = certificate_records.revoked_unexpired(connection, NOW)
        next(batches)
        open_cursors = connection.exec_driver_sql("SELECT count(*) FROM pg_cursors").scalar_one()
        batches.close()

    assert open_cursors == 1
