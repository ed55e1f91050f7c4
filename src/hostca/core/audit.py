"""Audit events and their hash chain.

Each stored event carries the SHA-256 of the previous event's hash followed by
its own canonical content, so editing, removing or reordering an event breaks
the chain at that event.

NOTE: The chain alone cannot show that the newest events were cut off, or that
the whole chain was rewritten. Detecting that needs a copy of a recent event
hash kept outside the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

__all__ = [
    "CATEGORIES",
    "GENESIS_HASH",
    "OUTCOMES",
    "AuditRecord",
    "ChainBreak",
    "ChainedEvent",
    "canonical_event_bytes",
    "compute_event_hash",
    "verify_chain",
]

CATEGORIES = ("CERT", "TOKEN", "HOST", "LOGIN", "SEC_CONFIG")
OUTCOMES = ("success", "failure")
GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class AuditRecord:
    """The content of one audit event, which its hash covers.

    ``actor`` is a user name, ``host:<host_id>`` or ``anonymous``. ``target`` is
    a host ID, token name or serial number. A failure carries the ``code`` of
    its error in ``error_code``, and a success carries none. ``details`` must
    be JSON-serializable and must never contain a secret.
    """

    sequence: int
    time: datetime
    category: str
    action: str
    actor: str
    source_ip: str | None
    target: str | None
    outcome: str
    error_code: str | None
    reason: str | None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check the invariants that a caller, not a user, would break, and freeze ``details``."""
        if self.sequence < 1:
            raise ValueError(f"sequence {self.sequence} must be 1 or more")
        if self.time.utcoffset() is None:
            raise ValueError(f"time {self.time.isoformat()} must be timezone-aware")
        if self.category not in CATEGORIES:
            raise ValueError(f"category {self.category!r} must be one of {', '.join(CATEGORIES)}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome {self.outcome!r} must be one of {', '.join(OUTCOMES)}")
        if (self.outcome == "failure") != (self.error_code is not None):
            raise ValueError(
                f"error_code {self.error_code!r} does not fit outcome {self.outcome!r}: "
                "a failure needs an error code and a success has none"
            )

        object.__setattr__(self, "time", self.time.astimezone(UTC))
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))
        # Serializing once here makes a bad detail fail where it is recorded,
        # not later when the chain is written or verified.
        canonical_event_bytes(self)


@dataclass(frozen=True)
class ChainedEvent:
    """An audit record as stored: with the hash it links to and its own hash."""

    record: AuditRecord
    previous_hash: str
    event_hash: str


@dataclass(frozen=True)
class ChainBreak:
    """One place where the chain does not hold, named by the sequence number of the event."""

    sequence: int
    problem: str


def canonical_event_bytes(record: AuditRecord) -> bytes:
    """Serialize a record deterministically: JSON, sorted keys, no whitespace, ASCII only.

    ``time`` is ISO 8601 in UTC with microseconds and ``Z``. Raises ValueError
    when ``details`` holds a value that JSON cannot carry exactly, such as an
    object or NaN.
    """
    content = {field_.name: getattr(record, field_.name) for field_ in fields(record)}
    content["time"] = record.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    content["details"] = dict(record.details)
    try:
        text = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except TypeError as error:
        raise ValueError(f"audit event {record.sequence}: details are not JSON: {error}") from None
    return text.encode("ascii")


def compute_event_hash(record: AuditRecord, previous_hash: str) -> str:
    """Return the SHA-256, in lower-case hex, of the previous hash followed by the record."""
    digest = hashlib.sha256(previous_hash.encode("utf-8"))
    digest.update(canonical_event_bytes(record))
    return digest.hexdigest()


def verify_chain(
    events: Iterable[ChainedEvent], *, start_hash: str = GENESIS_HASH
) -> list[ChainBreak]:
    """Check a run of events in ascending sequence order and return every break found.

    An empty list means the chain is intact. The first event must link to
    ``start_hash``: the genesis hash for a chain from its start, or the hash of
    the event just before the run.
    """
    breaks: list[ChainBreak] = []
    previous: ChainedEvent | None = None

    for event in events:
        sequence = event.record.sequence
        if compute_event_hash(event.record, event.previous_hash) != event.event_hash:
            breaks.append(ChainBreak(sequence, "content does not match its hash (edited)"))

        if previous is None:
            if event.previous_hash != start_hash:
                breaks.append(
                    ChainBreak(
                        sequence,
                        "previous hash is not the start of the chain "
                        "(an event before it was removed)",
                    )
                )
        else:
            breaks.extend(_check_link(previous, event))
        previous = event

    return breaks


def _check_link(previous: ChainedEvent, event: ChainedEvent) -> list[ChainBreak]:
    """Check that an event follows the one before it, by sequence number and by hash.

    A sequence break already explains why the hashes do not link, so only one
    break is reported for the pair.
    """
    before = previous.record.sequence
    sequence = event.record.sequence

    if sequence <= before:
        problem = f"sequence {sequence} follows {before} (events are reordered or duplicated)"
    elif sequence > before + 1:
        problem = f"sequence gap after {before} (an event was removed)"
    elif event.previous_hash != previous.event_hash:
        problem = (
            "previous hash does not match the event before it "
            "(an event before it was removed, reordered or edited)"
        )
    else:
        return []
    return [ChainBreak(sequence, problem)]
