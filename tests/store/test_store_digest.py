"""The digest contract: every edge must compute the same record hashes and sums.

Digest version 2 (XXH3). The pinned values were computed when it was introduced, so a
change of the definition fails here before it reaches a peer; the hash function itself
is pinned by XXH3's published values for empty input.
"""

from __future__ import annotations

import xxhash

from edge_actors.store import record_hash
from edge_actors.store._digest import DIGEST_MODULUS, hash_and_size, sum_record_hashes

_RECORDS = [
    (b"r0000001", bytes(range(256)) * 4),
    ("é".encode(), b""),
    (b"big", b"x" * 5000),
]
_RECORDS_SUM = "00000000000000000000000000000001bf53b670dd3800104ad50cdb5d10f3e0"


def _documented(key_utf8: bytes, value: bytes) -> int:
    """XXH3-128 of the value, seeded with the key's XXH3-64 (streaming API)."""
    seed = xxhash.xxh3_64(key_utf8).intdigest()
    return xxhash.xxh3_128(value, seed=seed).intdigest()


def test_the_hash_function_is_xxh3() -> None:
    assert xxhash.xxh3_64_intdigest(b"") == 0x2D06800538D394C2
    assert xxhash.xxh3_128_intdigest(b"") == 0x99AA06D3014798D86001C324468D497F


def test_record_hash_is_the_documented_xxh3_of_one_record() -> None:
    expected = "00000000000000000000000000000000bd1ae2ca08845530ad56a59fe3682db7"
    assert format(record_hash(b"k", b"v"), "064x") == expected
    for key_utf8, value in _RECORDS:
        assert record_hash(key_utf8, value) == _documented(key_utf8, value)


def test_bulk_sums_equal_the_per_record_terms() -> None:
    total, nbytes = hash_and_size(_RECORDS)

    assert format(total % DIGEST_MODULUS, "064x") == _RECORDS_SUM
    assert total == sum(_documented(k, v) for k, v in _RECORDS) == sum_record_hashes(_RECORDS)
    assert nbytes == sum(len(k) + len(v) for k, v in _RECORDS)
    assert hash_and_size([]) == (0, 0)
