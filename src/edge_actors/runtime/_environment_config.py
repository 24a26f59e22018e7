"""How the edge environment finds its edges, its supervisor and its state (layer: runtime).

:class:`EnvironmentConfig` and the environment variables it is read from
(:meth:`EnvironmentConfig.from_env`); :mod:`._environment` runs what it describes.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import TYPE_CHECKING

import msgspec

from edge_actors.edge import DEFAULT_MAX_BYTES, EdgeEndpoint
from edge_actors.edge._credentials import check_token_strength, read_token_file
from edge_actors.errors import ConfigError
from edge_actors.migration.journal import JOURNAL_ENV, parse_journal_url

from ._embedded_lease import SUPERVISOR_ENV

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CLUSTER_TOKEN_ENV",
    "CLUSTER_TOKEN_FILE_ENV",
    "DATA_DIR_ENV",
    "SUPERVISOR_ENV",
    "TOPOLOGY_ENV",
    "EnvironmentConfig",
]

TOPOLOGY_ENV = "EDGE_ACTORS_TOPOLOGY"
"""Environment variable naming a topology file (TOML or YAML); unset: embedded edges."""

DATA_DIR_ENV = "EDGE_ACTORS_DATA_DIR"
"""Environment variable naming the data directory; unset: a temporary one per process."""

CLUSTER_TOKEN_ENV = "EDGE_ACTORS_CLUSTER_TOKEN"
"""The admin token of the supervisor daemon named by ``EDGE_ACTORS_SUPERVISOR``."""

CLUSTER_TOKEN_FILE_ENV = "EDGE_ACTORS_CLUSTER_TOKEN_FILE"
"""A file holding that token (when ``EDGE_ACTORS_CLUSTER_TOKEN`` is unset)."""


class EnvironmentConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How the environment finds its edges and where it keeps its state.

    Attributes:
        data_dir: the data directory (created); ``None``: a fresh temporary directory,
            removed when the environment closes.
        topology_file: a TOML/YAML topology file (see ``edge_actors.edge.load_topology``).
        topology: the edges by name, given in code (wins over ``topology_file``).
            With neither, edges are embedded daemons started on first use.
        cluster_token: the token of embedded edges (default: generated per environment);
            with ``supervisor``, the admin token sent to that daemon.
        cluster_token_file: a file holding ``cluster_token`` (give one of the two).
        edge_max_bytes: capacity of each embedded edge in bytes (default 10 GiB, the
            daemon's; ``None``: unlimited).
        edge_hold_timeout_s: write-hold safety lease of embedded edges (seconds).
        journal: the migration journal: a SQLite path or ``sqlite:///PATH``, or a
            ``postgresql://`` URL (password from the URL or ``PGPASSWORD``); ``None``:
            SQLite under the data directory's ``migrations/``. A PostgreSQL journal is
            driven only while this environment holds its leadership lease.
        supervisor: the URL of a supervisor daemon (any replica, ``http(s)://``): the
            migration operations go there, nothing is embedded for them; needs
            ``cluster_token`` or ``cluster_token_file``, excludes ``journal``.

    Raises:
        ConfigError: a malformed ``journal`` (named with its password redacted) or
            ``supervisor``, ``supervisor`` without a token or with a ``journal``, both
            ``cluster_token`` and ``cluster_token_file``.
    """

    data_dir: str | None = None
    topology_file: str | None = None
    topology: dict[str, EdgeEndpoint] | None = None
    cluster_token: str | None = None
    edge_max_bytes: int | None = DEFAULT_MAX_BYTES
    edge_hold_timeout_s: float = 30.0
    journal: str | None = None
    supervisor: str | None = None
    cluster_token_file: str | None = None

    def __post_init__(self) -> None:
        if self.journal is not None:
            parse_journal_url(self.journal, field=f"journal ({JOURNAL_ENV})")
        if self.cluster_token is not None and self.cluster_token_file is not None:
            raise ConfigError(
                f"cluster_token ({CLUSTER_TOKEN_ENV}), cluster_token_file "
                f"({CLUSTER_TOKEN_FILE_ENV}): give one, not both"
            )
        if self.supervisor is None:
            return
        where = f"supervisor ({SUPERVISOR_ENV})"
        parts = urllib.parse.urlsplit(self.supervisor)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"{where}: expected a supervisor daemon's http(s) URL, got {self.supervisor!r}"
            )
        if self.journal is not None:
            raise ConfigError(
                f"{where}, journal ({JOURNAL_ENV}): give one; with a supervisor daemon the "
                "journal is that daemon's"
            )
        if self.cluster_token is None and self.cluster_token_file is None:
            raise ConfigError(
                f"{where}: the daemon's admin token is needed; set {CLUSTER_TOKEN_ENV} or "
                f"{CLUSTER_TOKEN_FILE_ENV} (never on the command line)"
            )
        if self.cluster_token is not None:
            check_token_strength(self.cluster_token, f"cluster_token ({CLUSTER_TOKEN_ENV})")

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={'***' if name == 'cluster_token' and value else value!r}"
            for name, value in msgspec.structs.asdict(self).items()
        )
        return f"EnvironmentConfig({fields})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EnvironmentConfig:
        """Read ``EDGE_ACTORS_DATA_DIR``, ``EDGE_ACTORS_TOPOLOGY``, ``EDGE_ACTORS_JOURNAL``
        and ``EDGE_ACTORS_SUPERVISOR`` (empty means unset); with the last, also
        ``EDGE_ACTORS_CLUSTER_TOKEN`` / ``EDGE_ACTORS_CLUSTER_TOKEN_FILE``."""
        environ = os.environ if env is None else env
        supervisor = environ.get(SUPERVISOR_ENV) or None
        token = token_file = None
        if supervisor is not None:
            token = environ.get(CLUSTER_TOKEN_ENV, "").strip() or None
            token_file = None if token else environ.get(CLUSTER_TOKEN_FILE_ENV) or None
        return cls(
            data_dir=environ.get(DATA_DIR_ENV) or None,
            topology_file=environ.get(TOPOLOGY_ENV) or None,
            journal=environ.get(JOURNAL_ENV) or None,
            supervisor=supervisor,
            cluster_token=token,
            cluster_token_file=token_file,
        )

    def token(self) -> str | None:
        """``cluster_token``, else the token read from ``cluster_token_file``.

        Raises:
            ConfigError: the file is unreadable, empty or holds a weak token.
        """
        if self.cluster_token_file is not None:
            return read_token_file(
                self.cluster_token_file, f"cluster_token_file ({CLUSTER_TOKEN_FILE_ENV})"
            )
        return self.cluster_token

    @property
    def embedded(self) -> bool:
        """Whether edges are embedded daemons (no topology, no supervisor daemon)."""
        return self.topology is None and self.topology_file is None and self.supervisor is None
