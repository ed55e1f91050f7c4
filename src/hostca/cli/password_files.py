"""Read a password from a file named on the command line."""

from __future__ import annotations

from pathlib import Path

from hostca.core.errors import InvalidRequestError

__all__ = ["read_password_file"]


def read_password_file(path: Path) -> str:
    """Return the first line of ``path``: the password, never echoed or logged."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidRequestError(
            f"{path}: cannot read the password file: {error.strerror or error}.",
            code="file_unreadable",
        ) from None
    except UnicodeDecodeError:
        raise InvalidRequestError(
            f"{path}: the password file is not UTF-8 text.", code="file_unreadable"
        ) from None

    password = text.splitlines()[0] if text else ""
    if not password:
        raise InvalidRequestError(
            f"{path}: the password file is empty; write the password on its first line.",
            code="file_empty",
        )
    return password
