"""The CA's key and certificate on disk, and the creation, import and loading of a CA.

A CA directory contains ``ca.key.pem`` (PKCS #8, encrypted when a passphrase is
given) and ``ca.cert.pem``. When the CA key lives in a hardware security module
(see ``hostca.ca.pkcs11_key``), the directory contains only ``ca.cert.pem``.
Every private key file is written with mode 0600 into a directory with mode
0700. Files are replaced atomically: they are written to a temporary name in the
same directory and renamed over the target, so a reader sees either the old or
the new content, never a part.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from hostca.core.errors import ConflictError, InvalidRequestError, NotFoundError, UnavailableError
from hostca.core.keys import (
    CA_KEY_TYPES,
    KeyTypeRejectedError,
    SigningKey,
    check_ca_private_key,
    generate_private_key,
)
from hostca.core.profile import build_ca_certificate

__all__ = [
    "CA_CERTIFICATE_FILE",
    "CA_KEY_FILE",
    "CaExistsError",
    "CaFileInvalidError",
    "CaImportInvalidError",
    "CaNotFoundError",
    "CaPassphraseInvalidError",
    "CertificateAuthority",
    "PassphraseEmptyError",
    "create_ca",
    "create_ca_for_key",
    "import_ca",
    "load_ca",
    "load_ca_for_key",
    "load_certificate",
    "load_private_key",
    "write_certificate",
    "write_private_key",
]

CA_KEY_FILE = "ca.key.pem"
CA_CERTIFICATE_FILE = "ca.cert.pem"

PRIVATE_KEY_MODE = 0o600
CERTIFICATE_MODE = 0o644
DIRECTORY_MODE = 0o700

_UNLOCK_ADVICE = (
    "give the CA passphrase that was set when the CA was created or imported "
    "(for example with --ca-passphrase-file)"
)


class CaPassphraseInvalidError(UnavailableError):
    """The passphrase of a private key file is wrong, missing, or given for an unencrypted key."""

    default_code = "ca_passphrase_invalid"


class CaFileInvalidError(UnavailableError):
    """A CA key or certificate file that cannot be read or decoded."""

    default_code = "ca_file_invalid"


class CaNotFoundError(NotFoundError):
    """The CA directory has no CA key or certificate."""

    default_code = "ca_not_found"


class CaExistsError(ConflictError):
    """A CA already exists where a new one would be created or imported."""

    default_code = "ca_exists"


class CaImportInvalidError(InvalidRequestError):
    """A certificate and key that cannot be imported as the CA."""

    default_code = "ca_import_invalid"


class PassphraseEmptyError(InvalidRequestError):
    """An empty passphrase, which would encrypt a key with nothing."""

    default_code = "passphrase_empty"


@dataclass(frozen=True)
class CertificateAuthority:
    """The CA certificate and the private key that matches it."""

    certificate: x509.Certificate
    private_key: SigningKey


def write_private_key(path: Path, key: PrivateKeyTypes, passphrase: bytes | None) -> None:
    """Write ``key`` as PKCS #8 PEM with mode 0600, encrypted when ``passphrase`` is given.

    The parent directory is created if needed and set to mode 0700. An existing
    file is replaced atomically. Raises ``PassphraseEmptyError`` for ``b""``.
    """
    if passphrase is None:
        encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    elif not passphrase:
        raise PassphraseEmptyError(
            f"{path}: the passphrase is empty; give a non-empty passphrase, or none to "
            "store the key unencrypted with mode 0600.",
            details={"path": str(path)},
        )
    else:
        encryption = serialization.BestAvailableEncryption(passphrase)

    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=encryption,
    )
    _write_atomically(path, pem, PRIVATE_KEY_MODE, force_private_directory=True)


def load_private_key(path: Path, passphrase: bytes | None) -> PrivateKeyTypes:
    """Load a PEM private key, decrypting it with ``passphrase``.

    Raises ``CaPassphraseInvalidError`` when the passphrase is wrong, missing for an
    encrypted key, or given for an unencrypted one. Raises ``CaNotFoundError`` for a
    missing file and ``CaFileInvalidError`` for one that is not a usable key.
    """
    data = _read_file(path, "private key")
    try:
        return serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError as error:
        # cryptography raises TypeError when the presence of a password does not
        # match whether the key is encrypted.
        if passphrase:
            raise CaPassphraseInvalidError(
                f"{path}: the private key is not encrypted, but a passphrase was given; "
                "remove the passphrase setting, or re-encrypt the key.",
                details={"path": str(path)},
            ) from error
        raise CaPassphraseInvalidError(
            f"{path}: the private key is encrypted and no passphrase was given; {_UNLOCK_ADVICE}.",
            details={"path": str(path)},
        ) from error
    except ValueError as error:
        if passphrase:
            # OpenSSL reports a wrong passphrase and a damaged encrypted file alike.
            raise CaPassphraseInvalidError(
                f"{path}: the passphrase is wrong, or the encrypted key is damaged; "
                f"{_UNLOCK_ADVICE}.",
                details={"path": str(path)},
            ) from error
        raise CaFileInvalidError(
            f"{path}: not a PEM private key ({error}); restore the file from a backup.",
            details={"path": str(path)},
        ) from error
    except UnsupportedAlgorithm as error:
        raise CaFileInvalidError(
            f"{path}: private key of an unsupported type ({error}); use an EC or RSA key.",
            details={"path": str(path)},
        ) from error


def write_certificate(path: Path, cert: x509.Certificate) -> None:
    """Write ``cert`` as PEM with mode 0644, replacing an existing file atomically.

    A missing parent directory is created with mode 0700. The mode of an existing
    one is left unchanged.
    """
    pem = cert.public_bytes(serialization.Encoding.PEM)
    _write_atomically(path, pem, CERTIFICATE_MODE, force_private_directory=False)


def load_certificate(path: Path) -> x509.Certificate:
    """Load a PEM certificate.

    Raises ``CaNotFoundError`` for a missing file and ``CaFileInvalidError`` for
    one that is not a PEM certificate.
    """
    data = _read_file(path, "certificate")
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as error:
        raise CaFileInvalidError(
            f"{path}: not a PEM certificate ({error}); restore the file from a backup.",
            details={"path": str(path)},
        ) from error


def create_ca(
    ca_dir: Path,
    *,
    key_type: str = "ec-p256",
    common_name: str,
    organization: str | None,
    passphrase: bytes | None,
    now: datetime,
) -> CertificateAuthority:
    """Create a new self-signed CA in ``ca_dir`` and write its key and certificate.

    Raises ``KeyTypeRejectedError`` for a ``key_type`` outside ``CA_KEY_TYPES`` and
    ``CaExistsError`` when ``ca_dir`` already contains a CA key or certificate.
    """
    if key_type not in CA_KEY_TYPES:
        raise KeyTypeRejectedError(
            f"{key_type!r}: not a CA key type; use one of {', '.join(CA_KEY_TYPES)}.",
            details={"key_type": key_type, "accepted": list(CA_KEY_TYPES)},
        )
    _reject_existing_ca(ca_dir)

    private_key = check_ca_private_key(generate_private_key(key_type))
    certificate = build_ca_certificate(
        private_key, common_name=common_name, organization=organization, now=now
    )

    _write_ca(ca_dir, certificate, private_key, passphrase)
    return CertificateAuthority(certificate=certificate, private_key=private_key)


def create_ca_for_key(
    ca_dir: Path,
    private_key: SigningKey,
    *,
    common_name: str,
    organization: str | None,
    now: datetime,
) -> CertificateAuthority:
    """Create a self-signed CA for a key kept outside ``ca_dir``, such as in an HSM.

    Only the certificate is written. Raises ``KeyTypeRejectedError`` for a key that
    hostca cannot sign with, and ``CaExistsError`` when ``ca_dir`` already
    contains a CA key or certificate.
    """
    _reject_existing_ca(ca_dir)
    checked_key = check_ca_private_key(private_key)
    certificate = build_ca_certificate(
        checked_key, common_name=common_name, organization=organization, now=now
    )
    write_certificate(ca_dir / CA_CERTIFICATE_FILE, certificate)
    return CertificateAuthority(certificate=certificate, private_key=checked_key)


def import_ca(
    ca_dir: Path,
    certificate_pem: bytes,
    key_pem: bytes,
    key_passphrase: bytes | None,
    passphrase: bytes | None,
) -> CertificateAuthority:
    """Import an existing CA certificate and its private key into ``ca_dir``.

    ``key_passphrase`` decrypts ``key_pem``. ``passphrase`` encrypts the stored copy,
    or is ``None`` to store it unencrypted. The certificate must be a CA certificate
    that may sign certificates and CRLs, and the key must match it. Raises
    ``CaImportInvalidError`` otherwise, ``CaPassphraseInvalidError`` for a wrong
    ``key_passphrase``, ``KeyTypeRejectedError`` for a key that hostca cannot sign
    with, and ``CaExistsError`` when ``ca_dir`` already contains a CA.
    """
    _reject_existing_ca(ca_dir)
    certificate = _decode_import_certificate(certificate_pem)
    private_key = check_ca_private_key(_decode_import_key(key_pem, key_passphrase))
    _check_ca_certificate(certificate)
    if not _key_matches(certificate, private_key):
        subject = certificate.subject.rfc4514_string()
        raise CaImportInvalidError(
            f"CA private key to import: does not match the public key of CA certificate "
            f"{subject!r}; give the private key that belongs to this certificate.",
            details={"subject": subject},
        )

    _write_ca(ca_dir, certificate, private_key, passphrase)
    return CertificateAuthority(certificate=certificate, private_key=private_key)


def load_ca(ca_dir: Path, passphrase: bytes | None) -> CertificateAuthority:
    """Load the CA that ``create_ca`` or ``import_ca`` wrote to ``ca_dir``.

    Raises ``CaNotFoundError``, ``CaFileInvalidError``, ``CaPassphraseInvalidError``,
    or ``KeyTypeRejectedError``.
    """
    certificate = load_certificate(ca_dir / CA_CERTIFICATE_FILE)
    key_path = ca_dir / CA_KEY_FILE
    private_key = check_ca_private_key(load_private_key(key_path, passphrase))
    if not _key_matches(certificate, private_key):
        raise CaFileInvalidError(
            f"{key_path}: does not match the public key of {ca_dir / CA_CERTIFICATE_FILE}; "
            "restore both files of the CA from the same backup.",
            details={"path": str(key_path)},
        )
    return CertificateAuthority(certificate=certificate, private_key=private_key)


def load_ca_for_key(ca_dir: Path, private_key: SigningKey, key_name: str) -> CertificateAuthority:
    """Load the CA certificate from ``ca_dir`` and pair it with a key kept elsewhere.

    ``key_name`` names that key in messages, such as its PKCS #11 URI. Raises
    ``CaNotFoundError``, ``CaFileInvalidError`` (also when the key does not match
    the certificate) or ``KeyTypeRejectedError``.
    """
    certificate_path = ca_dir / CA_CERTIFICATE_FILE
    certificate = load_certificate(certificate_path)
    checked_key = check_ca_private_key(private_key)
    if not _key_matches(certificate, checked_key):
        raise CaFileInvalidError(
            f"{certificate_path}: does not match the public key of the CA key {key_name}; "
            "give the key that this CA certificate was made for.",
            details={"path": str(certificate_path), "key": key_name},
        )
    return CertificateAuthority(certificate=certificate, private_key=checked_key)


def _write_ca(
    ca_dir: Path,
    certificate: x509.Certificate,
    private_key: SigningKey,
    passphrase: bytes | None,
) -> None:
    # The key goes first, so that a crash in between leaves no certificate without
    # its key. _reject_existing_ca rejects such a leftover key until it is removed.
    write_private_key(ca_dir / CA_KEY_FILE, private_key, passphrase)
    write_certificate(ca_dir / CA_CERTIFICATE_FILE, certificate)


def _reject_existing_ca(ca_dir: Path) -> None:
    for name in (CA_KEY_FILE, CA_CERTIFICATE_FILE):
        existing = ca_dir / name
        if existing.exists():
            raise CaExistsError(
                f"{existing}: a CA file already exists; move the CA directory away "
                "first, or use a different data directory.",
                details={"path": str(existing)},
            )


def _decode_import_certificate(certificate_pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(certificate_pem)
    except ValueError as error:
        raise CaImportInvalidError(
            f"CA certificate cannot be decoded ({error}); give the CA certificate in PEM form.",
        ) from error


def _decode_import_key(key_pem: bytes, key_passphrase: bytes | None) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(key_pem, password=key_passphrase or None)
    except TypeError as error:
        raise CaPassphraseInvalidError(
            "CA private key to import: the key is encrypted but no passphrase was given, "
            "or the key is not encrypted but a passphrase was given; give the passphrase "
            "only for an encrypted key.",
        ) from error
    except ValueError as error:
        if key_passphrase:
            raise CaPassphraseInvalidError(
                "CA private key to import: the passphrase is wrong, or the key is damaged; "
                "give the passphrase that encrypts this key.",
            ) from error
        raise CaImportInvalidError(
            f"CA private key cannot be decoded ({error}); give the key in PEM form "
            "(PKCS #8 or the traditional OpenSSL format).",
        ) from error
    except UnsupportedAlgorithm as error:
        raise CaImportInvalidError(
            f"CA private key of an unsupported type ({error}); use an EC or RSA key.",
        ) from error


def _check_ca_certificate(certificate: x509.Certificate) -> None:
    subject = certificate.subject.rfc4514_string()
    # RFC 5280 4.2.1.9: only a certificate with cA TRUE may certify keys.
    try:
        basic_constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        basic_constraints = None
    if basic_constraints is None or not basic_constraints.value.ca:
        raise CaImportInvalidError(
            f"certificate {subject!r}: not a CA certificate (basicConstraints CA:TRUE "
            "missing); give the certificate of the CA itself.",
            details={"subject": subject},
        )

    # RFC 5280 4.2.1.3: when key usage is present, keyCertSign is needed to sign
    # certificates and cRLSign to sign CRLs, and hostca does both.
    try:
        key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (key_usage.key_cert_sign and key_usage.crl_sign):
        raise CaImportInvalidError(
            f"certificate {subject!r}: key usage lacks keyCertSign or cRLSign, so this CA "
            "cannot sign both certificates and CRLs; give a CA certificate that allows both.",
            details={"subject": subject},
        )


def _key_matches(certificate: x509.Certificate, private_key: SigningKey) -> bool:
    encoding = serialization.Encoding.DER
    public_format = serialization.PublicFormat.SubjectPublicKeyInfo
    certified_key = certificate.public_key().public_bytes(encoding, public_format)
    return certified_key == private_key.public_key().public_bytes(encoding, public_format)


def _read_file(path: Path, file_kind: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as error:
        raise CaNotFoundError(
            f"{path}: {file_kind} file not found; run `hostca server init` first, or give the "
            "data directory that contains the CA.",
            details={"path": str(path)},
        ) from error
    except OSError as error:
        raise CaFileInvalidError(
            f"{path}: {file_kind} file cannot be read ({error.strerror}); "
            "check its owner and mode.",
            details={"path": str(path)},
        ) from error


def _write_atomically(path: Path, data: bytes, mode: int, *, force_private_directory: bool) -> None:
    directory = path.parent
    directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    if force_private_directory:
        # mkdir applies the umask and leaves an existing directory unchanged, so
        # the mode is set explicitly.
        directory.chmod(DIRECTORY_MODE)

    temporary = directory / f".{path.name}.{secrets.token_hex(8)}.tmp"
    # O_EXCL fails rather than follow a planted file or symlink, and the file is
    # created with its final mode, so it is never readable by others.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(descriptor, "wb") as file:
            # The umask may have cleared bits of ``mode``. fchmod sets them exactly.
            os.fchmod(file.fileno(), mode)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry itself is on disk.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
