"""The audit events of backup and restore: one each, in the chain, naming the archive."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from hostca.core.backup_archive import BackupArchiveInvalidError, ScryptParameters
from hostca.datadir import DataDir
from hostca.service.audit_service import verify_events
from hostca.service.backup import BackupRequest, create_backup, restore_backup
from hostca.service.server_setup import InitRequest, initialize_server, open_context

PASSPHRASE = "backup passphrase for tests"
FAST_SCRYPT = ScryptParameters(log2_n=12, r=8, p=1)
EVENTS = "SELECT sequence, category, action, actor, target, outcome, details FROM audit_events"


def events(database: Path) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(database)
    try:
        return connection.execute(EVENTS + " ORDER BY sequence").fetchall()
    finally:
        connection.close()


def chain_intact(data_dir: Path) -> bool:
    context = open_context(DataDir(data_dir), ca_passphrase=None, database_url=None)
    try:
        _count, breaks = verify_events(context)
    finally:
        context.database.dispose()
    return breaks == []


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    initialize_server(InitRequest(data_dir=root, name="primary.example.test"))
    return root


def test_backup_and_restore_are_audited(data_dir: Path, tmp_path: Path) -> None:
    before = events(data_dir / "hostca.db")
    out = tmp_path / "primary.hcab"

    create_backup(
        BackupRequest(data_dir=data_dir, out=out, passphrase=PASSPHRASE, scrypt=FAST_SCRYPT)
    )
    restore_backup(out, tmp_path / "restored", PASSPHRASE)

    archive_sha256 = hashlib.sha256(out.read_bytes()).hexdigest()
    source = events(data_dir / "hostca.db")
    restored = events(tmp_path / "restored" / "hostca.db")
    # The backup's event follows the snapshot, so the archive contains the events before it.
    assert source[:-1] == before
    assert restored[:-1] == before
    backup_event, restore_event = source[-1], restored[-1]
    assert backup_event[1:6] == (
        "SEC_CONFIG",
        "backup",
        "hostca-backup",
        archive_sha256,
        "success",
    )
    assert restore_event[1:6] == (
        "SEC_CONFIG",
        "restore",
        "hostca-restore",
        archive_sha256,
        "success",
    )
    backup_details = json.loads(str(backup_event[6]))
    restore_details = json.loads(str(restore_event[6]))
    assert backup_details["path"] == str(out)
    assert backup_details["size"] == out.stat().st_size
    assert restore_details["backup_created_at"] == backup_details["created_at"]
    assert restore_details["data_dir"] == str(tmp_path / "restored")
    assert PASSPHRASE not in repr(source) + repr(restored)
    assert chain_intact(data_dir)
    assert chain_intact(tmp_path / "restored")


def test_rejected_restore_writes_no_event(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "primary.hcab"
    create_backup(
        BackupRequest(data_dir=data_dir, out=out, passphrase=PASSPHRASE, scrypt=FAST_SCRYPT)
    )
    after_backup = events(data_dir / "hostca.db")

    with pytest.raises(BackupArchiveInvalidError):
        restore_backup(out, tmp_path / "restored", "not the backup passphrase")

    assert not (tmp_path / "restored").exists()
    assert events(data_dir / "hostca.db") == after_backup
