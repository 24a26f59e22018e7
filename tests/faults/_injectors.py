"""The faults the harness injects below the process level: a network partition (network
namespaces and a veth pair), a full disk (a small tmpfs), and cut connections on the
links to the target (a TCP proxy in front of it). The first two need root; each has a
probe that says why it cannot run instead of failing.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from typing import TYPE_CHECKING

import anyio
import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from anyio.abc import SocketStream, TaskGroup


class Partition:
    """The target edge in its own network namespace, joined by a veth pair it can be cut
    from (``ip link set down``: the source and the supervisor lose it, it loses them).

    The root side of the pair (``10.213.N.1``) stays a local address of this host while
    the link is down, so the writer's path to the source never depends on it.
    """

    def __init__(self, index: int) -> None:
        n = index % 250
        self.ns, self.root_if, self.ns_if = f"fx{n}", f"fxr{n}", f"fxn{n}"
        self.root_ip, self.ns_ip = f"10.213.{n}.1", f"10.213.{n}.2"

    def _ns(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *args]

    def create(self) -> None:
        """Create the namespace and the pair (raises when not permitted)."""
        self.delete()
        for cmd in (
            ["ip", "netns", "add", self.ns],
            ["ip", "link", "add", self.root_if, "type", "veth", "peer", "name", self.ns_if],
            ["ip", "link", "set", self.ns_if, "netns", self.ns],
            ["ip", "addr", "add", f"{self.root_ip}/30", "dev", self.root_if],
            ["ip", "link", "set", self.root_if, "up"],
            self._ns("ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if),
            self._ns("ip", "link", "set", self.ns_if, "up"),
            self._ns("ip", "link", "set", "lo", "up"),
        ):
            subprocess.run(cmd, check=True, capture_output=True)

    def cut(self) -> None:
        """Take the link down (both directions)."""
        subprocess.run(["ip", "link", "set", self.root_if, "down"], check=True)

    def heal(self) -> None:
        """Bring the link back up."""
        subprocess.run(["ip", "link", "set", self.root_if, "up"], check=True)

    def delete(self) -> None:
        """Remove the namespace and the pair (quietly when absent)."""
        subprocess.run(["ip", "netns", "del", self.ns], check=False, capture_output=True)
        subprocess.run(["ip", "link", "del", self.root_if], check=False, capture_output=True)


class SmallDisk:
    """A tmpfs of ``size`` mounted on ``path`` (the target's data directory), which
    :meth:`fill` fills with a ballast file and :meth:`free` empties again."""

    def __init__(self, path: Path, size: str = "64m") -> None:
        self.path = path
        self.size = size
        self.ballast = path / "ballast"

    def mount(self) -> None:
        """Mount it (raises when not permitted)."""
        self.path.mkdir(parents=True, exist_ok=True)
        cmd = ["mount", "-t", "tmpfs", "-o", f"size={self.size}", "tmpfs", str(self.path)]
        subprocess.run(cmd, check=True, capture_output=True)

    def fill(self) -> int:
        """Write the ballast until the disk is full; return its bytes."""
        written = 0
        with contextlib.suppress(OSError), self.ballast.open("wb") as out:
            while True:
                out.write(b"\0" * (1 << 16))
                out.flush()
                written += 1 << 16
        return written

    def free(self) -> None:
        """Delete the ballast."""
        self.ballast.unlink(missing_ok=True)

    def unmount(self) -> None:
        """Unmount (lazily: a killed daemon's files may still be closing)."""
        subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)


@contextlib.contextmanager
def mounted_small_disk(root: Path, size: str = "1m") -> Iterator[SmallDisk]:
    """A :class:`SmallDisk` of ``size`` on ``root/disk``, unmounted after the block; the
    calling test is skipped where mounting is not permitted."""
    why = disk_unavailable(root)
    if why is not None:
        pytest.skip(why)
    disk = SmallDisk(root / "disk", size)
    disk.mount()
    try:
        yield disk
    finally:
        disk.unmount()


def disk_unavailable(root: Path) -> str | None:
    """Why a tmpfs cannot be mounted here (``None``: it can)."""
    probe = SmallDisk(root / "probe-disk", "1m")
    try:
        probe.mount()
    except (OSError, subprocess.CalledProcessError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        return f"cannot mount a tmpfs (needs root): {exc} {err!r}"
    probe.unmount()
    return None


def partition_unavailable() -> str | None:
    """Why network-namespace partitions cannot run here (``None``: they can)."""
    probe = Partition(os.getpid() + 249)
    try:
        probe.create()
    except (OSError, subprocess.CalledProcessError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        return f"cannot create a network namespace with a veth pair (needs root): {exc} {err!r}"
    finally:
        probe.delete()
    return None


class LinkProxy:
    """A TCP proxy in front of the target: the supervisor's admin calls, the source's peer
    stream and the writes forwarded after the cutover all reach the target through it.

    :meth:`cut` resets every open connection and refuses new ones (accepted, then closed
    at once: the peer sees its connection cut) until :meth:`heal`. The harness's own
    reads go to the target directly.
    """

    def __init__(self, tg: TaskGroup) -> None:
        self._tg = tg
        self.port = 0
        self._upstream: tuple[str, int] | None = None
        self._cut = False
        self._open: set[SocketStream] = set()

    async def start(self, upstream_host: str, upstream_port: int) -> None:
        """Listen on a free loopback port, forwarding to ``upstream`` (serves in the task
        group given at construction: cancel it to stop)."""
        self._upstream = (upstream_host, upstream_port)
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        self._tg.start_soon(listener.serve, self._handle, self._tg)

    @property
    def url(self) -> str:
        """The URL the topology gives for the target."""
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, client: SocketStream) -> None:
        assert self._upstream is not None
        async with client:
            if self._cut:
                return
            try:
                server = await anyio.connect_tcp(*self._upstream)
            except OSError:  # the target is down: the client sees a cut connection
                return
            async with server, anyio.create_task_group() as tg:
                self._open.update((client, server))
                tg.start_soon(self._pump, client, server, tg)
                tg.start_soon(self._pump, server, client, tg)
            self._open.difference_update((client, server))

    @staticmethod
    async def _pump(src: SocketStream, dst: SocketStream, tg: TaskGroup) -> None:
        try:
            async for chunk in src:
                await dst.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass  # a cut or a closed side: the connection ends
        tg.cancel_scope.cancel()  # one side ended: end the other

    async def cut(self) -> None:
        """Reset every open connection; refuse new ones until :meth:`heal`."""
        self._cut = True
        for stream in list(self._open):
            with contextlib.suppress(OSError, anyio.BrokenResourceError):
                await stream.aclose()
        self._open.clear()

    def heal(self) -> None:
        """Let connections through again."""
        self._cut = False
