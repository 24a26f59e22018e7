"""Real ``edge-actors daemon`` subprocesses: wait for the ready line, kill at the end.

A daemon prints one line when it listens (``edge-actors daemon NAME listening on URL``,
``edge_actors.cli._daemon``); a test that starts one as a subprocess waits for that line
instead of polling the port, and takes the URL from it (the daemons bind port 0).
"""

from __future__ import annotations

import subprocess
from contextlib import asynccontextmanager
from typing import IO, TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence

    from anyio.abc import Process

__all__ = ["READY_TIMEOUT_S", "daemon_subprocess", "ready_url"]

READY_TIMEOUT_S = 30.0
"""How long a daemon may take to print its ready line (a loaded machine, a cold start)."""


async def ready_url(
    process: Process, *, name: str | None = None, timeout: float = READY_TIMEOUT_S
) -> str:
    """Read ``process``'s stdout up to its first line, the ready line; return its URL.

    Args:
        process: A daemon started with ``stdout`` piped (anyio's default).
        name: The daemon's name, when the line must name it.
        timeout: Seconds to wait for the line.

    Raises:
        TimeoutError: No full line within ``timeout``.
        AssertionError: The first line is not the ready line (of ``name``).
    """
    assert process.stdout is not None
    buffer = b""
    with anyio.fail_after(timeout):
        while b"\n" not in buffer:
            buffer += await process.stdout.receive()
    line = buffer.split(b"\n", 1)[0].decode()
    expected = f"edge-actors daemon {name} listening on " if name else " listening on "
    assert expected in line, line
    return line.rsplit(" ", 1)[1]


@asynccontextmanager
async def daemon_subprocess(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    stderr: int | IO[bytes] | None = subprocess.PIPE,
    name: str | None = None,
) -> AsyncIterator[tuple[Process, str]]:
    """Start ``args`` (an ``edge-actors daemon`` command line) and yield it with its URL
    once it is ready; a process still running at the end is killed (and reaped).

    ``stderr`` is where the daemon's log goes (a file keeps it for a failing test's
    reader; anyio's default, a pipe, is never read here).
    """
    async with await anyio.open_process(list(args), stderr=stderr, env=dict(env)) as process:
        try:
            yield process, await ready_url(process, name=name)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
