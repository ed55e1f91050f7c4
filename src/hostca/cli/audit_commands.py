"""``hostca audit``: list, verify and export the hash-chained audit events.

The server filters the events and checks the chain; these commands page through
``GET /api/v1/audit`` and print or write what it returns.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias

import click

from hostca.cli.output import emit, emit_table, format_time, json_option
from hostca.core.errors import HostcaError, InvalidRequestError
from hostca.service.audit_export import write_csv, write_jsonl

if TYPE_CHECKING:
    from hostca.apiclient import ApiClient

__all__ = ["audit"]

EventWriter: TypeAlias = Callable[[Iterator[dict[str, Any]], IO[str]], int]
"""Writes events to a text stream in one export format and returns their number."""

# Events fetched per request by ``audit export``.
EXPORT_PAGE_SIZE = 1000


@click.group("audit")
def audit() -> None:
    """List, verify and export audit events."""


@audit.command("list")
@click.option(
    "--category",
    metavar="C",
    help="Only events of this category: CERT, TOKEN, HOST, LOGIN or SEC_CONFIG.",
)
@click.option(
    "--since",
    metavar="TIME",
    help="Only events at or after this time, ISO 8601 with an offset, such as "
    "2030-01-31T00:00:00Z.",
)
@click.option("--host", metavar="HOST", help="Only events about this host (name or host ID).")
@click.option("--actor", metavar="A", help="Only events by this actor, such as admin.")
@click.option(
    "--limit", type=int, help="Show at most this many of the newest events (default 1000)."
)
@json_option
def list_(
    category: str | None,
    since: str | None,
    host: str | None,
    actor: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """List audit events, oldest first."""
    from hostca.cli.session import admin_client

    # The newest events, oldest of them first, as a log reads.
    filters = {
        "category": category,
        "since": since,
        "host": host,
        "actor": actor,
        "limit": limit,
        "latest": "true",
    }
    params = {key: str(value) for key, value in filters.items() if value is not None}
    with admin_client() as client:
        events = client.get_json("/api/v1/audit", params=params)
    emit(events, as_json, _list_text)


def _list_text(events: list[dict[str, Any]]) -> str:
    if not events:
        return "No audit events."
    rows = [
        (
            event["sequence"],
            format_time(event["time"]),
            event["category"],
            event["action"],
            event["actor"],
            _outcome(event),
            event.get("target") or "-",
            event.get("reason") or "-",
        )
        for event in events
    ]
    headers = ["SEQ", "TIME", "CATEGORY", "ACTION", "ACTOR", "OUTCOME", "TARGET", "REASON"]
    return emit_table(rows, headers)


def _outcome(event: dict[str, Any]) -> str:
    error_code = event.get("error_code")
    return f"{event['outcome']} ({error_code})" if error_code else str(event["outcome"])


@audit.command("verify")
@json_option
def verify(as_json: bool) -> None:
    """Check the hash chain of every event; exit non-zero when it is broken.

    A break means that an event was edited, removed or reordered.
    """
    from hostca.cli.session import admin_client

    with admin_client() as client:
        result = client.get_json("/api/v1/audit/verify")
    emit(result, as_json, _verify_text)

    if not result.get("intact"):
        breaks = result.get("breaks") or []
        raise HostcaError(
            f"the audit chain of {result.get('events')} events has {len(breaks)} break(s); "
            "restore the database from a backup or investigate the events listed.",
            code="audit_chain_broken",
        )


def _verify_text(result: dict[str, Any]) -> str:
    if result.get("intact"):
        return f"The audit chain is intact: {result.get('events')} events verified."
    return "\n".join(
        f"break at event {item.get('sequence')}: {item.get('problem')}"
        for item in result.get("breaks") or []
    )


@audit.command("export")
@click.option(
    "--format",
    "export_format",
    metavar="jsonl|csv",
    required=True,
    help="jsonl writes one JSON object per event and line, with values verbatim. csv writes "
    "a header and one row per event; a cell that starts with =, +, -, @, tab or carriage "
    "return gets a leading apostrophe so that spreadsheets do not run it as a formula.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
def export(export_format: str, out: Path | None) -> None:
    """Export every audit event, oldest first."""
    from hostca.cli.session import admin_client

    writers: dict[str, EventWriter] = {"jsonl": write_jsonl, "csv": write_csv}
    if export_format.lower() not in writers:
        raise InvalidRequestError(
            f"{export_format}: unknown export format; use jsonl or csv.", code="format_invalid"
        )
    write = writers[export_format.lower()]

    with admin_client() as client:
        if out is None:
            write(_all_events(client), sys.stdout)
            return
        with out.open("w", encoding="utf-8", newline="") as stream:
            count = write(_all_events(client), stream)
    click.echo(f"Exported {count} audit events to {out}.")


def _all_events(client: ApiClient) -> Iterator[dict[str, Any]]:
    """Yield every event in sequence order, one page at a time.

    Events are only ever appended, so paging by offset neither skips nor repeats
    one of the events that existed when the export started.
    """
    offset = 0
    while True:
        params = {"limit": str(EXPORT_PAGE_SIZE), "offset": str(offset)}
        page: list[dict[str, Any]] = client.get_json("/api/v1/audit", params=params)
        yield from page
        if len(page) < EXPORT_PAGE_SIZE:
            return
        offset += len(page)
