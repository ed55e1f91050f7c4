"""Exit statuses per error code, and the table of them in docs/netbackup-commands.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hostca.apiclient import ApiError
from hostca.compat.exit_status import (
    EXIT_FAILURE,
    EXIT_INVALID_REQUEST,
    EXIT_NOT_FOUND,
    STATUS_BY_CODE,
    exit_status_for,
    exit_status_for_code,
)
from hostca.core.errors import ConflictError, HostcaError, InvalidRequestError, NotFoundError

DOCS = Path(__file__).parents[2] / "docs" / "netbackup-commands.md"
_ROW = re.compile(r"^\| (\d+) \| ([^|]*) \|", re.MULTILINE)


def documented_statuses() -> dict[str, int]:
    """Return the status of each code in the first exit status table of the docs page."""
    section = DOCS.read_text().split("## Exit statuses", 1)[1].split("\n\n", 3)[2]
    return {
        code: int(status)
        for status, codes in _ROW.findall(section)
        for code in re.findall(r"`([a-z_]+)`", codes)
    }


def test_docs_list_every_status() -> None:
    assert documented_statuses() == STATUS_BY_CODE


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("not_logged_in", 3),
        ("fingerprint_mismatch", 6),
        ("token_invalid", 10),
        ("token_expired", 11),
        ("token_used_up", 12),
        ("reissue_token_required", 13),
        ("name_not_primary", 14),
        ("certificate_revoked", 20),
    ],
)
def test_status_of_listed_code(code: str, status: int) -> None:
    assert exit_status_for_code(code) == status


def test_unlisted_code_takes_family_status() -> None:
    assert exit_status_for(InvalidRequestError("x", code="duration_invalid")) == 30
    assert exit_status_for(NotFoundError("x", code="something_missing")) == EXIT_NOT_FOUND
    assert exit_status_for(ConflictError("x", code="something_else")) == 9


def test_api_error_uses_http_status() -> None:
    error = ApiError("x", code="new_server_code", http_status=400)

    assert exit_status_for(error) == EXIT_INVALID_REQUEST


def test_unknown_family_is_failure() -> None:
    assert exit_status_for(HostcaError("x", code="internal_error")) == EXIT_FAILURE
