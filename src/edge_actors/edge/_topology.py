"""Topology: how to reach each edge by name (edge layer).

A topology maps edge names (``edge-west-1``) to an :class:`EdgeEndpoint` (the daemon's URL
and its cluster token). The migration layer names edges; the HTTP gateway resolves them
here. Files are TOML or YAML with one table per edge::

    [edges.edge-west-1]
    url = "http://10.0.0.5:7400"
    token_file = "/etc/edge-actors/west.token"   # or: token = "..."
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import msgspec

from edge_actors.errors import ConfigError

from ._config import EDGE_NAME
from ._credentials import read_token_file
from ._errors import UnknownEdge
from ._files import read_settings_file

if TYPE_CHECKING:
    import os

__all__ = ["EdgeEndpoint", "Topology", "load_topology"]


class EdgeEndpoint(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where an edge daemon listens and the token its admin and peer APIs require.

    Attributes:
        url: Base URL of the daemon, without a trailing slash (``http://host:port``).
        token: The cluster token.
    """

    url: str
    token: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"url: {self.url!r} is not an http(s) URL with a host")
        if not self.token:
            raise ConfigError("token: must not be empty")


class Topology(Mapping[str, EdgeEndpoint]):
    """An immutable mapping of edge name to :class:`EdgeEndpoint`."""

    def __init__(self, edges: Mapping[str, EdgeEndpoint] | None = None) -> None:
        self._edges: dict[str, EdgeEndpoint] = {}
        for name, endpoint in (edges or {}).items():
            self._edges[name] = EdgeEndpoint(endpoint.url.rstrip("/"), endpoint.token)

    def __getitem__(self, name: str) -> EdgeEndpoint:
        return self._edges[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._edges)

    def __len__(self) -> int:
        return len(self._edges)

    def __repr__(self) -> str:
        return f"Topology({sorted(self._edges)!r})"

    def resolve(self, name: str) -> EdgeEndpoint:
        """Return the endpoint of edge ``name``.

        Raises:
            UnknownEdge: ``name`` is not in the topology; the message lists the known edges.
        """
        try:
            return self._edges[name]
        except KeyError:
            known = ", ".join(sorted(self._edges)) or "none"
            raise UnknownEdge(f"unknown edge {name!r} (known edges: {known})") from None

    def with_edge(self, name: str, endpoint: EdgeEndpoint) -> Topology:
        """Return a copy of this topology with ``name`` added or replaced."""
        return Topology({**self._edges, name: endpoint})


def _parse(data: object, source: str) -> Topology:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a table with an 'edges' table")
    unknown = set(data) - {"edges"}
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {sorted(unknown)} (expected 'edges')")
    edges = data.get("edges", {})
    if not isinstance(edges, dict):
        raise ConfigError(f"{source}: edges: expected a table of edge name -> {{url, token}}")
    result: dict[str, EdgeEndpoint] = {}
    for name, entry in edges.items():
        if not isinstance(name, str) or not EDGE_NAME.match(name):
            raise ConfigError(
                f"{source}: edges: {name!r} is not an edge name (letters, digits, '.', '_', "
                "'-'; up to 63 characters)"
            )
        try:
            if isinstance(entry, dict) and "token_file" in entry:
                if "token" in entry:
                    raise ConfigError("give token or token_file, not both")
                entry = {k: v for k, v in entry.items() if k != "token_file"}
                entry["token"] = read_token_file(str(edges[name]["token_file"]), "token_file")
            endpoint = msgspec.convert(entry, EdgeEndpoint)
            result[name] = EdgeEndpoint(endpoint.url.rstrip("/"), endpoint.token)
        except (msgspec.ValidationError, ConfigError) as exc:
            raise ConfigError(f"{source}: edges.{name}: {exc}") from None
    return Topology(result)


def load_topology(path: str | os.PathLike[str]) -> Topology:
    """Load a :class:`Topology` from a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file.

    Raises:
        ConfigError: Unreadable or malformed file, unknown key, an edge without ``url`` or
            ``token``; the message names the file and the key.
    """
    file_path = Path(path)
    return _parse(read_settings_file(file_path, "topology"), str(file_path))
