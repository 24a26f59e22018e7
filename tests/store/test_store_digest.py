"""The digest contract: every edge must compute the same record hashes and sums.

The expected values were computed by the store code before the digest loop was rewritten
(commit 6f2a3be), so a change of the definition fails here before it reaches a peer.
"""

from __future__ import annotations

from hashlib import blake2b

from edge_actors.store import record_hash
from edge_actors.store._digest import DIGEST_MODULUS, hash_and_size, sum_record_hashes

_RECORDS = [
    (b"r0000001", bytes(range(256)) * 4),
    ("é".encode(), b""),
    (b"big", b"x" * 5000),
]
_RECORDS_SUM = "ff1aeda66ad8003a42605bd187baf69654c6c2fa32052fdfc38ff875a19981c6"


def _documented(key_utf8: bytes, value: bytes) -> int:
    data = len(key_utf8).to_bytes(8, "big") + key_utf8 + value
    return int.from_bytes(blake2b(data, digest_size=32).digest(), "big")


def test_record_hash_is_the_documented_blake2b_of_one_record() -> None:
    expected = "78b71d77787f46a83836a8d6a38f1d08b56fbba78140ace8a6c77f08446748e9"
    assert format(record_hash(b"k", b"v"), "064x") == expected
    for key_utf8, value in _RECORDS:
        assert record_hash(key_utf8, value) == _documented(key_utf8, value)


def test_bulk_sums_equal_the_per_record_terms() -> None:
    total, nbytes = hash_and_size(_RECORDS)

    assert format(total % DIGEST_MODULUS, "064x") == _RECORDS_SUM
    assert total == sum(_documented(k, v) for k, v in _RECORDS) == sum_record_hashes(_RECORDS)
    assert nbytes == sum(len(k) + len(v) for k, v in _RECORDS)
    assert hash_and_size([]) == (0, 0)
