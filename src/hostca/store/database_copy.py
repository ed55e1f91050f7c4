"""Copy every hostca table from one database into another, such as SQLite into PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Connection, Integer, func, insert, select, text

from hostca.store.database import Database
from hostca.store.tables import metadata

__all__ = ["copy_tables"]

BATCH_ROWS = 1000


def copy_tables(source: Database, target: Database) -> dict[str, int]:
    """Copy every row of every table from ``source`` into ``target`` in one transaction.

    ``target`` must have the schema and no rows. Tables are copied parents first, so
    that foreign keys hold at every insert. Returns the number of rows per table.
    """
    counts: dict[str, int] = {}
    with source.engine.connect() as reader, target.transaction() as writer:
        for table in metadata.sorted_tables:
            counts[table.name] = 0
            result = reader.execution_options(yield_per=BATCH_ROWS).execute(select(table))
            for rows in result.partitions():
                writer.execute(insert(table), [dict(row._mapping) for row in rows])
                counts[table.name] += len(rows)
        if writer.dialect.name == "postgresql":
            _advance_sequences(writer)
    return counts


def _advance_sequences(writer: Connection) -> None:
    """Set each serial column's sequence past the highest copied value.

    The copied rows carry their own IDs, which PostgreSQL's sequences did not hand
    out, so the next insert would otherwise collide with a copied row.
    """
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            if column.autoincrement is not True or not isinstance(column.type, Integer):
                continue
            highest = writer.execute(select(func.max(column))).scalar_one()
            if highest is None:
                continue
            writer.execute(
                text("SELECT setval(pg_get_serial_sequence(:table, :column), :value)"),
                {"table": table.name, "column": column.name, "value": highest},
            )
