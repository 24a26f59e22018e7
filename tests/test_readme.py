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
    lock_install = "pip install --require-hashes -r requirements/dev.txt"
    project_install = "pip install --no-deps --no-build-isolation -e ."
    assert lock_install in setup
    assert project_install in setup
    assert setup.index(lock_install) < setup.index(project_install)
    assert "edge-actors demo" in setup
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci, f"{tests!r} must be a line of .ci/run"
    venv = next(i for i, line in enumerate(ci) if "-m venv" in line)
    lock = next(i for i, line in enumerate(ci) if lock_install in line)
    project = next(i for i, line in enumerate(ci) if project_install in line)
    assert venv < lock < project < ci.index(tests)


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    """Every requirement of pyproject.toml (runtime and dev) is pinned, hash-checked."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    lock = (ROOT / "requirements" / "dev.txt").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", lock, flags=re.MULTILINE))
    normal = {re.sub(r"[-_.]+", "-", name).lower() for name in pins}
    for requirement in wanted:
        name = re.split(r"[<>=;\[ ]", requirement, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name).lower() in normal, f"{name} is not in the lock"
    blocks = re.split(r"\n(?=\S)", lock)
    for block in blocks:
        if "==" in block:
            assert "--hash=sha256:" in block, f"no hash for {block.splitlines()[0]}"
