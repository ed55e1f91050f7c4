"""Output conventions shared by every ``hostca`` command.

Lists and show commands take ``--json``. Errors are one line on stderr (a JSON
object with ``code`` and ``message`` under ``--json``) and a non-zero exit status.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import click

__all__ = ["emit", "emit_table", "format_time", "json_option", "wants_json"]

F = TypeVar("F", bound=Callable[..., Any])


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.find_root().meta["hostca.json"] = True
    return value


def json_option(function: F) -> F:
    """Add ``--json`` to a command and record it for the error handler."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        is_eager=True,
        expose_value=True,
        callback=_remember_json,
        help="Print machine-readable JSON instead of text.",
    )(function)


def wants_json() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().meta.get("hostca.json"))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def emit(data: Any, as_json: bool, text: Callable[[Any], str] | str | None = None) -> None:
    """Print ``data`` as JSON, or as the text that ``text`` renders from it."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=_json_default))
        return
    if text is None:
        return
    click.echo(text if isinstance(text, str) else text(data))


def emit_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Render rows as an aligned plain-text table."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def format_time(value: str | datetime | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def print_error(code: str, message: str, *, as_json: bool | None = None) -> None:
    """Print one error line on stderr: a JSON object under ``--json``, else text."""
    if as_json if as_json is not None else wants_json():
        sys.stderr.write(json.dumps({"code": code, "message": message}) + "\n")
    else:
        sys.stderr.write(f"hostca: error: {message}\n")
