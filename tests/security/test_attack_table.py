"""Every attack issue 11 was filed with is listed in docs/security.md with the tests
that close it, and every test named there exists (a renamed or deleted test, or a row
left out, fails here instead of leaving the table stale)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Issue 11's attacks and the tests that close them"

ISSUE_ROWS = (
    "data API with no token",
    "disk fill, no token",
    "memory flood, no token",
    "idle / slowloris connections",
    "browser (CSRF, DNS rebinding)",
    "peer with token streams into an active workload",
    "one change at LSN 2^63-1",
    "TLS with a private CA",
    "token policy",
    "token in argv",
    "files at rest",
    "holds (token)",
    "batch of 2M tiny records (no token)",
    "`/admin/migrations` with deeply nested JSON",
    "idle peer WebSocket",
    "one cluster token for everything",
)
"""The first column of issue 11's table, in its order."""


def _table() -> dict[str, list[str]]:
    """The section's rows: attack -> the ``path::test`` names in its tests column."""
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if len(cells) != 3 or cells[0] in ("attack", "---"):
            continue
        rows[cells[0]] = re.findall(r"`(tests/[\w/]+\.py::\w+)`", cells[2])
    return rows


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test_")
    }


def test_every_row_of_the_issue_is_in_the_table_with_a_test() -> None:
    rows = _table()
    assert tuple(rows) == ISSUE_ROWS
    assert all(rows.values()), [attack for attack, tests in rows.items() if not tests]


def test_every_test_the_table_names_exists() -> None:
    missing = []
    for tests in _table().values():
        for reference in tests:
            path, _, name = reference.partition("::")
            file = ROOT / path
            if not file.is_file() or name not in _test_names(file):
                missing.append(reference)
    assert missing == []
