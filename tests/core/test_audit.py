"""Tests for audit records and their hash chain."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from hostca.core.audit import (
    CATEGORIES,
    GENESIS_HASH,
    AuditRecord,
    ChainBreak,
    ChainedEvent,
    canonical_event_bytes,
    compute_event_hash,
    verify_chain,
)

START = datetime(2030, 1, 15, 12, 0, 0, tzinfo=UTC)
HOST_ID = "3f2c9a1e-8b4d-4c6e-9f0a-1b2c3d4e5f60"


def make_record(sequence: int, **changes: Any) -> AuditRecord:
    fields: dict[str, Any] = {
        "sequence": sequence,
        "time": START + timedelta(seconds=sequence, microseconds=sequence),
        "category": CATEGORIES[sequence % len(CATEGORIES)],
        "action": "token.create",
        "actor": "admin",
        "source_ip": "192.0.2.10",
        "target": f"token-{sequence}",
        "outcome": "success",
        "error_code": None,
        "reason": "host renamed",
        "details": {"host_id": HOST_ID, "max_uses": sequence},
    }
    fields.update(changes)
    return AuditRecord(**fields)


def make_chain(count: int, start_hash: str = GENESIS_HASH, first: int = 1) -> list[ChainedEvent]:
    events = []
    previous_hash = start_hash
    for sequence in range(first, first + count):
        record = make_record(sequence)
        event_hash = compute_event_hash(record, previous_hash)
        events.append(ChainedEvent(record, previous_hash, event_hash))
        previous_hash = event_hash
    return events


def break_sequences(breaks: list[ChainBreak]) -> set[int]:
    return {chain_break.sequence for chain_break in breaks}


# Records


def test_record_rejects_unknown_category() -> None:
    with pytest.raises(ValueError, match="category 'CERTS'"):
        make_record(1, category="CERTS")


def test_record_rejects_unknown_outcome() -> None:
    with pytest.raises(ValueError, match="outcome 'ok'"):
        make_record(1, outcome="ok")


def test_record_rejects_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make_record(1, time=datetime(2030, 1, 15, 12, 0, 0))


def test_record_rejects_sequence_zero() -> None:
    with pytest.raises(ValueError, match="sequence 0"):
        make_record(0)


def test_record_failure_needs_error_code() -> None:
    with pytest.raises(ValueError, match="error_code"):
        make_record(1, outcome="failure")


def test_record_success_has_no_error_code() -> None:
    with pytest.raises(ValueError, match="error_code"):
        make_record(1, error_code="token_invalid")


def test_record_rejects_non_json_details() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        make_record(1, details={"when": START})


def test_record_rejects_nan_details() -> None:
    with pytest.raises(ValueError):
        make_record(1, details={"ratio": float("nan")})


def test_record_accepts_failure() -> None:
    record = make_record(1, outcome="failure", error_code="token_invalid", category="LOGIN")

    assert record.error_code == "token_invalid"


def test_record_converts_time_to_utc() -> None:
    local = START.astimezone(timezone(timedelta(hours=2)))

    record = make_record(1, time=local)

    assert record.time == START
    assert record.time.tzinfo is UTC


def test_record_details_are_frozen() -> None:
    details = {"host_id": HOST_ID}
    record = make_record(1, details=details)
    details["host_id"] = "changed"

    assert record.details["host_id"] == HOST_ID
    with pytest.raises(TypeError):
        record.details["host_id"] = "changed"  # type: ignore[index]


# Canonical form and hash


def test_canonical_bytes_exact() -> None:
    record = AuditRecord(
        sequence=7,
        time=datetime(2030, 1, 15, 12, 0, 0, tzinfo=UTC),
        category="TOKEN",
        action="token.create",
        actor="admin",
        source_ip=None,
        target="renamed-host",
        outcome="success",
        error_code=None,
        reason="Bücher",
        details={"z": 1, "a": [True, None]},
    )

    assert canonical_event_bytes(record) == (
        b'{"action":"token.create","actor":"admin","category":"TOKEN",'
        b'"details":{"a":[true,null],"z":1},"error_code":null,"outcome":"success",'
        b'"reason":"B\\u00fccher","sequence":7,"source_ip":null,"target":"renamed-host",'
        b'"time":"2030-01-15T12:00:00.000000Z"}'
    )


def test_canonical_bytes_independent_of_order() -> None:
    first = make_record(1, details={"a": 1, "b": {"y": 2, "x": 3}})
    second = make_record(1, details={"b": {"x": 3, "y": 2}, "a": 1})

    assert canonical_event_bytes(first) == canonical_event_bytes(second)


def test_canonical_bytes_same_instant_any_offset() -> None:
    local = START.astimezone(timezone(timedelta(hours=-5)))

    assert canonical_event_bytes(make_record(1, time=local)) == canonical_event_bytes(
        make_record(1, time=START)
    )


def test_canonical_bytes_cover_every_field() -> None:
    content = json.loads(canonical_event_bytes(make_record(1)))

    assert set(content) == {field.name for field in dataclasses.fields(AuditRecord)}


def test_event_hash_is_sha256_of_link_and_content() -> None:
    record = make_record(1)
    expected = hashlib.sha256(GENESIS_HASH.encode() + canonical_event_bytes(record)).hexdigest()

    assert compute_event_hash(record, GENESIS_HASH) == expected


def test_event_hash_depends_on_previous() -> None:
    record = make_record(1)

    assert compute_event_hash(record, GENESIS_HASH) != compute_event_hash(record, "1" * 64)


# Chain verification


def test_chain_of_50_verifies() -> None:
    assert verify_chain(make_chain(50)) == []


def test_empty_chain_verifies() -> None:
    assert verify_chain([]) == []


def test_chain_suffix_verifies_with_start_hash() -> None:
    events = make_chain(50)

    assert verify_chain(events[20:], start_hash=events[19].event_hash) == []


def test_chain_suffix_without_start_hash_breaks() -> None:
    events = make_chain(50)

    breaks = verify_chain(events[20:])

    assert breaks == [
        ChainBreak(
            21, "previous hash is not the start of the chain (an event before it was removed)"
        )
    ]


EDITED_FIELDS = [
    ("time", START + timedelta(days=1)),
    ("category", "SEC_CONFIG"),
    ("action", "token.delete"),
    ("actor", "intruder"),
    ("source_ip", "198.51.100.1"),
    ("source_ip", None),
    ("target", "token-other"),
    ("reason", "nothing happened"),
    ("reason", None),
    ("details", {"host_id": HOST_ID, "max_uses": 99999}),
    ("details", {}),
]


@pytest.mark.parametrize(("field_name", "value"), EDITED_FIELDS)
def test_edited_field_detected(field_name: str, value: Any) -> None:
    events = make_chain(50)
    edited = events[24]
    events[24] = dataclasses.replace(
        edited, record=dataclasses.replace(edited.record, **{field_name: value})
    )

    assert verify_chain(events) == [ChainBreak(25, "content does not match its hash (edited)")]


def test_edited_outcome_detected() -> None:
    events = make_chain(50)
    edited = events[9]
    record = dataclasses.replace(edited.record, outcome="failure", error_code="forbidden")
    events[9] = dataclasses.replace(edited, record=record)

    assert verify_chain(events) == [ChainBreak(10, "content does not match its hash (edited)")]


def test_edited_sequence_detected() -> None:
    events = make_chain(50)
    edited = events[9]
    events[9] = dataclasses.replace(edited, record=dataclasses.replace(edited.record, sequence=11))

    breaks = verify_chain(events)

    assert ChainBreak(11, "content does not match its hash (edited)") in breaks
    assert any("sequence 11 follows 11" in chain_break.problem for chain_break in breaks)
    assert break_sequences(breaks) == {11}


def test_edited_event_hash_detected() -> None:
    events = make_chain(50)
    events[30] = dataclasses.replace(events[30], event_hash="f" * 64)

    breaks = verify_chain(events)

    assert [chain_break.sequence for chain_break in breaks] == [31, 32]
    assert "edited" in breaks[0].problem
    assert "previous hash does not match" in breaks[1].problem


def test_removed_event_detected() -> None:
    events = make_chain(50)
    del events[41]

    assert verify_chain(events) == [
        ChainBreak(43, "sequence gap after 41 (an event was removed)"),
    ]


def test_removed_first_event_detected() -> None:
    events = make_chain(50)[1:]

    breaks = verify_chain(events)

    assert break_sequences(breaks) == {2}
    assert "start of the chain" in breaks[0].problem


def test_removed_and_renumbered_detected() -> None:
    """Renumbering after a removal hides the gap, but not the broken hashes."""
    events = make_chain(50)
    del events[41]
    for index in range(41, len(events)):
        event = events[index]
        record = dataclasses.replace(event.record, sequence=event.record.sequence - 1)
        events[index] = dataclasses.replace(event, record=record)

    breaks = verify_chain(events)

    assert (
        ChainBreak(
            42,
            "previous hash does not match the event before it "
            "(an event before it was removed, reordered or edited)",
        )
        in breaks
    )
    assert min(break_sequences(breaks)) == 42
    assert all(
        "edited" in chain_break.problem for chain_break in breaks if chain_break.sequence > 42
    )


def test_swapped_events_detected() -> None:
    """Two stored events exchange places, and each takes the other's sequence number."""
    events = make_chain(50)
    first, second = events[14], events[15]
    events[14] = dataclasses.replace(second, record=dataclasses.replace(second.record, sequence=15))
    events[15] = dataclasses.replace(first, record=dataclasses.replace(first.record, sequence=16))

    breaks = verify_chain(events)

    assert break_sequences(breaks) == {15, 16, 17}
    assert ChainBreak(15, "content does not match its hash (edited)") in breaks
    assert ChainBreak(16, "content does not match its hash (edited)") in breaks


def test_events_out_of_order_detected() -> None:
    events = make_chain(50)
    events[14], events[15] = events[15], events[14]

    breaks = verify_chain(events)

    assert ChainBreak(15, "sequence 15 follows 16 (events are reordered or duplicated)") in breaks
    assert 15 in break_sequences(breaks)
    assert 16 in break_sequences(breaks)


def test_duplicated_event_detected() -> None:
    events = make_chain(50)
    events.insert(10, events[9])

    assert verify_chain(events) == [
        ChainBreak(10, "sequence 10 follows 10 (events are reordered or duplicated)")
    ]


def test_changed_previous_hash_detected() -> None:
    events = make_chain(50)
    events[33] = dataclasses.replace(events[33], previous_hash="a" * 64)

    assert verify_chain(events) == [
        ChainBreak(34, "content does not match its hash (edited)"),
        ChainBreak(
            34,
            "previous hash does not match the event before it "
            "(an event before it was removed, reordered or edited)",
        ),
    ]


def test_changed_previous_hash_rehashed_detected() -> None:
    """An attacker who also recomputes the event's own hash still breaks the next link."""
    events = make_chain(50)
    record = events[33].record
    forged_hash = compute_event_hash(record, "a" * 64)
    events[33] = ChainedEvent(record, "a" * 64, forged_hash)

    breaks = verify_chain(events)

    assert break_sequences(breaks) == {34, 35}
    assert all("previous hash does not match" in chain_break.problem for chain_break in breaks)


def test_changed_first_previous_hash_detected() -> None:
    events = make_chain(50)
    events[0] = dataclasses.replace(events[0], previous_hash="b" * 64)

    breaks = verify_chain(events)

    assert break_sequences(breaks) == {1}
    assert "edited" in breaks[0].problem
    assert "start of the chain" in breaks[1].problem
