"""The source tree of an older commit of this repository, to run a real older edge."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def source_tree(commit: str, into: Path) -> Path:
    """``src/`` of ``commit`` extracted under ``into``; skips when this checkout has no
    history to take it from (an exported tree, a shallow clone)."""
    if shutil.which("git") is None or shutil.which("tar") is None or not (REPO / ".git").exists():
        pytest.skip("no git history here to take an older edge from")
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit, "src"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        pytest.skip(f"commit {commit} is not in this clone: {archive.stderr.decode().strip()}")
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"
