"""The encrypted container of a server backup: a small header, then AES-256-GCM ciphertext.

Layout, all integers big-endian::

    magic      8 bytes   b"HOSTCABK"
    version    1 byte    1
    log2_n     1 byte    scrypt cost: n = 2 ** log2_n
    r          4 bytes   scrypt block size
    p          4 bytes   scrypt parallelization
    salt      16 bytes   random, per archive
    nonce     12 bytes   random, per archive
    ciphertext           AES-256-GCM of the payload, ending in its 16-byte tag

The key is scrypt(passphrase, salt, n, r, p) with a 32-byte output (RFC 7914).
The whole header is the GCM associated data, so a changed parameter, salt or
nonce fails the tag check just like a changed ciphertext byte. A wrong passphrase
and an altered archive therefore cannot be distinguished, and both raise
``BackupArchiveInvalidError``.
"""

from __future__ import annotations

import os
import struct
import unicodedata
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from hostca.core.errors import InvalidRequestError

__all__ = [
    "DEFAULT_SCRYPT",
    "MIN_PASSPHRASE_LENGTH",
    "BackupArchiveInvalidError",
    "BackupPassphraseInvalidError",
    "ScryptParameters",
    "SealedArchive",
    "check_new_passphrase",
    "encrypt_archive",
    "parse_archive",
]

MAGIC = b"HOSTCABK"
FORMAT_VERSION = 1
MIN_PASSPHRASE_LENGTH = 12

_HEADER = struct.Struct(">8sBBII16s12s")
_TAG_LENGTH = 16

# Bounds on the parameters read from a header, so that a forged header cannot make
# restore allocate gigabytes or run for hours before the tag check rejects it.
_LOG2_N_RANGE = range(10, 23)
_R_RANGE = range(1, 33)
_P_RANGE = range(1, 17)

# AESGCM.encrypt accepts at most 2**31 - 1 bytes (cryptography 50).
MAX_PAYLOAD_BYTES = 2**31 - 1 - _TAG_LENGTH


class BackupArchiveInvalidError(InvalidRequestError):
    """A backup archive that is not one, is truncated or altered, or needs another passphrase."""

    default_code = "backup_invalid"


class BackupPassphraseInvalidError(InvalidRequestError):
    """A passphrase too short to protect a backup."""

    default_code = "passphrase_too_short"


@dataclass(frozen=True)
class ScryptParameters:
    """scrypt cost parameters (RFC 7914): n = 2 ** log2_n, block size r, parallelization p."""

    log2_n: int
    r: int
    p: int

    def check(self) -> None:
        """Raise ``BackupArchiveInvalidError`` unless every parameter is within hostca's bounds."""
        if self.log2_n not in _LOG2_N_RANGE or self.r not in _R_RANGE or self.p not in _P_RANGE:
            raise BackupArchiveInvalidError(
                f"scrypt parameters log2_n={self.log2_n}, r={self.r}, p={self.p}: outside the "
                "bounds that hostca accepts, so the archive header is damaged or forged.",
                details={"log2_n": self.log2_n, "r": self.r, "p": self.p},
            )


# n = 2**17 and r = 8 use 128 MiB of memory per derivation, and take a few
# tenths of a second on a 2020s x86-64 core (an estimate, not a measurement).
DEFAULT_SCRYPT = ScryptParameters(log2_n=17, r=8, p=1)


def check_new_passphrase(passphrase: str) -> None:
    """Raise ``BackupPassphraseInvalidError`` for a passphrase of fewer than 12 characters."""
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise BackupPassphraseInvalidError(
            f"the backup passphrase has {len(passphrase)} characters; give one of at least "
            f"{MIN_PASSPHRASE_LENGTH}."
        )


def encrypt_archive(
    payload: bytes, passphrase: str, parameters: ScryptParameters = DEFAULT_SCRYPT
) -> bytes:
    """Encrypt ``payload`` under a key derived from ``passphrase``; return header and ciphertext."""
    parameters.check()
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise BackupArchiveInvalidError(
            f"the backup payload has {len(payload)} bytes, more than the {MAX_PAYLOAD_BYTES} "
            "that one AES-GCM message can hold."
        )

    salt = os.urandom(16)
    nonce = os.urandom(12)
    header = _HEADER.pack(
        MAGIC, FORMAT_VERSION, parameters.log2_n, parameters.r, parameters.p, salt, nonce
    )
    key = _derive_key(passphrase, salt, parameters)
    return header + AESGCM(key).encrypt(nonce, payload, header)


def parse_archive(archive: bytes) -> SealedArchive:
    """Parse the header of ``archive``; the result decrypts with ``open(passphrase)``.

    Raises ``BackupArchiveInvalidError`` for a file that is too short, has another
    magic or version, or carries scrypt parameters out of bounds.
    """
    if len(archive) < _HEADER.size + _TAG_LENGTH:
        raise BackupArchiveInvalidError(
            f"the archive has {len(archive)} bytes, fewer than any hostca backup; it is "
            "truncated or not a hostca backup."
        )
    magic, version, log2_n, r, p, salt, nonce = _HEADER.unpack_from(archive)
    if magic != MAGIC:
        raise BackupArchiveInvalidError(
            "the file does not start like a hostca backup; give a file that "
            "'hostca server backup' wrote."
        )
    if version != FORMAT_VERSION:
        raise BackupArchiveInvalidError(
            f"backup format version {version}: not known to this hostca (it reads version "
            f"{FORMAT_VERSION}); restore it with the hostca version that wrote it.",
            details={"version": version},
        )
    parameters = ScryptParameters(log2_n=log2_n, r=r, p=p)
    parameters.check()
    return SealedArchive(
        header=archive[: _HEADER.size],
        parameters=parameters,
        salt=salt,
        nonce=nonce,
        ciphertext=archive[_HEADER.size :],
    )


@dataclass(frozen=True)
class SealedArchive:
    """A parsed archive whose payload is still encrypted."""

    header: bytes
    parameters: ScryptParameters
    salt: bytes
    nonce: bytes
    ciphertext: bytes

    def open(self, passphrase: str) -> bytes:
        """Return the payload; raise ``BackupArchiveInvalidError`` when the tag check fails."""
        key = _derive_key(passphrase, self.salt, self.parameters)
        try:
            return AESGCM(key).decrypt(self.nonce, self.ciphertext, self.header)
        except InvalidTag:
            raise BackupArchiveInvalidError(
                "the backup cannot be decrypted: the passphrase is wrong, or the archive is "
                "truncated or altered; give the passphrase used for 'hostca server backup', "
                "or another copy of the archive."
            ) from None


def _derive_key(passphrase: str, salt: bytes, parameters: ScryptParameters) -> bytes:
    # NFC, so that a passphrase typed at a prompt and one read from a file give the
    # same bytes even when the two sources compose accented letters differently.
    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    kdf = Scrypt(salt=salt, length=32, n=2**parameters.log2_n, r=parameters.r, p=parameters.p)
    return kdf.derive(secret)
