"""The README keeps its promises: its Python tour (and getting-started's) runs, and CI runs
its test command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
GETTING_STARTED = (ROOT / "docs" / "getting-started.md").read_text()


def _blocks(language: str, text: str = README) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


TOUR = _blocks("python") + _blocks("python", GETTING_STARTED)


@pytest.mark.parametrize("index", range(len(TOUR)))
def test_python_tour_block_runs(index: int, tmp_path: Path) -> None:
    script = tmp_path / f"tour_{index}.py"
    script.write_text(TOUR[index])
    env = {**os.environ, "EDGE_ACTORS_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_ci_runs_the_readme_test_command_after_a_fresh_install() -> None:
    bash = _blocks("bash")
    setup, tests = bash[0].strip(), bash[1].strip()
    assert "pip install -e '.[dev]'" in setup
    assert "edge-actors demo" in setup
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci, f"{tests!r} must be a line of .ci/run"
    install = next(i for i, line in enumerate(ci) if "pip install" in line and ".[dev]" in line)
    venv = next(i for i, line in enumerate(ci) if "-m venv" in line)
    assert venv < install < ci.index(tests)
