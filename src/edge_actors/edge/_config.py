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
from edge_actors.migration.journal import parse_journal_url
from edge_actors.store import DEFAULT_CACHE_MIB, MIN_FD_BUDGET
from edge_actors.units import parse_duration, parse_size

from ._credentials import CredentialSpec, check_token_strength
from ._files import read_settings_file

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_WORKLOADS",
    "EDGE_NAME",
    "ENV_PREFIX",
    "EdgeConfig",
    "load_edge_config",
]

EDGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
"""Edge names: letters, digits, ``.``, ``_``, ``-``; up to 63 characters."""

ENV_PREFIX = "EDGE_ACTORS_"
"""Environment variables ``EDGE_ACTORS_<FIELD>`` override config file values."""

DEFAULT_MAX_BYTES = 10 * 1024**3
"""Default capacity of a daemon: 10 GiB of record bytes (set ``max_bytes`` to change it)."""

DEFAULT_MAX_WORKLOADS = 1000
"""Default most workloads a daemon hosts (set ``max_workloads`` to change it)."""


class EdgeConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Settings of one edge daemon.

    Attributes:
        name: The edge's name in the topology (``edge-west-1``); shown in health answers.
        data_dir: Directory of the workload stores and the routing table (created).
        cluster_token: The admin credential (everything, the data API included); at least
            22 random characters (:mod:`._credentials`). Prefer ``cluster_token_file`` or
            ``EDGE_ACTORS_CLUSTER_TOKEN`` to writing it here.
        cluster_token_file: A file (mode 0600) holding the admin credential.
        credentials: Scoped credentials (``[[credentials]]``: admin, peer, metrics, or data
            limited to workload patterns, read-only or read-write). With no credential at
            all a loopback daemon mints an admin token into ``<data_dir>/admin.token``; a
            non-loopback one refuses to start.
        allowed_hosts: ``Host`` names answered besides the loopback names and the
            ``public_url`` host; when set, every other ``Host`` is refused (421), and a
            loopback-bound daemon refuses foreign hosts even when it is empty.
        auth_failure_burst: Failed authentications one client address may make at once
            before it is answered 429 (``Retry-After``) without its token being looked at.
        auth_failure_rate_per_s: How fast that budget refills (failures per second).
        host: Interface to bind.
        port: Port to bind; ``0`` picks a free one (read the real one from ``daemon.url``).
        max_bytes: Capacity in bytes of all workloads together; writes beyond it are 507.
            Default 10 GiB; ``None`` (an empty environment value) means unlimited.
        max_workloads: Most workloads this edge hosts; creates beyond it are 507.
            Default 1000; ``None`` means unlimited.
        tls_cert: PEM certificate; with ``tls_key`` the daemon serves HTTPS.
        tls_key: PEM private key of ``tls_cert``; with ``tls_client_ca`` the pair is also
            this daemon's client certificate toward other edges.
        tls_ca: PEM CA bundle this daemon trusts for the edges it calls (transfers,
            cutovers, forwarded writes, the supervisor's calls): a private CA.
        tls_client_ca: PEM CA bundle of the client certificates this daemon requires
            (mutual TLS): a client without a certificate it signed is refused in the TLS
            handshake, before any HTTP.
        hold_timeout_s: Safety lease of a write hold: a hold not released in time is
            released automatically (and logged), so a crashed migrator cannot wedge writes.
        shutdown_timeout_s: On shutdown, how long in-flight requests may take before they
            are cancelled.
        public_url: URL other edges and apps should use, when it differs from the bound one
            (behind a proxy); defaults to the bound URL.
        hold_max_lease_s: Longest lease one hold or renewal may ask for (400 beyond it).
        hold_max_total_s: Longest a hold may last from its start, renewals included: a
            renewal's lease is cut to what is left, and a renewal with nothing left is 409.
        max_held_bytes: Bytes of writes waiting on holds, over all workloads; a write
            beyond it is 503 with ``Retry-After`` instead of being queued.
        max_body_bytes_inflight: Bytes of request bodies the daemon buffers at once, over
            all requests; a body that does not fit is 503 with ``Retry-After`` before it
            is read. Bodies of up to 64 KiB are exempt (the connection cap bounds them).
        max_batch_ops: Most operations in one ``POST .../batch`` (413 beyond it, refused
            before the body is decoded).
        max_connections: Most open client connections; at the cap the longest-idle
            connection is closed to admit a new one (none idle: the new one is closed).
        header_timeout_s: A request's headers must be in within this time of the
            connection's opening (or of the request's first byte, on a kept-alive
            connection), or the connection is closed (slowloris, silent sockets).
        keepalive_timeout_s: An idle connection between requests is closed after this
            time (longer than aiohttp clients' 15 s pool timeout, so clients close first).
        peer_hello_timeout_s: A peer WebSocket must send its ``Hello`` within this time.
        peer_heartbeat_s: Ping interval of peer WebSockets; a peer that does not answer
            within half of it is disconnected.
        cache_mib: SQLite page cache of all workload stores together, in MiB, shared
            equally by the connections open at the time (each capped at 32 MiB).
        fd_budget: File descriptors all workload store connections may hold together
            (3 per connection); the connections idle longest are closed to stay within
            it. Default: half of the soft ``RLIMIT_NOFILE`` less 128, at most 4,096.
        journal: The migration supervisor's journal (``--supervisor`` only): a SQLite path
            or ``sqlite:///PATH``, or a ``postgresql://user@host:port/db`` URL; default the
            SQLite file ``<data_dir>/migrations/migrations.sqlite``.
        journal_password_file: A file (mode 0600) holding the PostgreSQL journal's
            password (else the URL's, else ``PGPASSWORD``).
    """

    name: str
    data_dir: str
    cluster_token: str | None = None
    cluster_token_file: str | None = None
    credentials: tuple[CredentialSpec, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    auth_failure_burst: int = 20
    auth_failure_rate_per_s: float = 1.0
    host: str = "127.0.0.1"
    port: int = 0
    max_bytes: int | None = DEFAULT_MAX_BYTES
    max_workloads: int | None = DEFAULT_MAX_WORKLOADS
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    tls_client_ca: str | None = None
    hold_timeout_s: float = 30.0
    shutdown_timeout_s: float = 10.0
    public_url: str | None = None
    hold_max_lease_s: float = 600.0
    hold_max_total_s: float = 1800.0
    max_held_bytes: int = 64 * 1024 * 1024
    max_body_bytes_inflight: int = 64 * 1024 * 1024
    max_batch_ops: int = 100_000
    max_connections: int = 512
    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 30.0
    peer_hello_timeout_s: float = 10.0
    peer_heartbeat_s: float = 30.0
    cache_mib: int = DEFAULT_CACHE_MIB
    fd_budget: int | None = None
    journal: str | None = None
    journal_password_file: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not EDGE_NAME.match(self.name):
            raise ConfigError(
                f"name: {self.name!r} is not an edge name (letters, digits, '.', '_', '-'; "
                "up to 63 characters, starting with a letter or digit)"
            )
        if not self.data_dir:
            raise ConfigError("data_dir: must be a directory path")
        if self.cluster_token is not None:
            check_token_strength(self.cluster_token, "cluster_token")
        if self.cluster_token is not None and self.cluster_token_file is not None:
            raise ConfigError("cluster_token, cluster_token_file: give one, not both")
        if not self.has_credentials and not self.loopback:
            raise ConfigError(
                f"host: {self.host!r} is not a loopback address and no credential is "
                "configured; set EDGE_ACTORS_CLUSTER_TOKEN, cluster_token_file (or "
                "--token-file) or [[credentials]], or bind to 127.0.0.1"
            )
        if self.auth_failure_burst < 1:
            raise ConfigError(f"auth_failure_burst: {self.auth_failure_burst!r} must be >= 1")
        if not (math.isfinite(self.auth_failure_rate_per_s) and self.auth_failure_rate_per_s > 0):
            raise ConfigError(
                f"auth_failure_rate_per_s: {self.auth_failure_rate_per_s!r} must be finite and > 0"
            )
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port: {self.port!r} is not in 0..65535")
        if self.max_bytes is not None and self.max_bytes < 0:
            raise ConfigError(f"max_bytes: {self.max_bytes!r} must not be negative")
        if self.max_workloads is not None and self.max_workloads < 0:
            raise ConfigError(f"max_workloads: {self.max_workloads!r} must not be negative")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls_cert, tls_key: give both (TLS) or neither (plain HTTP)")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ConfigError("tls_client_ca: mutual TLS needs tls_cert and tls_key too")
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
        if self.journal is not None:
            parse_journal_url(self.journal)
        self._check_bounds()

    def _check_bounds(self) -> None:
        """Refuse resource bounds that are not positive, finite numbers."""
        for key in _POSITIVE_DURATIONS:
            value = getattr(self, key)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{key}: {value!r} must be finite and > 0")
        for key in _POSITIVE_COUNTS:
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}: {getattr(self, key)!r} must be >= 1")
        if self.hold_timeout_s > self.hold_max_lease_s:
            raise ConfigError(
                f"hold_timeout_s: {self.hold_timeout_s!r} is above hold_max_lease_s "
                f"{self.hold_max_lease_s!r}"
            )
        if self.hold_max_total_s < self.hold_max_lease_s:
            raise ConfigError(
                f"hold_max_total_s: {self.hold_max_total_s!r} is below hold_max_lease_s "
                f"{self.hold_max_lease_s!r}"
            )

    @property
    def has_credentials(self) -> bool:
        """Whether any credential is configured (admin token, token file or list)."""
        return bool(self.cluster_token or self.cluster_token_file or self.credentials)

    @property
    def loopback(self) -> bool:
        """Whether the daemon binds a loopback address only."""
        return self.host.lower() in ("127.0.0.1", "localhost", "::1", "[::1]")

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
        if self.tls_client_ca is not None:
            _load_ca(context, self.tls_client_ca, "tls_client_ca")
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def client_ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of this daemon's calls to other edges, or ``None`` (defaults).

        Trusts ``tls_ca`` (else the system store) and, with mutual TLS
        (``tls_client_ca``), presents ``tls_cert`` / ``tls_key`` as its client certificate.

        Raises:
            ConfigError: The CA bundle or the certificate cannot be loaded.
        """
        if self.tls_ca is None and self.tls_client_ca is None:
            return None
        context = ssl.create_default_context()
        if self.tls_ca is not None:
            _load_ca(context, self.tls_ca, "tls_ca")
        if self.client_cert is not None:
            try:
                context.load_cert_chain(*self.client_cert)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"tls_cert, tls_key: cannot load: {exc}") from None
        return context

    @property
    def client_cert(self) -> tuple[str, str] | None:
        """``(tls_cert, tls_key)`` when this daemon presents them to the edges it calls.

        That is under mutual TLS (``tls_client_ca`` set): the cluster's edges then ask
        every caller for a certificate their CA signed.
        """
        if self.tls_client_ca is not None and self.tls_cert and self.tls_key:
            return self.tls_cert, self.tls_key
        return None


def _load_ca(context: ssl.SSLContext, path: str, what: str) -> None:
    try:
        context.load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{what}: cannot load the CA bundle {path!r}: {exc}") from None


_POSITIVE_DURATIONS = (
    "hold_max_lease_s",
    "hold_max_total_s",
    "header_timeout_s",
    "keepalive_timeout_s",
    "peer_hello_timeout_s",
    "peer_heartbeat_s",
)
_POSITIVE_COUNTS = (
    "max_held_bytes",
    "max_body_bytes_inflight",
    "max_batch_ops",
    "max_connections",
)
_FIELDS: tuple[str, ...] = EdgeConfig.__struct_fields__
_OPTIONAL = frozenset(
    {
        "max_bytes",
        "max_workloads",
        "tls_cert",
        "tls_key",
        "tls_ca",
        "tls_client_ca",
        "public_url",
        "cluster_token",
        "cluster_token_file",
        "fd_budget",
        "journal",
        "journal_password_file",
    }
)


def _normalize(values: dict[str, Any], origin: Mapping[str, str]) -> dict[str, Any]:
    """Parse human units (sizes, durations) in place; ``origin`` names each key's source."""
    for key in ("max_bytes", "max_held_bytes", "max_body_bytes_inflight"):
        value = values.get(key)
        if isinstance(value, str):
            values[key] = parse_size(value, field=f"{origin[key]}: {key}", allow_zero=True)
    for key in ("hold_timeout_s", "shutdown_timeout_s", *_POSITIVE_DURATIONS):
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
        if var in environ and key != "credentials":  # a list: config file only
            raw = environ[var]
            values[key] = None if (raw == "" and key in _OPTIONAL) else raw
            if key == "allowed_hosts":
                values[key] = [host.strip() for host in raw.split(",") if host.strip()]
            origin[key] = f"environment {var}"
    for key, value in (overrides or {}).items():
        if key not in _FIELDS:
            raise ConfigError(f"unknown setting {key!r}")
        if value is not None:
            values[key] = value
            origin[key] = "command line"
    _normalize(values, origin)
    missing = [key for key in ("name", "data_dir") if key not in values]
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
