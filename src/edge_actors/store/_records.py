"""Limits and validation of record keys, values and changes (store layer).

Keys are non-empty ``str`` of at most :data:`MAX_KEY_BYTES` bytes in UTF-8; values are
``bytes`` of at most :data:`MAX_VALUE_BYTES`. Everything that enters a store passes here
first, so a bad record is refused with :class:`InvalidRecord` before any transaction
starts and never fails a group commit shared with other callers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_actors.wire import LSN_MAX

from ._errors import InvalidRecord

if TYPE_CHECKING:
    from collections.abc import Sequence

    from edge_actors.wire import Change

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_VALUE_BYTES",
    "validate_changes",
    "validate_key",
    "validate_ops",
    "validate_value",
]

MAX_KEY_BYTES = 1024
"""Largest key, in UTF-8 bytes."""

MAX_VALUE_BYTES = 16 * 1024 * 1024
"""Largest value, in bytes (16 MiB)."""


def validate_key(key: object) -> str:
    """Return ``key`` if it is a legal record key.

    Raises:
        InvalidRecord: Not a ``str``, empty, not encodable as UTF-8 (lone surrogates), or
            longer than :data:`MAX_KEY_BYTES` bytes once encoded.
    """
    if not isinstance(key, str):
        raise InvalidRecord(f"record key must be a str, got {type(key).__name__}")
    if not key:
        raise InvalidRecord("record key must not be empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidRecord(f"record key {key[:64]!r} is not valid UTF-8: {exc}") from None
    if size > MAX_KEY_BYTES:
        raise InvalidRecord(
            f"record key {key[:32]!r}... is {size} bytes in UTF-8; the limit is {MAX_KEY_BYTES}"
        )
    return key


def validate_value(key: str, value: object) -> bytes:
    """Return ``value`` if it is a legal record value for ``key``.

    ``bytearray`` and ``memoryview`` are accepted and copied to ``bytes``.

    Raises:
        InvalidRecord: Not bytes-like, or larger than :data:`MAX_VALUE_BYTES`.
    """
    if isinstance(value, bytearray | memoryview):
        value = bytes(value)
    if not isinstance(value, bytes):
        raise InvalidRecord(
            f"value of record {key[:64]!r} must be bytes, got {type(value).__name__}"
        )
    if len(value) > MAX_VALUE_BYTES:
        raise InvalidRecord(
            f"value of record {key[:64]!r} is {len(value)} bytes; the limit is {MAX_VALUE_BYTES}"
        )
    return value


def validate_ops(ops: Sequence[tuple[str, bytes | None]]) -> list[tuple[str, bytes | None]]:
    """Validate a write batch (``None`` values are deletes) and return it as a list.

    Raises:
        InvalidRecord: An element is not a ``(key, value)`` pair, or a key or value is
            illegal; the message names the element's index.
    """
    checked: list[tuple[str, bytes | None]] = []
    for index, op in enumerate(ops):
        if not isinstance(op, tuple) or len(op) != 2:
            raise InvalidRecord(f"batch element {index} must be a (key, value) pair, got {op!r}")
        key, value = op
        try:
            key = validate_key(key)
            checked.append((key, None if value is None else validate_value(key, value)))
        except InvalidRecord as exc:
            raise InvalidRecord(f"batch element {index}: {exc}") from None
    return checked


def validate_changes(changes: Sequence[Change]) -> None:
    """Validate changes received from another edge before they are applied.

    Raises:
        InvalidRecord: A change has an LSN outside ``[1, LSN_MAX]``, or an illegal key or value; the
            message names the change's index and LSN.
    """
    for index, change in enumerate(changes):
        lsn = change.lsn
        if not isinstance(lsn, int) or isinstance(lsn, bool) or not 1 <= lsn <= LSN_MAX:
            raise InvalidRecord(
                f"change {index} has invalid lsn {lsn!r}; LSNs are in [1, {LSN_MAX}]"
            )
        try:
            key = validate_key(change.key)
            if change.value is not None:
                validate_value(key, change.value)
        except InvalidRecord as exc:
            raise InvalidRecord(f"change {index} (lsn {lsn}): {exc}") from None
