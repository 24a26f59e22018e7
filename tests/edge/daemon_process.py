"""A real ``edge-actors daemon`` subprocess for the resource-bound tests (RSS, fd limits).

Settings go in as ``EDGE_ACTORS_<FIELD>`` environment variables, the way an operator
would set them; ``nofile`` lowers the process's open-file limit before the daemon starts.
"""

from __future__ import annotations

import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, NamedTuple

from support.daemons import daemon_subprocess

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping
    from pathlib import Path

    from anyio.abc import Process

TOKEN = "bounds-test-token-0123456789abcdefghij"
_LAUNCH = (
    "import resource, sys\n"
    "limit = int(sys.argv.pop(1))\n"
    "if limit:\n"
    "    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))\n"
    "from edge_actors.cli import main\n"
    "sys.exit(main())\n"
)


class DaemonProcess(NamedTuple):
    """A running daemon subprocess and the URL from its ready line."""

    process: Process
    url: str


@asynccontextmanager
async def daemon_process(
    tmp_path: Path, name: str, settings: Mapping[str, str], *, nofile: int = 0
) -> AsyncIterator[DaemonProcess]:
    """Run ``edge-actors daemon`` with ``settings`` (config keys) until the block ends."""
    env = {"EDGE_ACTORS_CLUSTER_TOKEN": TOKEN, "PATH": ""}
    env.update({f"EDGE_ACTORS_{key.upper()}": value for key, value in settings.items()})
    args = [
        sys.executable,
        "-c",
        _LAUNCH,
        str(nofile),
        "daemon",
        "--name",
        name,
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / name),
    ]
    with (tmp_path / f"{name}.stderr").open("ab") as stderr:
        async with daemon_subprocess(args, env=env, stderr=stderr, name=name) as (process, url):
            yield DaemonProcess(process, url)


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size so far (Linux ``VmHWM``), in bytes."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")
