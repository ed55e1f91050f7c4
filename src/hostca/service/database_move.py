"""Move a primary server from its database to another, such as from SQLite to PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from hostca.core.errors import ConflictError, InvalidRequestError, UnavailableError
from hostca.datadir import DataDir
from hostca.service.audit_log import append_event
from hostca.service.audit_service import verify_events
from hostca.service.context import Actor
from hostca.service.server_setup import check_database_collation, database_for, open_context
from hostca.store.database import Database
from hostca.store.database_copy import copy_tables

__all__ = ["MoveRequest", "MoveResult", "move_database"]


@dataclass(frozen=True)
class MoveRequest:
    data_dir: Path
    target_url: str
    ca_passphrase: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class MoveResult:
    source: str
    target: str
    rows: dict[str, int]
    events: int


def move_database(request: MoveRequest) -> MoveResult:
    """Copy the server's database into the empty target and make it the server's database.

    The caller holds the data directory's server lock, so no server writes meanwhile.
    The source stays as it was. ``server.json`` names the target only after the copy
    and its audit chain have been checked.
    """
    layout = DataDir(request.data_dir)
    config = layout.read_config()
    source = database_for(layout, None)
    target = Database(request.target_url)
    try:
        _check_move(source, target)
        target.upgrade()
        rows = copy_tables(source, target)
        source_name = source.url_for_display
    finally:
        source.dispose()
        target.dispose()

    context = open_context(
        layout, ca_passphrase=request.ca_passphrase, database_url=request.target_url
    )
    try:
        with context.database.transaction() as connection:
            append_event(
                connection,
                context,
                category="SEC_CONFIG",
                action="database_move",
                actor=Actor(name="hostca-move-database"),
                target=context.database.url_for_display,
                details={"from": source_name, "rows": rows},
            )
        events, breaks = verify_events(context)
        target_name = context.database.url_for_display
    finally:
        context.database.dispose()
    if breaks:
        raise UnavailableError(
            f"{target_name}: the copied audit chain breaks at event {breaks[0].sequence}; "
            "the server still uses its old database. Run 'hostca audit verify' on it.",
            code="audit_chain_broken",
        )

    layout.write_config(replace(config, database_url=request.target_url))
    return MoveResult(source=source_name, target=target_name, rows=rows, events=events)


def _check_move(source: Database, target: Database) -> None:
    if source.url == target.url:
        raise InvalidRequestError(
            f"{target.url_for_display}: already the server's database; give another with --to.",
            code="database_url_invalid",
        )
    source.check_schema()
    if not target.is_empty():
        raise ConflictError(
            f"{target.url_for_display}: already contains a hostca domain; give an empty database.",
            code="database_not_empty",
        )
    check_database_collation(target)
