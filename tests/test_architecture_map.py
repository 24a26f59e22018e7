"""docs/architecture.md's module map lists every module of the package, and nothing else.

A newcomer finds where a change belongs from that map alone, so a module added, split or
renamed without its row fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "edge_actors"


def _mapped() -> set[str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    _, found, section = text.partition("## Module map")
    assert found, "docs/architecture.md has no '## Module map' section"
    section = re.split(r"^## ", section, flags=re.MULTILINE)[0]
    return set(re.findall(r"^\| `([a-z_/]+\.py)` \| \S", section, flags=re.MULTILINE))


def test_every_module_has_a_row_with_its_job() -> None:
    modules = {str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")}
    mapped = _mapped()
    assert sorted(modules - mapped) == [], "modules missing from the map"
    assert sorted(mapped - modules) == [], "rows for modules that no longer exist"
