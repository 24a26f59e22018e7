"""Type-check the public API as users write it (``api_usage.py``) with mypy --strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _mypy(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.mark.slow
def test_public_api_type_checks_as_users_write_it() -> None:
    result = _mypy(HERE / "api_usage.py")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_misuse_of_the_api_is_a_type_error(tmp_path: Path) -> None:
    misuse = tmp_path / "misuse.py"
    misuse.write_text("from edge_actors.units import parse_size\nsize: str = parse_size('1MB')\n")
    result = _mypy(misuse)
    assert result.returncode == 1
    assert "Incompatible types in assignment" in result.stdout
