"""Each daemon on its own network stack: namespaces on a bridge, links shaped with ``tc tbf``.

For the failover benchmark (``benchmarks/failover.py --netns``): every node (the edges,
the supervisor replicas, PostgreSQL) gets its own network namespace with one veth link
to a bridge in the root namespace, shaped on both ends with a token bucket filter to a
realistic edge link (100 Mbit/s by default). The root namespace holds the bridge's
address, so the harness (the writer, the probes) reaches every node through the bridge.
Needs root; :func:`network_unavailable` says why it cannot run instead of failing.
"""

from __future__ import annotations

import os
import subprocess

__all__ = ["ShapedNetwork", "network_unavailable"]


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


class ShapedNetwork:
    """Namespaces ``fo<index>n<i>`` joined by veth links to bridge ``fo<index>br``.

    Args:
        index: distinguishes concurrent networks (interface names stay <= 15 chars).
        names: the nodes, in order; node ``i`` gets ``10.214.<index>.<i + 2>``.
        rate: the ``tc tbf`` rate of every link (both directions).
    """

    def __init__(self, index: int, names: list[str], rate: str = "100mbit") -> None:
        self.index = index % 250
        self.names = list(names)
        self.rate = rate
        self.bridge = f"fo{self.index}br"
        self.root_ip = f"10.214.{self.index}.1"

    def ns(self, name: str) -> str:
        """The namespace of node ``name``."""
        return f"fo{self.index}n{self.names.index(name)}"

    def ip(self, name: str) -> str:
        """The address of node ``name``."""
        return f"10.214.{self.index}.{self.names.index(name) + 2}"

    @property
    def subnet(self) -> str:
        """The network's /24, for PostgreSQL's ``pg_hba.conf``."""
        return f"10.214.{self.index}.0/24"

    def _shape(self, *prefix: str, dev: str) -> None:
        _run(*prefix, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", self.rate,
             "burst", "64kb", "latency", "50ms")  # fmt: skip

    def create(self) -> None:
        """Create the bridge, the namespaces and the shaped links (raises if not root)."""
        self.delete()
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{self.root_ip}/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        for i, name in enumerate(self.names):
            ns, outer, inner = self.ns(name), f"fo{self.index}o{i}", f"fo{self.index}i{i}"
            in_ns = ("ip", "netns", "exec", ns)
            _run("ip", "netns", "add", ns)
            _run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            _run("ip", "link", "set", inner, "netns", ns)
            _run("ip", "link", "set", outer, "master", self.bridge)
            _run("ip", "link", "set", outer, "up")
            _run(*in_ns, "ip", "addr", "add", f"{self.ip(name)}/24", "dev", inner)
            _run(*in_ns, "ip", "link", "set", inner, "up")
            _run(*in_ns, "ip", "link", "set", "lo", "up")
            self._shape(dev=outer)
            self._shape(*in_ns, dev=inner)

    def delete(self) -> None:
        """Remove everything (quietly when absent)."""
        for i, name in enumerate(self.names):
            subprocess.run(["ip", "netns", "del", self.ns(name)], check=False, capture_output=True)
            subprocess.run(
                ["ip", "link", "del", f"fo{self.index}o{i}"], check=False, capture_output=True
            )
        subprocess.run(["ip", "link", "del", self.bridge], check=False, capture_output=True)


def network_unavailable() -> str | None:
    """Why shaped namespaces cannot run here (``None``: they can)."""
    probe = ShapedNetwork(os.getpid() + 7, ["probe"])
    try:
        probe.create()
    except (OSError, subprocess.CalledProcessError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        return f"cannot create namespaces, veth links and tc tbf (needs root): {exc} {err!r}"
    finally:
        probe.delete()
    return None
