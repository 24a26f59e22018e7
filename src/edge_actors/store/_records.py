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

PreparedChange = tuple[str, bytes, bytes | None, int]
"""A validated change as ``(key, key_utf8, value, lsn)`` (see :func:`prepare_changes`)."""

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_VALUE_BYTES",
    "PreparedChange",
    "prepare_changes",
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


def validate_changes(changes: Sequence[Change], *, first_index: int = 0) -> None:
    """Validate changes received from another edge before they are applied.

    ``first_index`` is the index of ``changes[0]`` in the caller's batch (for messages).

    Raises:
        InvalidRecord: A change has an LSN outside ``[1, LSN_MAX]``, or an illegal key or value; the
            message names the change's index and LSN.
    """
    for index, change in enumerate(changes, first_index):
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


def prepare_changes(changes: Sequence[Change]) -> list[PreparedChange]:
    """Validate changes (as :func:`validate_changes`) and return them ready to apply.

    One pass: the common case (exact ``int``/``str``/``bytes`` fields within the limits)
    costs a few type and range checks per change and encodes each key once; anything
    else goes through :func:`validate_changes`'s checks, which name the bad change. A
    ``bytearray``/``memoryview`` value that passes is copied to ``bytes``.

    Raises:
        InvalidRecord: As :func:`validate_changes`; nothing is returned.
    """
    prepared: list[PreparedChange] = []
    append = prepared.append
    for index, change in enumerate(changes):
        lsn, key, value = change.lsn, change.key, change.value
        if (
            type(lsn) is int
            and 1 <= lsn <= LSN_MAX
            and type(key) is str
            and key
            and (value is None or (type(value) is bytes and len(value) <= MAX_VALUE_BYTES))
        ):
            try:
                key_utf8 = key.encode("utf-8")
            except UnicodeEncodeError:
                pass  # the slow path below names the problem
            else:
                if len(key_utf8) <= MAX_KEY_BYTES:
                    append((key, key_utf8, value, lsn))
                    continue
        validate_changes([change], first_index=index)  # raises for anything illegal
        checked = None if value is None else validate_value(key, value)
        append((key, key.encode("utf-8"), checked, int(lsn)))
    return prepared
