"""Audit event export formats, shared by ``hostca audit export`` and the console."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

__all__ = [
    "EXPORT_COLUMNS",
    "EXPORT_FORMATS",
    "csv_lines",
    "jsonl_lines",
    "write_csv",
    "write_jsonl",
]

EXPORT_COLUMNS = (
    "sequence",
    "time",
    "category",
    "action",
    "actor",
    "source_ip",
    "target",
    "host_id",
    "outcome",
    "error_code",
    "reason",
    "details",
)

EXPORT_FORMATS = ("jsonl", "csv")

# Spreadsheets run a cell that starts with one of these as a formula
# (OWASP "CSV Injection").
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _json_default(value: Any) -> str:
    # Event times are datetimes in the service layer and ISO 8601 strings over HTTP.
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    raise TypeError(f"cannot export {type(value).__name__}")


def jsonl_lines(events: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Yield one JSON object per event and line, with values verbatim."""
    for event in events:
        yield json.dumps(event, ensure_ascii=False, default=_json_default) + "\n"


def csv_cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "details":
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_default)
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:
        text = str(value)
    if text.startswith(_FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_lines(events: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Yield a header line, then one line per event; formula-like cells get an apostrophe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    yield _drain(buffer)
    for event in events:
        writer.writerow([csv_cell(column, event.get(column)) for column in EXPORT_COLUMNS])
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def write_jsonl(events: Iterable[dict[str, Any]], stream: IO[str]) -> int:
    count = 0
    for line in jsonl_lines(events):
        stream.write(line)
        count += 1
    return count


def write_csv(events: Iterable[dict[str, Any]], stream: IO[str]) -> int:
    lines = csv_lines(events)
    stream.write(next(lines))
    count = 0
    for line in lines:
        stream.write(line)
        count += 1
    return count
