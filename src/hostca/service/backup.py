"""Back up a primary server's data directory into one encrypted archive, and restore it.

The archive contains the CA directory (the key file exactly as stored, so an
encrypted CA key stays encrypted under its own passphrase, and no key at all
when the CA key lives in a hardware security module), the TLS certificate
and key, every file of ``secrets/``, ``server.json``, a snapshot of the SQLite
database taken with SQLite's backup API, and a manifest. It is a tar stream
encrypted by ``hostca.core.backup_archive``.

Restore decrypts and checks the whole archive in memory, writes it into a
staging directory beside the target, checks the database there, and only then
renames the staging directory onto the target. A rejected archive leaves the
target as it was.

Both write a ``SEC_CONFIG`` audit event: a backup into the database it copied,
after the snapshot, and a restore into the restored database, before the rename.
Both events name the archive by its SHA-256, so an auditor can match a restore to
its backup.

NOTE: the archive is built and decrypted in memory, and one AES-GCM message
can be at most 2 GiB, so a larger database cannot be backed up this way.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pwd
import re
import secrets
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy.exc import SQLAlchemyError

from hostca.ca.keystore import CA_CERTIFICATE_FILE, CA_KEY_FILE
from hostca.core.backup_archive import (
    DEFAULT_SCRYPT,
    BackupArchiveInvalidError,
    ScryptParameters,
    check_new_passphrase,
    encrypt_archive,
    parse_archive,
)
from hostca.core.errors import ConflictError, InvalidRequestError, UnavailableError
from hostca.core.fingerprints import fingerprint
from hostca.datadir import DataDir, ServerConfig
from hostca.service.audit_log import append_event
from hostca.service.context import Actor, utc_now
from hostca.service.server_setup import database_url_for
from hostca.store.database import Database, normalize_database_url, sqlite_url
from hostca.store.sqlite_snapshot import SnapshotFailedError, check_integrity, snapshot_database

__all__ = ["BackupRequest", "BackupResult", "RestoreResult", "create_backup", "restore_backup"]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
DATABASE = "hostca.db"
CONFIG = "server.json"

# Directories copied whole, one level deep. server.lock and the SQLite -wal and
# -shm files are left out because they belong to a running process.
_COPIED_DIRECTORIES = ("ca", "tls", "secrets")
_REQUIRED = (
    MANIFEST,
    CONFIG,
    f"ca/{CA_CERTIFICATE_FILE}",
    "tls/server.cert.pem",
    "tls/server.key.pem",
    "secrets/token-hmac.key",
)
# Required too, unless the CA key lives in an HSM (ServerConfig.ca_key_uri).
_CA_KEY_MEMBER = f"ca/{CA_KEY_FILE}"
_MEMBER_NAME = re.compile(r"(?:(?:ca|tls|secrets)/)?[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class BackupRequest:
    data_dir: Path
    out: Path
    passphrase: str
    database_url: str | None = None
    scrypt: ScryptParameters = DEFAULT_SCRYPT


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    files: list[str]
    ca_sha256: str
    created_at: datetime
    # Set when the CA key lives in an HSM and so is not in the archive.
    ca_key_uri: str | None = None


@dataclass(frozen=True)
class RestoreResult:
    data_dir: Path
    files: list[str]
    ca_sha256: str
    primary_name: str
    ca_key_encrypted: bool
    created_at: str
    ca_key_uri: str | None = None


def create_backup(request: BackupRequest) -> BackupResult:
    """Write an encrypted archive of ``request.data_dir`` to the new file ``request.out``.

    Raises ``ConflictError`` when ``request.out`` exists, and
    ``BackupPassphraseInvalidError`` for a passphrase under 12 characters.
    """
    check_new_passphrase(request.passphrase)
    _reject_existing_output(request.out)
    layout = DataDir(request.data_dir)
    config = layout.read_config()
    embedded = _uses_embedded_database(layout, request.database_url)

    files = _collect_files(layout)
    if embedded:
        with tempfile.TemporaryDirectory(prefix="hostca-backup-") as staging:
            snapshot = Path(staging) / DATABASE
            snapshot_database(layout.database, snapshot)
            files[DATABASE] = snapshot.read_bytes()
    _check_complete(layout, config, files)

    ca_certificate = x509.load_pem_x509_certificate(files[f"ca/{CA_CERTIFICATE_FILE}"])
    ca_sha256 = fingerprint(ca_certificate, "sha256")
    names = sorted(files)
    created_at = utc_now()
    manifest = {
        "format": MANIFEST_FORMAT,
        "created_at": created_at.isoformat(),
        "hostca_version": version("hostca"),
        "primary_name": config.primary_name,
        "ca_sha256": ca_sha256,
        "files": names,
        "database": "embedded" if embedded else "external",
    }
    files[MANIFEST] = json.dumps(manifest, indent=2).encode()

    archive = encrypt_archive(_tar(files), request.passphrase, request.scrypt)
    _write_new_file(request.out, archive)
    _audit(
        database_url_for(layout, request.database_url),
        "backup",
        archive,
        {
            "path": str(request.out),
            "size": len(archive),
            "files": len(names),
            "ca_sha256": ca_sha256,
            "created_at": created_at.isoformat(),
        },
    )
    return BackupResult(
        path=request.out,
        size=len(archive),
        files=names,
        ca_sha256=ca_sha256,
        created_at=created_at,
        ca_key_uri=config.ca_key_uri,
    )


def restore_backup(archive_path: Path, data_dir: Path, passphrase: str) -> RestoreResult:
    """Restore the archive at ``archive_path`` into ``data_dir``, which must be empty or absent.

    Raises ``BackupArchiveInvalidError`` for a wrong passphrase or a truncated,
    altered or incomplete archive, and ``ConflictError`` for a non-empty
    ``data_dir``. In both cases nothing is written.
    """
    _check_restore_target(data_dir)
    archive = _read_archive(archive_path)
    files = _untar(parse_archive(archive).open(passphrase))
    manifest, config = _check_contents(files)

    details = {
        "path": str(archive_path),
        "data_dir": str(data_dir),
        "backup_created_at": str(manifest["created_at"]),
        "ca_sha256": str(manifest["ca_sha256"]),
    }

    def record_restore(staging: Path) -> None:
        # An archive of a server on PostgreSQL holds no database: restoring it sets up
        # a replica's files and changes nothing in the shared database.
        if DATABASE in files:
            _audit(sqlite_url(staging / DATABASE), "restore", archive, details)

    _install(files, data_dir, record_restore)
    return RestoreResult(
        data_dir=data_dir,
        files=sorted(name for name in files if name != MANIFEST),
        ca_sha256=str(manifest["ca_sha256"]),
        primary_name=config.primary_name,
        ca_key_encrypted=config.ca_key_encrypted,
        created_at=str(manifest["created_at"]),
        ca_key_uri=config.ca_key_uri,
    )


# Backup steps


def _reject_existing_output(out: Path) -> None:
    if out.exists() or out.is_symlink():
        raise ConflictError(
            f"{out}: the file already exists; give a new --out file, because a backup "
            "never overwrites one.",
            code="file_exists",
            details={"path": str(out)},
        )


def _uses_embedded_database(layout: DataDir, database_url: str | None) -> bool:
    """Whether the server's database is the SQLite file in its data directory."""
    url = normalize_database_url(database_url_for(layout, database_url))
    return url == normalize_database_url(sqlite_url(layout.database))


def _collect_files(layout: DataDir) -> dict[str, bytes]:
    files = {CONFIG: layout.config_file.read_bytes()}
    for directory in _COPIED_DIRECTORIES:
        path = layout.root / directory
        if not path.is_dir():
            continue
        for child in sorted(path.iterdir()):
            # Dot files are temporary files of an atomic write in progress.
            if child.is_file() and not child.name.startswith("."):
                files[f"{directory}/{child.name}"] = child.read_bytes()
    return files


def _required_files(config: ServerConfig) -> tuple[str, ...]:
    return _REQUIRED if config.ca_key_uri else (*_REQUIRED, _CA_KEY_MEMBER)


def _check_complete(layout: DataDir, config: ServerConfig, files: dict[str, bytes]) -> None:
    required = _required_files(config)
    missing = [name for name in required if name != MANIFEST and name not in files]
    if missing:
        raise InvalidRequestError(
            f"{layout.root}: {', '.join(missing)} missing, so a backup could not be "
            "restored; restore those files first, or back up a complete data directory.",
            code="data_dir_incomplete",
            details={"missing": missing},
        )


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(files[name]))
    return buffer.getvalue()


def _write_new_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically, and never over an existing file."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            os.fchmod(stream.fileno(), 0o600)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        # link(2), unlike rename(2), fails when the target exists, so a file created
        # since the first check is not replaced either.
        try:
            os.link(temporary, path)
        except FileExistsError:
            _reject_existing_output(path)
            raise
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_directory(path.parent)


# Restore steps


def _check_restore_target(data_dir: Path) -> None:
    if data_dir.exists() and not data_dir.is_dir():
        raise ConflictError(
            f"{data_dir}: exists and is not a directory; give an empty or new --data-dir.",
            code="data_dir_not_empty",
            details={"path": str(data_dir)},
        )
    if not DataDir(data_dir).is_empty():
        raise ConflictError(
            f"{data_dir}: the directory is not empty; restore into an empty or new --data-dir.",
            code="data_dir_not_empty",
            details={"path": str(data_dir)},
        )


def _read_archive(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InvalidRequestError(
            f"{path}: cannot read the backup file: {error.strerror or error}.",
            code="file_unreadable",
            details={"path": str(path)},
        ) from None


def _untar(payload: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:") as tar:
            for member in tar:
                _check_member(member, files)
                extracted = tar.extractfile(member)
                if extracted is None:
                    raise _damaged(f"{member.name}: has no content")
                files[member.name] = extracted.read()
    except tarfile.TarError as error:
        raise _damaged(f"the payload is not a readable tar stream ({error})") from None
    return files


def _check_member(member: tarfile.TarInfo, seen: dict[str, bytes]) -> None:
    # The payload passed the GCM tag check, so it is what a hostca backup wrote.
    # The checks still keep every file inside the target directory.
    if not member.isreg():
        raise _damaged(f"{member.name}: not a regular file")
    if not _MEMBER_NAME.fullmatch(member.name):
        raise _damaged(f"{member.name}: not a file name that a hostca backup contains")
    if member.name in seen:
        raise _damaged(f"{member.name}: appears twice")


def _check_contents(files: dict[str, bytes]) -> tuple[dict[str, Any], ServerConfig]:
    missing = [name for name in _REQUIRED if name not in files]
    if missing:
        raise _damaged(f"missing {', '.join(missing)}")
    try:
        manifest: dict[str, Any] = json.loads(files[MANIFEST])
        config = ServerConfig(**json.loads(files[CONFIG]))
        certificate = x509.load_pem_x509_certificate(files[f"ca/{CA_CERTIFICATE_FILE}"])
    except (ValueError, TypeError) as error:
        raise _damaged(f"a manifest, settings or CA file cannot be decoded ({error})") from None
    missing = [name for name in _required_files(config) if name not in files]
    if missing:
        raise _damaged(f"missing {', '.join(missing)}")
    if manifest.get("format") != MANIFEST_FORMAT:
        raise _damaged(f"manifest format {manifest.get('format')!r} is not {MANIFEST_FORMAT}")
    if manifest.get("ca_sha256") != fingerprint(certificate, "sha256"):
        raise _damaged("the CA certificate does not match the fingerprint in the manifest")
    # Archives written before PostgreSQL support name no database and hold SQLite.
    if manifest.get("database", "embedded") == "embedded" and DATABASE not in files:
        raise _damaged(f"missing {DATABASE}")
    return manifest, config


def _damaged(problem: str) -> BackupArchiveInvalidError:
    return BackupArchiveInvalidError(
        f"the backup archive is damaged or incomplete: {problem}; restore another copy."
    )


def _install(
    files: dict[str, bytes], data_dir: Path, before_rename: Callable[[Path], None]
) -> None:
    """Write ``files`` into a staging directory, check them, and rename it onto ``data_dir``.

    ``before_rename`` gets the staging directory once its database passed the check.
    """
    data_dir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restore-", dir=data_dir.parent))
    try:
        for name, content in files.items():
            if name != MANIFEST:
                _write_private(staging / name, content)
        if DATABASE in files:
            try:
                check_integrity(staging / DATABASE)
            except SnapshotFailedError as error:
                raise _damaged("its database fails the SQLite integrity check") from error
        before_rename(staging)

        # rename(2) replaces an empty directory and fails on a non-empty one, so a
        # directory that filled up since the first check is not touched.
        try:
            staging.rename(data_dir)
        except OSError as error:
            raise ConflictError(
                f"{data_dir}: cannot be replaced ({error.strerror}); restore into an empty "
                "or new --data-dir.",
                code="data_dir_not_empty",
                details={"path": str(data_dir)},
            ) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_directory(data_dir.parent)


# Audit events


@dataclass(frozen=True)
class _Clock:
    """The clock that ``append_event`` needs from a service context, without loading the CA key."""

    clock: Callable[[], datetime] = utc_now


def _local_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _audit(database_url: str, action: str, archive: bytes, details: dict[str, Any]) -> None:
    """Append a ``SEC_CONFIG`` event for ``action`` to the chain of the server's database.

    That is the SQLite file of the data directory, or the PostgreSQL database that
    a replica's settings name.
    """
    database = Database(database_url)
    try:
        with database.transaction() as connection:
            append_event(
                connection,
                _Clock(),
                category="SEC_CONFIG",
                action=action,
                actor=Actor(name=f"hostca-{action}"),
                target=hashlib.sha256(archive).hexdigest(),
                details={**details, "os_user": _local_user()},
            )
    except SQLAlchemyError as error:
        raise UnavailableError(
            f"{database.url_for_display}: the {action} could not be recorded in the audit log "
            f"({error.__class__.__name__}); check that the database is writable and run it again.",
            code="audit_unavailable",
        ) from None
    finally:
        database.dispose()


def _write_private(path: Path, content: bytes) -> None:
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.parent.chmod(0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        os.fchmod(stream.fileno(), 0o600)
        stream.write(content)
        stream.flush()
        os.fsync(stream.fileno())


def _fsync_directory(directory: Path) -> None:
    # A new directory entry is durable only once the directory itself is on disk.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
