"""Deployment policy decisions for enrolments without a token."""

from __future__ import annotations

import pytest

from hostca.core.errors import HostcaError
from hostca.core.policy import EnrolmentDecision, EnrolmentFacts, NameOwner, decide_enrolment

NAME = "web-01.example.test"
PRE_REGISTERED = NameOwner(
    host_id="h1", primary_name=NAME, had_certificate=False, auto_reissue_open=False
)
CERTIFIED = NameOwner(
    host_id="h1", primary_name=NAME, had_certificate=True, auto_reissue_open=False
)
WINDOW_OPEN = NameOwner(
    host_id="h1", primary_name=NAME, had_certificate=True, auto_reissue_open=True
)
SHARED = NameOwner(
    host_id="h1", primary_name="node-1", had_certificate=True, auto_reissue_open=False, shared=True
)


def facts(level: str, owner: NameOwner | None, resolves: bool | None = None) -> EnrolmentFacts:
    return EnrolmentFacts(
        security_level=level,
        requested_name=NAME,
        owner=owner,
        resolves_to_source=resolves,
        resolved_addresses=("192.0.2.7",),
        source_ip="192.0.2.9",
    )


@pytest.mark.parametrize(
    ("level", "owner", "resolves", "expected"),
    [
        ("high", PRE_REGISTERED, None, EnrolmentDecision.FIRST_CERTIFICATE),
        ("medium", PRE_REGISTERED, None, EnrolmentDecision.FIRST_CERTIFICATE),
        ("medium", None, True, EnrolmentDecision.NEW_HOST),
        ("very-high", WINDOW_OPEN, None, EnrolmentDecision.REISSUE),
        ("high", WINDOW_OPEN, None, EnrolmentDecision.REISSUE),
        ("medium", WINDOW_OPEN, None, EnrolmentDecision.REISSUE),
    ],
)
def test_allowed_without_token(
    level: str, owner: NameOwner | None, resolves: bool | None, expected: EnrolmentDecision
) -> None:
    assert decide_enrolment(facts(level, owner, resolves)) is expected


@pytest.mark.parametrize(
    ("level", "owner", "resolves", "code"),
    [
        ("very-high", None, None, "token_required"),
        ("very-high", PRE_REGISTERED, None, "token_required"),
        ("high", None, None, "token_required"),
        ("medium", None, False, "name_not_resolved"),
        ("very-high", CERTIFIED, None, "reissue_token_required"),
        ("high", CERTIFIED, None, "reissue_token_required"),
        ("medium", CERTIFIED, True, "reissue_token_required"),
        ("high", SHARED, None, "name_conflict"),
    ],
)
def test_rejected_without_token(
    level: str, owner: NameOwner | None, resolves: bool | None, code: str
) -> None:
    with pytest.raises(HostcaError) as raised:
        decide_enrolment(facts(level, owner, resolves))
    assert raised.value.code == code
    assert NAME in raised.value.message or "node-1" in raised.value.message


def test_medium_rejection_names_addresses() -> None:
    with pytest.raises(HostcaError) as raised:
        decide_enrolment(facts("medium", None, False))
    assert "192.0.2.7" in raised.value.message
    assert "192.0.2.9" in raised.value.message
