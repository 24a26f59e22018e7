"""The edge daemon's configuration: :class:`EdgeConfig` and its loader (edge layer).

One struct serves every way a daemon starts: built in code for an embedded daemon, or
loaded by :func:`load_edge_config` from a TOML or YAML file, then ``EDGE_ACTORS_<FIELD>``
environment variables, then CLI flags (each overriding the one before). Anything malformed
is a :class:`~edge_actors.errors.ConfigError` naming the key and where it came from.
"""

from __future__ import annotations

import math
import os
import re
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from edge_actors.errors import ConfigError
from edge_actors.store import DEFAULT_CACHE_MIB, MIN_FD_BUDGET
from edge_actors.units import parse_duration, parse_size

from ._files import read_settings_file

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["EDGE_NAME", "ENV_PREFIX", "EdgeConfig", "load_edge_config"]

EDGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
"""Edge names: letters, digits, ``.``, ``_``, ``-``; up to 63 characters."""

ENV_PREFIX = "EDGE_ACTORS_"
"""Environment variables ``EDGE_ACTORS_<FIELD>`` override config file values."""


class EdgeConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Settings of one edge daemon.

    Attributes:
        name: The edge's name in the topology (``edge-west-1``); shown in health answers.
        data_dir: Directory of the workload stores and the routing table (created).
        cluster_token: Shared secret for the admin API and the peer stream.
        host: Interface to bind.
        port: Port to bind; ``0`` picks a free one (read the real one from ``daemon.url``).
        max_bytes: Capacity in bytes of all workloads together; writes beyond it are 507.
        max_workloads: Most workloads this edge hosts; creates beyond it are 507.
        tls_cert: PEM certificate; with ``tls_key`` the daemon serves HTTPS.
        tls_key: PEM private key of ``tls_cert``.
        hold_timeout_s: Safety lease of a write hold: a hold not released in time is
            released automatically (and logged), so a crashed migrator cannot wedge writes.
        shutdown_timeout_s: On shutdown, how long in-flight requests may take before they
            are cancelled.
        public_url: URL other edges and apps should use, when it differs from the bound one
            (behind a proxy); defaults to the bound URL.
        cache_mib: SQLite page cache of all workload stores together, in MiB, shared
            equally by the connections open at the time (each capped at 32 MiB).
        fd_budget: File descriptors all workload store connections may hold together
            (3 per connection); the connections idle longest are closed to stay within
            it. Default: half of the soft ``RLIMIT_NOFILE`` less 128, at most 4,096.
    """

    name: str
    data_dir: str
    cluster_token: str
    host: str = "127.0.0.1"
    port: int = 0
    max_bytes: int | None = None
    max_workloads: int | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    hold_timeout_s: float = 30.0
    shutdown_timeout_s: float = 10.0
    public_url: str | None = None
    cache_mib: int = DEFAULT_CACHE_MIB
    fd_budget: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not EDGE_NAME.match(self.name):
            raise ConfigError(
                f"name: {self.name!r} is not an edge name (letters, digits, '.', '_', '-'; "
                "up to 63 characters, starting with a letter or digit)"
            )
        if not self.data_dir:
            raise ConfigError("data_dir: must be a directory path")
        if not self.cluster_token:
            raise ConfigError("cluster_token: must not be empty")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port: {self.port!r} is not in 0..65535")
        if self.max_bytes is not None and self.max_bytes < 0:
            raise ConfigError(f"max_bytes: {self.max_bytes!r} must not be negative")
        if self.max_workloads is not None and self.max_workloads < 0:
            raise ConfigError(f"max_workloads: {self.max_workloads!r} must not be negative")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls_cert, tls_key: give both (TLS) or neither (plain HTTP)")
        if not (math.isfinite(self.hold_timeout_s) and self.hold_timeout_s > 0):
            raise ConfigError(f"hold_timeout_s: {self.hold_timeout_s!r} must be finite and > 0")
        if not (math.isfinite(self.shutdown_timeout_s) and self.shutdown_timeout_s >= 0):
            raise ConfigError(
                f"shutdown_timeout_s: {self.shutdown_timeout_s!r} must be finite and >= 0"
            )
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise ConfigError(f"public_url: {self.public_url!r} is not an http(s) URL")
        if self.cache_mib < 1:
            raise ConfigError(f"cache_mib: {self.cache_mib!r} must be >= 1")
        if self.fd_budget is not None and self.fd_budget < MIN_FD_BUDGET:
            raise ConfigError(f"fd_budget: {self.fd_budget!r} must be >= {MIN_FD_BUDGET}")

    @property
    def tls(self) -> bool:
        """Whether the daemon serves HTTPS (both ``tls_cert`` and ``tls_key`` given)."""
        return self.tls_cert is not None and self.tls_key is not None

    def ssl_context(self) -> ssl.SSLContext | None:
        """Return the server TLS context, or ``None`` for plain HTTP.

        Raises:
            ConfigError: The certificate or key cannot be loaded.
        """
        if self.tls_cert is None or self.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"tls_cert, tls_key: cannot load {self.tls_cert!r} / {self.tls_key!r}: {exc}"
            ) from None
        return context


_FIELDS: tuple[str, ...] = EdgeConfig.__struct_fields__
_OPTIONAL = frozenset(
    {"max_bytes", "max_workloads", "tls_cert", "tls_key", "public_url", "fd_budget"}
)


def _normalize(values: dict[str, Any], origin: Mapping[str, str]) -> dict[str, Any]:
    """Parse human units (sizes, durations) in place; ``origin`` names each key's source."""
    value = values.get("max_bytes")
    if isinstance(value, str):
        values["max_bytes"] = parse_size(
            value, field=f"{origin['max_bytes']}: max_bytes", allow_zero=True
        )
    for key in ("hold_timeout_s", "shutdown_timeout_s"):
        value = values.get(key)
        if isinstance(value, str):
            values[key] = parse_duration(value, field=f"{origin[key]}: {key}", allow_zero=True)
    return values


def load_edge_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> EdgeConfig:
    """Load an :class:`EdgeConfig` from a file, the environment and explicit overrides.

    Precedence, lowest first: field defaults, the file (``.toml`` or ``.yaml``/``.yml``,
    top-level keys named like the fields), ``EDGE_ACTORS_<FIELD>`` environment variables
    (an empty value clears an optional field), then ``overrides`` (the CLI flags; ``None``
    values are ignored). Sizes accept units (``max_bytes = "10GB"``), durations too
    (``hold_timeout_s = "30s"``).

    Args:
        path: Config file, or ``None`` for environment and overrides only.
        env: Environment to read; ``os.environ`` when ``None``.
        overrides: Values that win over everything (CLI flags).

    Raises:
        ConfigError: Unreadable or malformed file, unknown key, malformed value, missing
            required field; the message names the key and its source.
    """
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    if path is not None:
        file_path = Path(path)
        for key, value in read_settings_file(file_path, "config file").items():
            if key not in _FIELDS:
                known = ", ".join(_FIELDS)
                raise ConfigError(f"{file_path}: unknown key {key!r} (known keys: {known})")
            values[key] = value
            origin[key] = str(file_path)
    environ = os.environ if env is None else env
    for key in _FIELDS:
        var = ENV_PREFIX + key.upper()
        if var in environ:
            raw = environ[var]
            values[key] = None if (raw == "" and key in _OPTIONAL) else raw
            origin[key] = f"environment {var}"
    for key, value in (overrides or {}).items():
        if key not in _FIELDS:
            raise ConfigError(f"unknown setting {key!r}")
        if value is not None:
            values[key] = value
            origin[key] = "command line"
    _normalize(values, origin)
    missing = [key for key in ("name", "data_dir", "cluster_token") if key not in values]
    if missing:
        hints = ", ".join(f"{key} ({ENV_PREFIX}{key.upper()})" for key in missing)
        raise ConfigError(f"missing required setting(s): {hints}")
    try:
        return msgspec.convert(values, EdgeConfig, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        source = ""
        for key, where in origin.items():
            if f"`$.{key}`" in text or text.startswith(f"{key}:"):
                source = f"{where}: "
                break
        raise ConfigError(f"{source}{text}") from None
