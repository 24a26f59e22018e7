"""The order-independent content digest of a workload (store layer).

The digest of a workload is the sum modulo 2**256 of one hash per **live** record
(tombstones contribute nothing)::

    record_hash = XXH3_128(value, seed=XXH3_64(key_utf8))   # the 128-bit digest as an integer
    digest      = sum(record_hash over live records) mod 2**256   # 64 hex digits

Because addition commutes, two stores holding the same live records have the same digest
whatever order or history produced them, and a write updates it in O(1): subtract the
replaced record's hash, add the new one. Seeding the value's hash with the key's keeps
``("ab", b"c")`` and ``("a", b"bc")`` apart without concatenating them.

The digest detects a copy that differs from its source (lost, duplicated, stale or
corrupted records); it is not a defence against a party who chooses records to collide
(a sum of hashes is not, whatever the hash), and writers are authenticated anyway.
XXH3 replaced BLAKE2b (digest version 2, store schema 3, peer protocol 2): the hash was
the largest single cost of a target applying a copy, 2.3-3.2 us against 0.6-0.9 us per
1 KiB record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xxhash import xxh3_64_intdigest as _key_hash
from xxhash import xxh3_128_intdigest as _value_hash

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "DIGEST_MODULUS",
    "DIGEST_VERSION",
    "EMPTY_DIGEST",
    "digest_hex",
    "hash_and_size",
    "record_hash",
    "sum_record_hashes",
]

DIGEST_VERSION = 2
"""Which record hash digests use: 1 was BLAKE2b-256, 2 is XXH3 (this module)."""

DIGEST_MODULUS = 1 << 256
"""Digests are sums modulo this value."""

EMPTY_DIGEST = "0" * 64
"""The digest of a workload without live records."""


def record_hash(key_utf8: bytes, value: bytes) -> int:
    """Return the 128-bit hash of one live record as an integer.

    Args:
        key_utf8: The record's key, UTF-8 encoded.
        value: The record's value.
    """
    return _value_hash(value, _key_hash(key_utf8))


def sum_record_hashes(records: Iterable[tuple[bytes, bytes]]) -> int:
    """Return ``sum(record_hash(key_utf8, value))`` over ``(key_utf8, value)`` pairs.

    Not reduced modulo 2**256.
    """
    return hash_and_size(records)[0]


def hash_and_size(records: Iterable[tuple[bytes, bytes]]) -> tuple[int, int]:
    """Return the sum of :func:`record_hash` and of ``len(key_utf8) + len(value)``.

    Over ``(key_utf8, value)`` pairs of live records, in one tight loop (two hash calls
    and no list per record): the digest and byte terms of a bulk apply or a full scan.
    The hash sum is not reduced modulo 2**256.
    """
    key_hash = _key_hash
    value_hash = _value_hash
    total = 0
    nbytes = 0
    for key_utf8, value in records:
        nbytes += len(key_utf8) + len(value)
        total += value_hash(value, key_hash(key_utf8))
    return total, nbytes


def digest_hex(accumulator: int) -> str:
    """Render a digest accumulator as 64 lower-case hex digits."""
    return format(accumulator % DIGEST_MODULUS, "064x")
