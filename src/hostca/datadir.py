"""The layout of the primary server's data directory."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from hostca.core.errors import UnavailableError

__all__ = ["DataDir", "ServerConfig", "write_private_file"]


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` with mode 0600 in a 0700 directory, replacing the file atomically."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@dataclass
class ServerConfig:
    """Facts fixed by ``hostca server init``, stored as server.json.

    ``ca_key_uri`` is the PKCS #11 URI of a CA key kept in a hardware security
    module, or None when the key is the file ``ca/ca.key.pem``.
    """

    domain: str
    primary_name: str
    alt_names: list[str]
    primary_host_id: str
    public_base_url: str
    ca_key_encrypted: bool
    # The database given to 'hostca server init'; None is SQLite in the data directory.
    database_url: str | None = None
    schema: int = 1
    extra: dict[str, str] = field(default_factory=dict)
    ca_key_uri: str | None = None


@dataclass(frozen=True)
class DataDir:
    root: Path

    @property
    def ca_dir(self) -> Path:
        return self.root / "ca"

    @property
    def tls_certificate(self) -> Path:
        return self.root / "tls" / "server.cert.pem"

    @property
    def tls_key(self) -> Path:
        return self.root / "tls" / "server.key.pem"

    @property
    def token_hmac_key(self) -> Path:
        return self.root / "secrets" / "token-hmac.key"

    @property
    def initial_password(self) -> Path:
        return self.root / "secrets" / "initial-admin-password"

    @property
    def database(self) -> Path:
        return self.root / "hostca.db"

    @property
    def config_file(self) -> Path:
        return self.root / "server.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "server.lock"

    @property
    def leader_lock_file(self) -> Path:
        """Locked by the worker process that runs the periodic jobs (SQLite only)."""
        return self.root / "leader.lock"

    def lock_for_server(
        self, next_step: str = "stop it first, or give this one another --data-dir."
    ) -> IO[str]:
        """Take the data directory's server lock, held while the returned file stays open.

        ``next_step`` ends the message when another server holds the lock.

        Two servers on one data directory would both publish CRLs and write SQLite at
        once; the second one is stopped here instead. The worker processes of one
        server do not take this lock: the supervising process holds it for them.
        """
        # Mode 0600 whatever the umask, like every other file hostca writes here.
        descriptor = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(descriptor, 0o600)
        stream = os.fdopen(descriptor, "a+")
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.seek(0)
            holder = stream.read().strip() or "unknown"
            stream.close()
            raise UnavailableError(
                f"{self.root}: another hostca server (PID {holder}) runs on this data directory; "
                f"{next_step}",
                code="data_dir_locked",
            ) from None
        stream.seek(0)
        stream.truncate()
        stream.write(f"{os.getpid()}\n")
        stream.flush()
        return stream

    def is_initialized(self) -> bool:
        return self.config_file.exists()

    def is_empty(self) -> bool:
        return not self.root.exists() or not any(self.root.iterdir())

    def read_config(self) -> ServerConfig:
        try:
            data = json.loads(self.config_file.read_text())
        except FileNotFoundError:
            raise UnavailableError(
                f"{self.root}: not a hostca data directory (no server.json); run 'hostca server init "
                f"--data-dir {self.root}' first.",
                code="not_initialized",
            ) from None
        return ServerConfig(**data)

    def write_config(self, config: ServerConfig) -> None:
        write_private_file(self.config_file, json.dumps(asdict(config), indent=2).encode())

    def read_token_hmac_key(self) -> bytes:
        return bytes.fromhex(self.token_hmac_key.read_text().strip())

    def private_paths(self) -> list[Path]:
        """Return the data directory and every file in it that contains a private key or secret."""
        secrets_dir = self.token_hmac_key.parent
        secret_files = sorted(secrets_dir.iterdir()) if secrets_dir.is_dir() else []
        return [self.root, self.ca_dir / "ca.key.pem", self.tls_key, *secret_files]

    def check_private_permissions(self) -> None:
        """Raise ``permissions_too_open`` when group or others have any access to a private path.

        Missing files are skipped, so that an administrator may delete the initial
        password file after reading it.
        """
        for path in self.private_paths():
            try:
                mode = stat.S_IMODE(path.stat().st_mode)
            except FileNotFoundError:
                continue
            if mode & 0o077:
                required = 0o700 if path.is_dir() else 0o600
                raise UnavailableError(
                    f"{path}: mode {mode:04o} gives group or others access to a private "
                    f"{'directory' if path.is_dir() else 'file'}; run 'chmod {required:o} {path}' "
                    "and start the server again.",
                    code="permissions_too_open",
                    details={"path": str(path), "mode": f"{mode:04o}"},
                )
