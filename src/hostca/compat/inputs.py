"""Values that the NetBackup syntax passes in files or environment variables.

Where a NetBackup option names a file or a variable and the ``hostca`` option
takes the value itself, these helpers read the value. Every error names the
file or variable and what it must contain.
"""

from __future__ import annotations

import os
from pathlib import Path

from hostca.core.errors import InvalidRequestError

__all__ = ["read_fingerprint_file", "read_text_file", "read_token_variable"]


def read_text_file(path: Path, description: str) -> str:
    """Return the UTF-8 text of ``path``; ``description`` names the file in errors."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidRequestError(
            f"{path}: cannot read the {description}: {error.strerror or error}.",
            code="file_unreadable",
        ) from None
    except UnicodeDecodeError:
        raise InvalidRequestError(
            f"{path}: the {description} is not UTF-8 text.", code="file_unreadable"
        ) from None


def read_fingerprint_file(path: Path) -> str:
    """Return the CA fingerprint written in ``path``.

    The file contains the fingerprint on its first line that is not blank. A line
    in the form that ``openssl x509 -fingerprint`` prints, such as
    ``sha256 Fingerprint=AB:CD:...``, is accepted too. hostca checks the
    fingerprint itself.
    """
    lines = [line.strip() for line in read_text_file(path, "fingerprint file").splitlines()]
    first = next((line for line in lines if line), None)
    if first is None:
        raise InvalidRequestError(
            f"{path}: the fingerprint file is empty; write the CA's SHA-256 fingerprint in it.",
            code="file_empty",
        )
    return first.rpartition("=")[2].strip()


def read_token_variable(name: str) -> str:
    """Return the token value in the environment variable ``name``, which must not be empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise InvalidRequestError(
            f"{name}: the environment variable is not set or empty; export the token value "
            "in it or use -token.",
            code="token_missing",
        )
    return value
