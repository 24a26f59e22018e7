"""The order-independent content digest of a workload (store layer).

The digest of a workload is the sum modulo 2**256 of one hash per **live** record
(tombstones contribute nothing)::

    record_hash = blake2b(len(key_utf8).to_bytes(8, "big") || key_utf8 || value,
                          digest_size=32)            # read as a big-endian integer
    digest      = sum(record_hash over live records) mod 2**256   # 64 hex digits

Because addition commutes, two stores holding the same live records have the same digest
whatever order or history produced them, and a write updates it in O(1): subtract the
replaced record's hash, add the new one. The length prefix keeps ``("ab", b"c")`` and
``("a", b"bc")`` apart.
"""

from __future__ import annotations

from hashlib import blake2b as _blake2b
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "DIGEST_MODULUS",
    "EMPTY_DIGEST",
    "digest_hex",
    "hash_and_size",
    "record_hash",
    "sum_record_hashes",
]

DIGEST_MODULUS = 1 << 256
"""Digests are sums modulo this value."""

EMPTY_DIGEST = "0" * 64
"""The digest of a workload without live records."""


def record_hash(key_utf8: bytes, value: bytes) -> int:
    """Return the 256-bit hash of one live record as an integer.

    Args:
        key_utf8: The record's key, UTF-8 encoded.
        value: The record's value.
    """
    # The value is fed by a second update() rather than concatenated: the same hash
    # without copying the value (about 10 % less time for 1 KiB values).
    h = _blake2b(len(key_utf8).to_bytes(8, "big") + key_utf8, digest_size=32)
    h.update(value)
    return int.from_bytes(h.digest(), "big")


def sum_record_hashes(records: Iterable[tuple[bytes, bytes]]) -> int:
    """Return ``sum(record_hash(key_utf8, value))`` over ``(key_utf8, value)`` pairs.

    Not reduced modulo 2**256.
    """
    return hash_and_size(records)[0]


def hash_and_size(records: Iterable[tuple[bytes, bytes]]) -> tuple[int, int]:
    """Return the sum of :func:`record_hash` and of ``len(key_utf8) + len(value)``.

    Over ``(key_utf8, value)`` pairs of live records, in one tight loop (no call and no
    list per record): the digest and byte terms of a bulk apply or a full scan. The hash
    sum is not reduced modulo 2**256.
    """
    from_bytes = int.from_bytes
    blake2b = _blake2b
    total = 0
    nbytes = 0
    for key_utf8, value in records:
        size = len(key_utf8)
        nbytes += size + len(value)
        h = blake2b(size.to_bytes(8, "big") + key_utf8, digest_size=32)
        h.update(value)
        total += from_bytes(h.digest(), "big")
    return total, nbytes


def digest_hex(accumulator: int) -> str:
    """Render a digest accumulator as 64 lower-case hex digits."""
    return format(accumulator % DIGEST_MODULUS, "064x")
