"""docs/security.md names a test for each promise; every one of them must exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def functions_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def test_every_named_test_exists() -> None:
    text = (REPOSITORY / "docs" / "security.md").read_text()
    references = REFERENCE.findall(text)
    assert len(references) >= 20

    missing = [
        f"{file}::{name}"
        for file, name in references
        if not (REPOSITORY / file).is_file() or name not in functions_in(REPOSITORY / file)
    ]
    assert missing == []
