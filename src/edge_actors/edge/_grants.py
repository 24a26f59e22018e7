"""Transfer grants: a short-lived, signed permission for one migration (edge layer).

The supervisor knows each edge's admin token (its topology); a migration's source must
not. So instead of the target's token, the supervisor gives the source a *grant*:

    eag1.<base64url(msgpack [migration_id, workload, target, expires_at])>.<base64url(mac)>

``mac`` is HMAC-SHA256 over the payload, keyed with a key derived from the target's
admin token (:func:`grant_key`), so only the target (and whoever holds its admin token)
can make or check one. The target accepts it as a credential of role ``grant`` that may
open the peer stream for that workload and migration only, and read, activate or
re-mark that one workload through the admin API (what a cutover needs of its target),
until ``expires_at`` (the target's wall clock). A compromised source learns grants for
the migrations it takes part in, never a credential of its targets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING

import msgspec

from ._credentials import Credential

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["GRANT_PREFIX", "GRANT_TTL_S", "Grant", "grant_key", "mint_grant", "verify_grant"]

GRANT_PREFIX = "eag1."
"""How a grant token starts (versioned)."""

GRANT_TTL_S = 3600.0
"""Default lifetime of a grant, in seconds (a gateway mints one per transfer or cutover)."""

_CONTEXT = b"edge-actors transfer grant v1"


class Grant(msgspec.Struct, frozen=True, array_like=True):
    """What a grant permits: one migration, one workload, one target edge, until a time."""

    migration_id: str
    workload: str
    target: str
    expires_at: float


_DECODER = msgspec.msgpack.Decoder(Grant)


def grant_key(admin_token: str) -> bytes:
    """The signing key of grants for the edge whose admin token is ``admin_token``."""
    return hmac.new(admin_token.encode(), _CONTEXT, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_grant(
    admin_token: str,
    *,
    migration_id: str,
    workload: str,
    target: str,
    now: float,
    ttl_s: float = GRANT_TTL_S,
) -> str:
    """A grant token for ``workload`` of ``migration_id`` on edge ``target``.

    Args:
        admin_token: The target's admin token (the key is derived from it).
        migration_id: The migration the grant is for.
        workload: The one workload it covers.
        target: The target edge's name (a grant for another edge is refused).
        now: Wall-clock time (seconds since the epoch) of the minting.
        ttl_s: Lifetime in seconds.
    """
    payload = msgspec.msgpack.encode(Grant(migration_id, workload, target, now + ttl_s))
    mac = hmac.new(grant_key(admin_token), payload, hashlib.sha256).digest()
    return f"{GRANT_PREFIX}{_b64(payload)}.{_b64(mac)}"


def verify_grant(token: str, keys: Iterable[bytes], *, edge: str, now: float) -> Credential | None:
    """The credential a valid grant for ``edge`` stands for, or ``None``.

    Valid: well formed, signed with one of ``keys``, naming ``edge``, not expired at
    ``now`` (the verifier's wall clock).
    """
    if not token.startswith(GRANT_PREFIX):
        return None
    body, _, signature = token[len(GRANT_PREFIX) :].partition(".")
    try:
        payload, mac = _unb64(body), _unb64(signature)
    except ValueError:
        return None
    if not any(
        hmac.compare_digest(hmac.new(key, payload, hashlib.sha256).digest(), mac) for key in keys
    ):
        return None
    try:
        grant = _DECODER.decode(payload)
    except msgspec.MsgspecError:
        return None
    if grant.target != edge or not grant.expires_at > now:
        return None
    return Credential(
        f"grant:{grant.migration_id}",
        "grant",
        token,
        (grant.workload,),
        migration_id=grant.migration_id,
    )
