"""Backup and restore of a data directory: round trip, rejected archives, file modes."""

from __future__ import annotations

import itertools
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostca.core.backup_archive import BackupArchiveInvalidError, ScryptParameters
from hostca.core.errors import ConflictError, HostcaError, InvalidRequestError
from hostca.datadir import DataDir
from hostca.service.audit_service import verify_events
from hostca.service.backup import BackupRequest, create_backup, restore_backup
from hostca.service.server_setup import InitRequest, initialize_server, open_context

from conftest import PrimaryServer, fresh_database_url, init_server, start_server, stop_server
from e2e_helpers import openssl_csr

# These servers are initialized in this process, on SQLite.
pytestmark = pytest.mark.sqlite_only

PASSPHRASE = "backup passphrase for tests"
# Cheaper than the default (n = 2**17), so that the many archives below are quick.
FAST_SCRYPT = ScryptParameters(log2_n=12, r=8, p=1)

# Tables whose rows a restored primary must have unchanged.
COMPARED_TABLES = ("hosts", "host_names", "certificates", "tokens", "users")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def table_rows(database: Path, table: str) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(database)
    try:
        return sorted(connection.execute(f"SELECT * FROM {table}").fetchall(), key=repr)  # noqa: S608 -- table names come from COMPARED_TABLES
    finally:
        connection.close()


def audit_rows(database: Path) -> list[tuple[object, ...]]:
    """The audit events as (sequence, category, action, ...), in chain order."""
    connection = sqlite3.connect(database)
    try:
        return connection.execute(
            "SELECT sequence, category, action, actor, target, details, event_hash "
            "FROM audit_events ORDER BY sequence"
        ).fetchall()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("backup-source") / "data"
    initialize_server(InitRequest(data_dir=root, name="primary.example.test"))
    return root


@pytest.fixture(scope="module")
def archive(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("backup-archive") / "primary.hcab"
    create_backup(
        BackupRequest(data_dir=data_dir, out=out, passphrase=PASSPHRASE, scrypt=FAST_SCRYPT)
    )
    return out.read_bytes()


CERTIFICATE_SERIALS = "SELECT serial_number FROM certificates"
AUDITED_SERIALS = "SELECT target FROM audit_events WHERE category = 'CERT'"


def sqlite_rows(database: Path, query: str) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(database)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


def wait_for_more(items: list[str], count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(items) < count:
        assert time.monotonic() < deadline, f"only {len(items)} of {count} enrolments done"
        time.sleep(0.05)


def snapshot_of_tree(root: Path) -> list[tuple[str, bytes]]:
    return sorted(
        (str(path.relative_to(root)), path.read_bytes() if path.is_file() else b"")
        for path in root.rglob("*")
    )


def assert_rejected_untouched(archive_bytes: bytes, tmp_path: Path, passphrase: str) -> None:
    """Restore into a new and into an empty directory; both must fail and write nothing."""
    path = tmp_path / "candidate.hcab"
    path.write_bytes(archive_bytes)
    absent = tmp_path / "parent" / "absent"
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)

    for target in (absent, empty):
        with pytest.raises(BackupArchiveInvalidError) as raised:
            restore_backup(path, target, passphrase)
        assert raised.value.code == "backup_invalid"
        assert "\n" not in str(raised.value)
    assert not absent.parent.exists()
    assert list(empty.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["candidate.hcab", "empty"]


# Round trip


@pytest.fixture(scope="module")
def running_primary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrimaryServer]:
    tmp = tmp_path_factory.mktemp("backup-primary")
    init_server(tmp / "data", tmp)
    server = start_server(tmp / "data", tmp / "server.log")
    yield server
    stop_server(server)


@pytest.mark.e2e
def test_round_trip_keeps_identity(running_primary: PrimaryServer, tmp_path: Path) -> None:
    server = running_primary
    _key, csr = openssl_csr(tmp_path, "kept.example.test")
    with server.client() as client:
        enrolled = client.post(
            "/api/v1/enroll",
            json={"csr": csr.read_text(), "token": server.create_token("kept-enrol")},
        )
    assert enrolled.status_code == 200, enrolled.text
    host_id = enrolled.json()["host_id"]
    added = server.admin(
        "POST", f"/api/v1/hosts/{host_id}/mappings", json={"name": "kept-alias.example.test"}
    )
    assert added.status_code in (200, 201), added.text
    server.create_token("kept-unused", max_uses=5)

    # Taken while the server runs, then compared once it has stopped writing.
    out = tmp_path / "primary.hcab"
    result = create_backup(BackupRequest(data_dir=server.data_dir, out=out, passphrase=PASSPHRASE))
    stop_server(server)
    restored = tmp_path / "restored"
    restore_result = restore_backup(out, restored, PASSPHRASE)

    assert restore_result.ca_sha256 == result.ca_sha256
    source, copy = DataDir(server.data_dir), DataDir(restored)
    assert (copy.ca_dir / "ca.cert.pem").read_bytes() == (
        source.ca_dir / "ca.cert.pem"
    ).read_bytes()
    assert (copy.ca_dir / "ca.key.pem").read_bytes() == (source.ca_dir / "ca.key.pem").read_bytes()
    assert copy.read_token_hmac_key() == source.read_token_hmac_key()
    assert copy.read_config() == source.read_config()
    assert copy.tls_key.read_bytes() == source.tls_key.read_bytes()
    for table in COMPARED_TABLES:
        assert table_rows(copy.database, table) == table_rows(source.database, table), table
    # Each side's chain ends in its own event: the backup's on the source, the restore's
    # on the copy (tests/service/test_backup_audit.py checks those).
    assert audit_rows(copy.database)[:-1] == audit_rows(source.database)[:-1]
    assert [audit_rows(db)[-1][2] for db in (source.database, copy.database)] == [
        "backup",
        "restore",
    ]
    names = [row[2] for row in table_rows(copy.database, "host_names")]
    assert "kept-alias.example.test" in names

    context = open_context(copy, ca_passphrase=None, database_url=None)
    try:
        count, breaks = verify_events(context)
    finally:
        context.database.dispose()
    assert count > 0
    assert breaks == []


@pytest.mark.e2e
def test_backup_during_enrolments_consistent(tmp_path: Path) -> None:
    init_server(tmp_path / "data", tmp_path)
    server = start_server(tmp_path / "data", tmp_path / "server.log")
    stop = threading.Event()
    failures: list[str] = []
    enrolled: list[str] = []

    def enrol_until_stopped() -> None:
        token = server.create_token("busy", max_uses=10_000)
        with server.client() as client:
            for number in itertools.count():
                if stop.is_set():
                    return
                _key, csr = openssl_csr(tmp_path, f"busy-{number}.example.test")
                answer = client.post(
                    "/api/v1/enroll", json={"csr": csr.read_text(), "token": token}
                )
                if answer.status_code == 200:
                    enrolled.append(answer.json()["serial_number"])
                else:
                    failures.append(answer.text)

    writer = threading.Thread(target=enrol_until_stopped)
    writer.start()
    try:
        archives = []
        for index in range(3):
            # Each backup starts after at least one more enrolment, with more under way.
            wait_for_more(enrolled, len(enrolled) + 1)
            out = tmp_path / f"busy-{index}.hcab"
            create_backup(
                BackupRequest(
                    data_dir=server.data_dir, out=out, passphrase=PASSPHRASE, scrypt=FAST_SCRYPT
                )
            )
            archives.append(out)
    finally:
        stop.set()
        writer.join(timeout=60)
        stop_server(server)

    assert failures == []
    certificate_counts = []
    for archive_path in archives:
        restored = tmp_path / f"restored-{archive_path.stem}"
        restore_backup(archive_path, restored, PASSPHRASE)
        context = open_context(DataDir(restored), ca_passphrase=None, database_url=None)
        try:
            count, breaks = verify_events(context)
        finally:
            context.database.dispose()
        assert count > 0
        assert breaks == [], archive_path
        serials = {row[0] for row in sqlite_rows(restored / "hostca.db", CERTIFICATE_SERIALS)}
        audited = {row[0] for row in sqlite_rows(restored / "hostca.db", AUDITED_SERIALS)}
        assert serials <= audited, archive_path
        certificate_counts.append(len(serials))
    assert certificate_counts == sorted(set(certificate_counts))


def test_restore_sets_private_modes(archive: bytes, tmp_path: Path) -> None:
    path = tmp_path / "primary.hcab"
    path.write_bytes(archive)
    restored = tmp_path / "restored"

    result = restore_backup(path, restored, PASSPHRASE)

    assert "hostca.db" in result.files
    assert mode(restored) == 0o700
    for child in restored.rglob("*"):
        assert mode(child) == (0o700 if child.is_dir() else 0o600), child
    assert (restored / "hostca.db-wal").exists() is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["primary.hcab", "restored"]


def test_restore_into_existing_empty_dir(archive: bytes, tmp_path: Path) -> None:
    path = tmp_path / "primary.hcab"
    path.write_bytes(archive)
    target = tmp_path / "target"
    target.mkdir(mode=0o755)

    restore_backup(path, target, PASSPHRASE)

    assert DataDir(target).is_initialized()
    assert mode(target) == 0o700


def test_backup_archive_mode_0600(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "mode.hcab"
    create_backup(
        BackupRequest(data_dir=data_dir, out=out, passphrase=PASSPHRASE, scrypt=FAST_SCRYPT)
    )
    assert mode(out) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["mode.hcab"]


def test_backup_rejects_existing_out(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "existing.hcab"
    out.write_bytes(b"keep me")

    with pytest.raises(ConflictError) as raised:
        create_backup(
            BackupRequest(data_dir=data_dir, out=out, passphrase=PASSPHRASE, scrypt=FAST_SCRYPT)
        )

    assert raised.value.code == "file_exists"
    assert out.read_bytes() == b"keep me"


def test_backup_short_passphrase_rejected(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "short.hcab"
    with pytest.raises(InvalidRequestError) as raised:
        create_backup(BackupRequest(data_dir=data_dir, out=out, passphrase="eleven-char"))
    assert raised.value.code == "passphrase_too_short"
    assert not out.exists()


@pytest.mark.postgresql_only
def test_backup_of_external_database_holds_files_only(data_dir: Path, tmp_path: Path) -> None:
    # A server on PostgreSQL: the archive carries what a further replica needs, and
    # PostgreSQL's own tools back up the database. The backup event goes into it.
    out = tmp_path / "external.hcab"
    database_url = fresh_database_url()
    assert database_url is not None
    request = BackupRequest(
        data_dir=data_dir,
        out=out,
        passphrase=PASSPHRASE,
        database_url=database_url,
        scrypt=FAST_SCRYPT,
    )
    result = create_backup(request)
    assert "hostca.db" not in result.files
    assert {"server.json", "ca/ca.key.pem", "secrets/token-hmac.key"} <= set(result.files)

    restored = tmp_path / "replica"
    restore_backup(out, restored, PASSPHRASE)
    assert not (restored / "hostca.db").exists()
    assert (restored / "ca" / "ca.key.pem").read_bytes() == (
        data_dir / "ca" / "ca.key.pem"
    ).read_bytes()


def test_backup_uninitialized_dir_rejected(tmp_path: Path) -> None:
    with pytest.raises(HostcaError) as raised:
        create_backup(
            BackupRequest(
                data_dir=tmp_path / "none", out=tmp_path / "x.hcab", passphrase=PASSPHRASE
            )
        )
    assert raised.value.code == "not_initialized"


# Rejected archives


def test_wrong_passphrase_rejected(archive: bytes, tmp_path: Path) -> None:
    assert_rejected_untouched(archive, tmp_path, "not the backup passphrase")


@pytest.mark.parametrize("length", [0, 10, 40, 60, -1, -16, -17])
def test_truncated_archive_rejected(archive: bytes, tmp_path: Path, length: int) -> None:
    truncated = archive[:length]
    assert_rejected_untouched(truncated, tmp_path, PASSPHRASE)


@pytest.mark.parametrize(
    "offset",
    [
        pytest.param(0, id="magic"),
        pytest.param(8, id="version"),
        pytest.param(9, id="scrypt-n"),
        pytest.param(13, id="scrypt-r"),
        pytest.param(17, id="scrypt-p"),
        pytest.param(20, id="salt"),
        pytest.param(40, id="nonce"),
        pytest.param(60, id="ciphertext-start"),
        pytest.param(-100, id="ciphertext-end"),
        pytest.param(-1, id="tag"),
    ],
)
def test_flipped_byte_rejected(archive: bytes, tmp_path: Path, offset: int) -> None:
    altered = bytearray(archive)
    altered[offset] ^= 0x01
    assert_rejected_untouched(bytes(altered), tmp_path, PASSPHRASE)


def test_appended_byte_rejected(archive: bytes, tmp_path: Path) -> None:
    assert_rejected_untouched(archive + b"\x00", tmp_path, PASSPHRASE)


def test_restore_into_non_empty_dir_rejected(archive: bytes, tmp_path: Path) -> None:
    path = tmp_path / "primary.hcab"
    path.write_bytes(archive)
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "notes.txt").write_text("someone else's file")
    before = snapshot_of_tree(target)

    with pytest.raises(ConflictError) as raised:
        restore_backup(path, target, PASSPHRASE)

    assert raised.value.code == "data_dir_not_empty"
    assert snapshot_of_tree(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["occupied", "primary.hcab"]


def test_missing_archive_file_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        restore_backup(tmp_path / "absent.hcab", tmp_path / "target", PASSPHRASE)
    assert raised.value.code == "file_unreadable"
    assert not (tmp_path / "target").exists()
