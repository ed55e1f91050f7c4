"""The agent's state directory: trusted CA, host key and certificate, CRL and settings.

Layout of the files for one primary server::

    ca.pem            trusted CA certificates (PEM bundle)
    cert.pem          this host's certificate
    crl.pem           the last CRL fetched and verified
    agent.json        server URL, host ID, names, key type and CRL refresh interval
    private/          mode 0700
        key.pem       this host's private key, PKCS #8 PEM, mode 0600
        pending-key.pem   the key of a CSR from `hostca agent csr`, until
                          `hostca agent install-cert` installs its certificate

``hostca.agent.servers`` puts one such layout per primary server into the
state directory.

Every file is replaced atomically (written to a temporary file in the same
directory, flushed, then renamed over the old one), so a reader sees either the
old or the new content. The private key is never written anywhere else.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import signal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostca.core.errors import InvalidRequestError

__all__ = [
    "ROOT_STATE_DIR",
    "AgentConfig",
    "Identity",
    "StateDir",
    "default_state_dir",
    "write_file_atomically",
]

ROOT_STATE_DIR = Path("/var/lib/hostca-agent")

PUBLIC_FILE_MODE = 0o644
PRIVATE_FILE_MODE = 0o600
STATE_DIR_MODE = 0o755
PRIVATE_DIR_MODE = 0o700


def default_state_dir() -> Path:
    """Return the state directory to use when neither --state-dir nor HOSTCA_STATE_DIR is set.

    Root uses ``/var/lib/hostca-agent``. Other users get ``hostca-agent`` in their
    XDG data directory: ``$XDG_DATA_HOME``, or ``~/.local/share`` when it is unset
    or not absolute (XDG Base Directory Specification 0.8).
    """
    if os.geteuid() == 0:
        return ROOT_STATE_DIR
    data_home = os.environ.get("XDG_DATA_HOME", "")
    base = Path(data_home) if os.path.isabs(data_home) else Path.home() / ".local" / "share"
    return base / "hostca-agent"


@dataclass(frozen=True)
class AgentConfig:
    """The agent's settings and what it learned at enrolment, stored in ``agent.json``."""

    server: str | None = None
    host_id: str | None = None
    names: tuple[str, ...] = field(default_factory=tuple)
    key_type: str | None = None
    crl_refresh_hours: float | None = None
    """Maximum number of hours between two CRL refreshes by ``hostca agent run``, set by
    the host administrator. It can only shorten the interval of the primary's security level."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "server": self.server,
            "host_id": self.host_id,
            "names": list(self.names),
            "key_type": self.key_type,
        }
        if self.crl_refresh_hours is not None:
            data["crl_refresh_hours"] = self.crl_refresh_hours
        return data

    @classmethod
    def from_json(cls, data: Any, source: Path) -> AgentConfig:
        if not isinstance(data, dict):
            raise _corrupt(source, "expected a JSON object")
        names = data.get("names") or []
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise _corrupt(source, "names must be a list of strings")
        return cls(
            server=_optional_text(data, "server", source),
            host_id=_optional_text(data, "host_id", source),
            names=tuple(names),
            key_type=_optional_text(data, "key_type", source),
            crl_refresh_hours=_optional_hours(data, "crl_refresh_hours", source),
        )


@dataclass(frozen=True)
class Identity:
    """A certificate that the server issued, with the key it certifies.

    ``key_pem`` is None when the certificate certifies the key already on disk
    (a renewal without a new key).
    """

    certificate_pem: bytes
    key_pem: bytes | None
    config: AgentConfig


class StateDir:
    """The files of one agent state directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.private_dir = root / "private"
        self.ca_file = root / "ca.pem"
        self.certificate_file = root / "cert.pem"
        self.key_file = self.private_dir / "key.pem"
        self.pending_key_file = self.private_dir / "pending-key.pem"
        self.crl_file = root / "crl.pem"
        self.config_file = root / "agent.json"

    def ensure(self) -> None:
        """Create the directory and ``private/``, and restrict ``private/`` to mode 0700."""
        self.root.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
        self.private_dir.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        # mkdir leaves an existing directory's mode alone and applies the umask.
        os.chmod(self.private_dir, PRIVATE_DIR_MODE)

    def read_config(self) -> AgentConfig:
        """Return the stored settings, or empty settings when ``agent.json`` does not exist."""
        try:
            text = self.config_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return AgentConfig()
        try:
            data = json.loads(text)
        except ValueError as error:
            raise _corrupt(self.config_file, f"invalid JSON ({error})") from None
        return AgentConfig.from_json(data, self.config_file)

    def write_config(self, config: AgentConfig) -> None:
        self.ensure()
        text = json.dumps(config.to_json(), indent=2) + "\n"
        write_file_atomically(self.config_file, text.encode(), PUBLIC_FILE_MODE)

    def write_ca_bundle(self, pem: bytes) -> None:
        self.ensure()
        write_file_atomically(self.ca_file, pem, PUBLIC_FILE_MODE)

    def write_crl(self, pem: bytes) -> None:
        self.ensure()
        write_file_atomically(self.crl_file, pem, PUBLIC_FILE_MODE)

    def write_pending_key(self, pem: bytes) -> None:
        self.ensure()
        write_file_atomically(self.pending_key_file, pem, PRIVATE_FILE_MODE)

    def delete_pending_key(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.pending_key_file.unlink()
        _sync_directory(self.private_dir)

    def commit_identity(self, identity: Identity) -> None:
        """Store a new certificate, its new key if any, and the settings that go with them.

        Callers verify the certificate before they commit it. All new content is
        written to temporary files first. Only when every one of them is complete
        are they renamed into place, key first, so a failure before that point
        leaves the old key and certificate untouched.
        """
        self.ensure()
        config_text = json.dumps(identity.config.to_json(), indent=2) + "\n"
        staged: list[tuple[Path, Path]] = []
        try:
            if identity.key_pem is not None:
                staged.append(
                    (_stage(self.key_file, identity.key_pem, PRIVATE_FILE_MODE), self.key_file)
                )
            staged.append(
                (
                    _stage(self.certificate_file, identity.certificate_pem, PUBLIC_FILE_MODE),
                    self.certificate_file,
                )
            )
            staged.append(
                (_stage(self.config_file, config_text.encode(), PUBLIC_FILE_MODE), self.config_file)
            )
        except BaseException:
            _discard(temporary for temporary, _target in staged)
            raise

        # NOTE: two renames cannot be one atomic step. A crash between the key and
        # the certificate rename leaves a new key beside the old certificate;
        # `hostca agent status` reports that mismatch. SIGINT and SIGTERM wait
        # until both renames are done, so only a crash or SIGKILL can cause it.
        with _termination_signals_deferred():
            for temporary, target in staged:
                os.replace(temporary, target)
        _sync_directory(self.private_dir)
        _sync_directory(self.root)

    def _identity_files(self) -> tuple[Path, ...]:
        return (
            self.key_file,
            self.pending_key_file,
            self.certificate_file,
            self.crl_file,
            self.ca_file,
            self.config_file,
        )

    def forgettable_files(self) -> list[Path]:
        """Return the files that ``forget`` would delete and that exist now."""
        return [path for path in self._identity_files() if path.exists()]

    def forget(self) -> list[Path]:
        """Delete the key, pending key, certificate, CRL, trusted CA bundle and settings.

        Returns the paths that existed and were deleted.
        """
        deleted: list[Path] = []
        for path in self._identity_files():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                deleted.append(path)
        # Remove the directories too when nothing else is left in them.
        for directory in (self.private_dir, self.root):
            with contextlib.suppress(OSError):
                directory.rmdir()
        return deleted


def write_file_atomically(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new content, never a mix.

    The temporary file is created with ``O_EXCL`` and ``mode`` from the start, so a
    private key is never readable by others, not even for a moment.
    """
    temporary = _stage(path, data, mode)
    try:
        os.replace(temporary, path)
    except BaseException:
        _discard([temporary])
        raise
    _sync_directory(path.parent)


@contextlib.contextmanager
def _termination_signals_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends, then deliver them.

    The signal mask belongs to the calling thread. A process whose other threads
    leave these signals unblocked may still have them delivered during the block.
    """
    deferred = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, deferred)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stage(path: Path, data: bytes, mode: int) -> Path:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        # The umask may have cleared bits of ``mode``. Set the mode exactly, so a
        # public file is readable by other users whatever the caller's umask.
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb", closefd=False) as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        os.close(descriptor)
        _discard([temporary])
        raise
    os.close(descriptor)
    return temporary


def _discard(paths: Iterable[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _sync_directory(directory: Path) -> None:
    # Flushing the directory makes the rename itself durable (POSIX leaves it to
    # the file system otherwise).
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _optional_text(data: dict[str, Any], key: str, source: Path) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _corrupt(source, f"{key} must be a string")


def _optional_hours(data: dict[str, Any], key: str, source: Path) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    # JSON true and false load as bool, a subclass of int, but are no number of hours.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _corrupt(source, f"{key} must be a number of hours")
    if not math.isfinite(value) or value <= 0:
        raise _corrupt(source, f"{key} must be greater than 0")
    return float(value)


def _corrupt(path: Path, problem: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{path}: {problem}; fix or delete the file, then run `hostca agent enroll` again.",
        code="state_invalid",
    )
