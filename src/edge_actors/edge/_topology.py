"""Topology: how to reach each edge by name (edge layer).

A topology maps edge names (``edge-west-1``) to an :class:`EdgeEndpoint` (the daemon's URL,
its cluster token and the CA that signed its certificate). The migration layer names
edges; the HTTP gateway resolves them here. Files are TOML or YAML with one table per
edge, and an optional top-level ``tls_ca`` that every edge without its own uses::

    tls_ca = "/etc/edge-actors/ca.pem"           # optional: a private CA for https edges

    [edges.edge-west-1]
    url = "https://10.0.0.5:7400"
    token_file = "/etc/edge-actors/west.token"   # or: token = "..."
    tls_ca = "/etc/edge-actors/west-ca.pem"      # optional: this edge's own CA
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import msgspec
import msgspec.structs

from edge_actors.errors import ConfigError

from ._config import EDGE_NAME
from ._credentials import read_token_file
from ._errors import UnknownEdge
from ._files import read_settings_file

if TYPE_CHECKING:
    import os

__all__ = ["EdgeEndpoint", "Topology", "load_topology"]


class EdgeEndpoint(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where an edge daemon listens, the token its admin and peer APIs require, whom to trust.

    Attributes:
        url: Base URL of the daemon, without a trailing slash (``http://host:port``).
        token: The cluster token.
        tls_ca: PEM CA bundle that verifies an ``https`` daemon's certificate (a private
            CA); ``None`` trusts what the caller's own TLS context trusts.
    """

    url: str
    token: str
    tls_ca: str | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"url: {self.url!r} is not an http(s) URL with a host")
        if not self.token:
            raise ConfigError("token: must not be empty")
        if self.tls_ca is not None and not self.tls_ca:
            raise ConfigError("tls_ca: must not be empty")


class Topology(Mapping[str, EdgeEndpoint]):
    """An immutable mapping of edge name to :class:`EdgeEndpoint`."""

    def __init__(self, edges: Mapping[str, EdgeEndpoint] | None = None) -> None:
        self._edges: dict[str, EdgeEndpoint] = {}
        for name, endpoint in (edges or {}).items():
            self._edges[name] = _normalized(endpoint)

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


def _normalized(endpoint: EdgeEndpoint) -> EdgeEndpoint:
    return msgspec.structs.replace(endpoint, url=endpoint.url.rstrip("/"))


def _check_ca(path: str, key: str) -> None:
    """Load the CA bundle once now, so a bad path fails at load time, not at first use."""
    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{key}: cannot load the CA bundle {path!r}: {exc}") from None


def _parse(data: object, source: str) -> Topology:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a table with an 'edges' table")
    unknown = set(data) - {"edges", "tls_ca"}
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {sorted(unknown)} (expected 'edges' and 'tls_ca')"
        )
    default_ca = data.get("tls_ca")
    if default_ca is not None:
        if not isinstance(default_ca, str) or not default_ca:
            raise ConfigError(f"{source}: tls_ca: expected the path of a PEM CA bundle")
        _check_ca(default_ca, f"{source}: tls_ca")
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
            if endpoint.tls_ca is None:
                endpoint = msgspec.structs.replace(endpoint, tls_ca=default_ca)
            elif endpoint.tls_ca != default_ca:
                _check_ca(endpoint.tls_ca, "tls_ca")
            result[name] = _normalized(endpoint)
        except (msgspec.ValidationError, ConfigError) as exc:
            raise ConfigError(f"{source}: edges.{name}: {exc}") from None
    return Topology(result)


def load_topology(path: str | os.PathLike[str]) -> Topology:
    """Load a :class:`Topology` from a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file.

    Raises:
        ConfigError: Unreadable or malformed file, unknown key, an edge without ``url`` or
            ``token``, a ``tls_ca`` that is not a loadable CA bundle; the message names the
            file and the key.
    """
    file_path = Path(path)
    return _parse(read_settings_file(file_path, "topology"), str(file_path))
