"""Scoped credentials of an edge daemon: roles, workload patterns, token policy (edge layer).

A daemon accepts bearer tokens, each naming one :class:`Credential` (Redis ACL users with
key patterns, Consul ACL tokens): ``admin`` may do everything, the data API included;
``peer`` may open the peer stream (``/peer/``); ``metrics`` may read ``/metrics``; ``data``
may use the data API on workloads whose names match one of its glob patterns, reading
only (``read-only``) or reading and writing (``read-write``). Every role may read the
probes ``/api/health`` and ``/api/status``. A ``grant`` is not configured: it is a
signed, short-lived transfer grant (:mod:`._grants`) for one migration's workload.

Configured as a list in the daemon's config file::

    [[credentials]]
    name = "billing-app"
    role = "data"
    token_file = "/etc/edge-actors/billing.token"   # or token_env = "BILLING_TOKEN"
    workloads = ["billing-*"]
    mode = "read-write"

Token policy (:func:`check_token_strength`): at least :data:`MIN_TOKEN_CHARS` characters
of printable ASCII without spaces and at least :data:`MIN_DISTINCT_CHARS` distinct ones.
A length rule is the only entropy a server can check: 22 random URL-safe characters
(``secrets.token_urlsafe(16)``) carry 128 bits, 32 hex characters too.
"""

from __future__ import annotations

import hmac
import secrets
from contextvars import ContextVar
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import msgspec

from edge_actors.errors import ConfigError

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Iterator, Mapping

__all__ = [
    "MIN_DISTINCT_CHARS",
    "MIN_TOKEN_CHARS",
    "REQUEST_TOKEN",
    "ConfigRole",
    "Credential",
    "CredentialSpec",
    "Credentials",
    "Need",
    "Role",
    "check_token_strength",
    "mint_token",
    "read_token_file",
]

ConfigRole = Literal["admin", "peer", "data", "metrics"]
"""The roles a configured credential may have (see the module docstring)."""

Role = Literal["admin", "peer", "data", "metrics", "grant"]
"""What a credential may do; ``grant`` only comes from a verified transfer grant."""

Mode = Literal["read-only", "read-write"]
"""Whether a ``data`` credential may write."""

Need = Literal["admin", "peer", "metrics", "read", "write", "target", "any"]
"""What a request needs: a role's route family, a data read or write, the admin routes a
cutover calls on its target for one workload (``target``), or any credential."""

MIN_TOKEN_CHARS = 22
"""Shortest token accepted: 22 URL-safe random characters are 128 bits."""

MIN_DISTINCT_CHARS = 8
"""Fewest distinct characters in a token (refuses ``aaaa...`` and similar)."""


REQUEST_TOKEN: ContextVar[str | None] = ContextVar("edge_actors_request_token", default=None)
"""The bearer token of the request the current task serves (set by the auth middleware).

A write held by a cutover and then forwarded to the workload's new edge carries its own
client's token there: the same token the client would send itself after a 307, so
forwarding reveals no credential the redirect would not."""


def check_token_strength(token: str, what: str) -> None:
    """Refuse a token that cannot carry 128 bits of entropy.

    Raises:
        ConfigError: Too short, too few distinct characters, or not printable ASCII
            without spaces; the message names ``what`` and how to make a good one,
            never the token.
    """
    if not all("!" <= ch <= "~" for ch in token):
        raise ConfigError(f"{what}: must be printable ASCII without spaces")
    if len(token) < MIN_TOKEN_CHARS or len(set(token)) < MIN_DISTINCT_CHARS:
        raise ConfigError(
            f"{what}: too weak ({len(token)} characters); use at least {MIN_TOKEN_CHARS} "
            f"random characters (128 bits), e.g. python -c "
            "'import secrets; print(secrets.token_urlsafe(32))'"
        )


def mint_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def read_token_file(path: str | os.PathLike[str], what: str) -> str:
    """Read a token from ``path`` (surrounding whitespace stripped) and check its strength.

    Raises:
        ConfigError: Unreadable, empty or weak; names ``what`` and the file.
    """
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what}: cannot read token file {str(path)!r}: {exc}") from None
    check_token_strength(token, f"{what} (file {str(path)!r})")
    return token


class CredentialSpec(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One ``[[credentials]]`` entry of the config: where its token is and what it may do.

    Attributes:
        name: Shown in logs (never the token).
        role: ``admin``, ``peer``, ``data`` or ``metrics``.
        token: The token itself (for configs built in code; prefer the two below).
        token_file: A file holding the token (keep it mode 0600).
        token_env: An environment variable holding the token.
        workloads: Glob patterns of the workloads a ``data`` credential may use.
        mode: ``read-only`` or ``read-write`` (``data`` only).
    """

    name: str
    role: ConfigRole
    token: str | None = None
    token_file: str | None = None
    token_env: str | None = None
    workloads: tuple[str, ...] = ()
    mode: Mode = "read-write"

    def __post_init__(self) -> None:
        where = f"credentials.{self.name}"
        sources = [s for s in (self.token, self.token_file, self.token_env) if s is not None]
        if len(sources) != 1:
            raise ConfigError(f"{where}: give exactly one of token, token_file, token_env")
        if self.role == "data" and not self.workloads:
            raise ConfigError(f"{where}: a data credential needs workloads = [patterns]")
        if self.role != "data" and (self.workloads or self.mode != "read-write"):
            raise ConfigError(f"{where}: workloads and mode apply to role 'data' only")
        if self.token is not None:
            check_token_strength(self.token, f"{where}.token")

    def resolve(self, env: Mapping[str, str]) -> Credential:
        """Read the token (inline, file or environment) into a :class:`Credential`.

        Raises:
            ConfigError: The file is unreadable, the variable unset, the token weak.
        """
        where = f"credentials.{self.name}"
        if self.token_file is not None:
            token = read_token_file(self.token_file, f"{where}.token_file")
        elif self.token_env is not None:
            token = env.get(self.token_env, "").strip()
            if not token:
                raise ConfigError(f"{where}.token_env: {self.token_env} is not set")
            check_token_strength(token, f"{where}.token_env {self.token_env}")
        else:
            token = self.token or ""
        return Credential(self.name, self.role, token, tuple(self.workloads), self.mode)


class Credential(msgspec.Struct, frozen=True):
    """A resolved credential: its token and what it may do (:meth:`permits`)."""

    name: str
    role: Role
    token: str = msgspec.field(default="")
    workloads: tuple[str, ...] = ()
    mode: Mode = "read-write"
    migration_id: str | None = None

    def __repr__(self) -> str:  # never show the token
        return f"Credential({self.name!r}, role={self.role!r})"

    def permits(self, need: Need, workload: str | None = None) -> bool:
        """Whether this credential may do what a request ``need``s (on ``workload``)."""
        if self.role == "admin" or need == "any":
            return True
        if self.role == "grant":
            return need == "peer" or (need == "target" and workload in self.workloads)
        if self.role in ("peer", "metrics"):
            return need == self.role
        if need not in ("read", "write") or workload is None:
            return False
        if need == "write" and self.mode != "read-write":
            return False
        return any(fnmatchcase(workload, pattern) for pattern in self.workloads)


class Credentials:
    """The daemon's credentials; finds the one a bearer token names, in constant time.

    Every token is compared (:func:`hmac.compare_digest`), so the time taken does not
    tell which credential, or how much of one, a guess matched.
    """

    def __init__(self, credentials: Iterable[Credential]) -> None:
        self._all = tuple(credentials)
        names = [c.name for c in self._all]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"credentials: duplicate name(s) {dupes}")
        tokens = [c.token for c in self._all]
        if len(set(tokens)) != len(tokens):
            raise ConfigError("credentials: two credentials share one token")

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[Credential]:
        return iter(self._all)

    def admin_token(self) -> str | None:
        """The token of the first ``admin`` credential, if any."""
        return next((c.token for c in self._all if c.role == "admin"), None)

    def find(self, given: bytes) -> Credential | None:
        """The credential whose token is ``given`` (raw header bytes), or ``None``."""
        found: Credential | None = None
        for credential in self._all:
            if hmac.compare_digest(given, credential.token.encode()):
                found = credential
        return found
