"""Issue 11, "token in argv": ``--token VALUE`` is refused by every command (it would be
visible in ``ps``), with an error naming ``--token-file`` and the environment variable."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

SECRET = "argv-token-0123456789abcdefghij"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_ACTORS_")}
    return subprocess.run(
        [sys.executable, "-m", "edge_actors.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["daemon", "--name", "e", "--data-dir", "{tmp}/d"],
        ["list", "--daemon", "http://127.0.0.1:9"],
        ["health", "--daemon", "http://127.0.0.1:9"],
    ],
)
def test_a_token_in_argv_is_refused(tmp_path: Path, command: list[str]) -> None:
    args = [part.replace("{tmp}", str(tmp_path)) for part in command]
    result = _cli(*args, "--token", SECRET)
    assert result.returncode == 2
    assert "--token-file" in result.stderr
    assert "EDGE_ACTORS_CLUSTER_TOKEN" in result.stderr
    assert SECRET not in result.stderr + result.stdout
    assert not (tmp_path / "d").exists()  # the daemon never started


def test_a_weak_token_file_is_refused(tmp_path: Path) -> None:
    weak = tmp_path / "weak.token"
    weak.write_text("s3cret\n")
    result = _cli("daemon", "--name", "e", "--data-dir", str(tmp_path / "d"),
                  "--token-file", str(weak))  # fmt: skip
    assert result.returncode == 2
    assert "too weak" in result.stderr
    assert "s3cret" not in result.stderr


def test_a_public_address_without_credentials_refuses_to_start(tmp_path: Path) -> None:
    result = _cli("daemon", "--name", "e", "--data-dir", str(tmp_path / "d"), "--host", "0.0.0.0")
    assert result.returncode == 2
    assert "no credential is configured" in result.stderr
    assert "--token-file" in result.stderr
