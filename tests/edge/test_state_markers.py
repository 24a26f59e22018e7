"""An edge's data directory keeps older versions out: where they look for routes and epochs
(``routing.json``, ``epochs.json``) it holds markers they cannot decode, so they refuse to
start rather than start with no routes and no epochs; and a state lost beside its markers
is refused too."""

from __future__ import annotations

import os
import stat
import sys
from typing import TYPE_CHECKING

import anyio
import msgspec
import pytest

from edge_actors.edge import EdgeError
from edge_actors.edge._edge_state import MARKER_FILES, open_edge_state
from edge_actors.edge._routing import Route
from edge_actors.edge._state_file import StateFile
from support.older_code import source_tree

if TYPE_CHECKING:
    from pathlib import Path

EDGE_FILES = ["edge.log", "edge.state", "epochs.json", "routing.json"]
TOKEN = "markers-test-token-0123456789abcdef"
_LAUNCH = "import sys\nfrom edge_actors.cli import main\nsys.exit(main())\n"


def test_a_new_edge_keeps_its_state_with_markers_older_readers_refuse(tmp_path: Path) -> None:
    routing, _ = open_edge_state(tmp_path)
    assert sorted(os.listdir(tmp_path)) == EDGE_FILES
    for name in MARKER_FILES:
        marker = tmp_path / name
        assert stat.S_IMODE(marker.stat().st_mode) == 0o600
        assert b"edge.state" in marker.read_bytes()
        # Versions up to session 16 decode these files as JSON: a marker is not JSON.
        with pytest.raises(msgspec.DecodeError):
            msgspec.json.decode(marker.read_bytes())
    # Session 17 reads ``routing.state`` and, without one, imports ``routing.json``.
    with pytest.raises(EdgeError, match=r"routing table '.*routing\.json' is unreadable"):
        StateFile(tmp_path / "routing.state", "routing table").load(dict[str, object])
    assert sorted(os.listdir(tmp_path)) == EDGE_FILES  # that failed read changed nothing
    assert routing.get("orders") is None


def test_markers_are_kept_as_they_are_on_later_starts(tmp_path: Path) -> None:
    routing, _ = open_edge_state(tmp_path)
    routing.put("orders", Route("incoming", None, "m1"))
    routing.state.save_now()
    before = {name: (tmp_path / name).stat() for name in MARKER_FILES}
    again, _ = open_edge_state(tmp_path)
    assert again.get("orders") == Route("incoming", None, "m1")
    for name, was in before.items():
        now = (tmp_path / name).stat()
        assert (now.st_ino, now.st_mtime_ns) == (was.st_ino, was.st_mtime_ns)
    assert sorted(os.listdir(tmp_path)) == EDGE_FILES


@pytest.mark.parametrize("lost", [["edge.state"], ["edge.state", "edge.log"]])
def test_a_state_lost_beside_its_markers_is_refused_by_name(
    tmp_path: Path, lost: list[str]
) -> None:
    routing, _ = open_edge_state(tmp_path)
    routing.put("orders", Route("moved", "http://east", "m1"))
    routing.state.save_now()
    for name in lost:
        (tmp_path / name).unlink()
    with pytest.raises(EdgeError, match=r"edge state '.*edge\.state' is missing, but '.*routing"):
        open_edge_state(tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted(set(EDGE_FILES) - set(lost))


@pytest.mark.anyio
async def test_a_daemon_refuses_to_start_on_a_lost_state(tmp_path: Path) -> None:
    data_dir = tmp_path / "edge-west"
    data_dir.mkdir()
    routing, _ = open_edge_state(data_dir)
    routing.put("orders", Route("moved", "http://east", "m1"))
    await routing.save()
    (data_dir / "edge.state").unlink()
    env = {**os.environ, "EDGE_ACTORS_CLUSTER_TOKEN": TOKEN}
    args = ["daemon", "--name", "edge-west", "--port", "0", "--data-dir", str(data_dir)]
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "edge_actors.cli", *args], check=False, env=env
        )
    err = done.stderr.decode()
    assert done.returncode != 0, err
    assert "edge.state' is missing, but" in err, err[-2000:]
    assert sorted(os.listdir(data_dir)) == ["edge.log", "epochs.json", "routing.json"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "commit", ["526c4e3", "873d28e"], ids=["session-16-json-files", "session-17-state-files"]
)
async def test_a_real_older_daemon_refuses_an_upgraded_directory(
    tmp_path: Path, commit: str
) -> None:
    data_dir = tmp_path / "edge-west"
    data_dir.mkdir()
    routing, _ = open_edge_state(data_dir)
    routing.put("orders", Route("moved", "http://east", "m1"))
    await routing.save()
    before = {name: (data_dir / name).read_bytes() for name in EDGE_FILES}
    src = source_tree(commit, tmp_path / "older")
    env = {"PYTHONPATH": str(src), "EDGE_ACTORS_CLUSTER_TOKEN": TOKEN, "PATH": ""}
    args = ["daemon", "--name", "edge-west", "--port", "0", "--data-dir", str(data_dir)]
    with anyio.fail_after(60):
        done = await anyio.run_process([sys.executable, "-c", _LAUNCH, *args], check=False, env=env)
    err = done.stderr.decode()
    assert done.returncode != 0, err
    assert "routing.json' is unreadable" in err, err[-2000:]
    assert {name: (data_dir / name).read_bytes() for name in EDGE_FILES} == before
