"""An edge's per-workload state (routes, epochs): a snapshot and a log of changes.

The routing table and the epoch fence hold one entry per workload the edge has taken in
or handed off, and a cutover's activation writes both inside the source's hold. Written
whole (:class:`~._state_file.StateFile` alone), that write grows with the entries: at
10,000 fenced workloads each activation encoded 2.2 MB on the event loop and synced it
(``benchmarks/state_writes.py``: 7.4 ms p90 against 2.4 ms at 100 workloads, 47 ms at
worst beside a writer of 10 MB files).

:class:`StateLog` writes what changed instead. It holds named tables of entries by key
(the edge's: ``routes`` and ``epochs``, in one log so that an activation, which changes
both, waits for one sync). ``<name>.state`` is the snapshot, a
:class:`~._state_file.StateFile` holding ``{"version": 1, <table>: {key: entry}, ...}``;
``<name>.log`` is a preallocated file of records appended one after another, each the
changes of one write (``{<table>: {key: entry or null}}``, ``null`` removes the key) with
the snapshot's generation, its index and a CRC-32 in its header. A write appends one record
and syncs its data: the log's blocks are all written when it is created, so the sync
changes no metadata, and the cost follows the change, not the state. Reading takes the
snapshot, then the log's records in order while each is whole, belongs to that snapshot
and carries the next index: a torn last record reads as the state before it, and records
of an older snapshot left further on are never taken.

When a record would not fit, the write compacts instead: the whole state goes into the
snapshot (one in-place write of the :class:`~._state_file.StateFile`, which advances its
generation and so retires every record of the log at once) and appending starts over at
the log's start. The log holds at least twice the snapshot, so compaction's cost,
proportional to the state, comes once per that many bytes of changes. A log that must
grow is created anew through a temporary file, with the directory synced.

Writes are grouped as the state file's are: each change is encoded on the loop when it
is made (:meth:`StateTable.set`, :meth:`StateTable.pop`); the write that gets the lock appends
every change made until then, and the others find theirs on disk. A write that fails
keeps its changes pending, so the next write makes the disk agree with memory again (an
owner that puts a value back after a failed write sets it, and that is written last).
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from typing import TYPE_CHECKING, Final, Generic, TypeVar

import anyio
import msgspec
import structlog

from ._errors import EdgeError
from ._refusals import StateNotDurable
from ._state_file import StateFile, read_newest, replace_file, write_record_in_place

if TYPE_CHECKING:
    from collections.abc import ItemsView, Sequence
    from pathlib import Path

__all__ = ["StateLog", "StateTable", "read_state_log"]

_V = TypeVar("_V")

_MAGIC: Final = b"EAL1"
_HEADER: Final = struct.Struct("<4sQIII")  # magic, snapshot generation, index, length, CRC
_MIN_LOG: Final = 64 * 1024
_NULL: Final = msgspec.Raw(b"null")
_LOG_SUFFIX: Final = ".log"

_log = structlog.get_logger("edge_actors.edge.state")


def _log_size(snapshot: int) -> int:
    """The log's size for a snapshot of ``snapshot`` bytes: a power of two, at least
    twice it (compaction's cost then comes once per that many bytes of changes)."""
    size = _MIN_LOG
    while size < 2 * snapshot:
        size *= 2
    return size


def _crc(head: bytes, body: bytes) -> int:
    return zlib.crc32(body, zlib.crc32(head))


def _record(generation: int, index: int, body: bytes) -> bytes:
    head = _HEADER.pack(_MAGIC, generation, index, len(body), 0)[:-4]
    return head + struct.pack("<I", _crc(head, body)) + body


def _records(data: bytes, generation: int) -> tuple[list[bytes], int]:
    """The bodies of the whole records of ``generation``, in order, up to the first that
    is torn, of another snapshot or out of order; and the offset where they end."""
    bodies: list[bytes] = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        magic, gen, index, length, crc = _HEADER.unpack_from(data, offset)
        end = offset + _HEADER.size + length
        if magic != _MAGIC or gen != generation or index != len(bodies) or end > len(data):
            break
        body = data[offset + _HEADER.size : end]
        if _crc(data[offset : offset + _HEADER.size - 4], body) != crc:
            break
        bodies.append(body)
        offset = end
    return bodies, offset


_Tables = dict[str, dict[str, msgspec.Raw]]


def _decode_raw(path: Path, body: bytes | msgspec.Raw, what: str) -> dict[str, msgspec.Raw]:
    try:
        entries = msgspec.json.decode(body, type=dict[str, msgspec.Raw])
    except msgspec.DecodeError as exc:
        raise EdgeError(f"{what} {str(path)!r} is unreadable: {exc}") from None
    return {key: raw.copy() for key, raw in entries.items()}


def _apply(tables: _Tables, changes: _Tables) -> None:
    for table, entries in changes.items():
        held = tables[table]
        for key, value in entries.items():
            if value == _NULL:
                held.pop(key, None)
            else:
                held[key] = value


def _read(
    path: Path,
    top: dict[str, msgspec.Raw] | None,
    generation: int,
    names: Sequence[str],
    what: str,
) -> tuple[_Tables, int, int, int]:
    """The tables on disk (entries encoded), from the snapshot ``top`` at ``generation``
    (read from ``path``) and the log beside it; and where the log's next record goes:
    ``(tables, offset, index, log size)``."""
    log_path = path.with_suffix(_LOG_SUFFIX)
    tables: _Tables = {name: {} for name in names}
    if top is not None:
        for name in names:
            raw = top.get(name)
            if raw is None:
                raise EdgeError(f"{what} {str(path)!r} is unreadable: no {name!r} in it")
            tables[name] = _decode_raw(path, raw, what)
    try:
        data = log_path.read_bytes()
    except FileNotFoundError:
        return tables, 0, 0, 0
    except OSError as exc:
        raise EdgeError(f"{what} log {str(log_path)!r} is unreadable: {exc}") from None
    bodies, end = _records(data, generation)
    for body in bodies:
        changes: _Tables = {}
        for name, raw in _decode_raw(log_path, body, f"{what} log").items():
            if name not in tables:
                raise EdgeError(f"{what} log {str(log_path)!r} is unreadable: no table {name!r}")
            changes[name] = _decode_raw(log_path, raw, f"{what} log")
        _apply(tables, changes)
    return tables, end, len(bodies), len(data)


def read_state_log(
    path: Path, tables: Sequence[str], what: str
) -> dict[str, dict[str, object]] | None:
    """The tables that ``path`` and its log hold, entries decoded as plain JSON values
    (``None``: no snapshot yet). Reads only; a file in the old format is not looked at.

    Raises:
        EdgeError: A file exists but cannot be read or decoded (named as ``what``).
    """
    newest = read_newest(path, dict[str, msgspec.Raw], what)
    if newest is None:
        return None
    generation, top = newest
    read = _read(path, top, generation, tables, what)[0]
    return {
        name: {key: msgspec.json.decode(raw) for key, raw in entries.items()}
        for name, entries in read.items()
    }


class StateTable(Generic[_V]):
    """One table of a :class:`StateLog`: entries of one type by key, in memory, each
    change written by the log's next save (:meth:`StateLog.table`)."""

    def __init__(self, log: StateLog, name: str, values: dict[str, _V]) -> None:
        self.log = log
        self.name = name
        self._values = values

    def get(self, key: str) -> _V | None:
        return self._values.get(key)

    def items(self) -> ItemsView[str, _V]:
        return self._values.items()

    def set(self, key: str, value: _V) -> None:
        """Set ``key`` in memory; the log's next save writes it."""
        self._values[key] = value
        self.log._stage(self.name, key, msgspec.Raw(msgspec.json.encode(value)))

    def pop(self, key: str) -> _V | None:
        """Remove ``key`` in memory (the next save writes that); its value, if it had one."""
        value = self._values.pop(key, None)
        if value is not None:
            self.log._stage(self.name, key, _NULL)
        return value

    async def save(self) -> None:
        """:meth:`StateLog.save` (every table's changes)."""
        await self.log.save()


class StateLog:
    """Named tables of entries by key, written durably as a snapshot and a log of changes
    (see the module doc). Each table is used through its :class:`StateTable`.

    Args:
        path: The snapshot (``<name>.state``); the log is ``<name>.log`` beside it.
        what: What it holds, for error messages (``"edge state"``).
        tables: The tables' names (fields of the snapshot).

    Raises:
        EdgeError: A file exists but cannot be read or decoded.
        OSError: A file of the old format could not be rewritten (see
            :meth:`StateFile.load`).
    """

    def __init__(self, path: Path, what: str, tables: Sequence[str]) -> None:
        self.path = path
        self.log_path = path.with_suffix(_LOG_SUFFIX)
        self.what = what
        self._snapshot = StateFile(path, what)
        self._lock = threading.Lock()
        self._seq = 0
        self._on_disk = 0
        self._pending: list[tuple[int, str, str, msgspec.Raw]] = []
        top = self._snapshot.load(dict[str, msgspec.Raw])  # imports an old .json
        self._durable, self._offset, self._index, self._size = _read(
            path, top, self._snapshot.generation, tables, what
        )
        self.appended = 0
        """Writes that appended a record to the log."""
        self.compacted = 0
        """Writes that put the whole state into the snapshot."""

    def table(self, name: str, kind: type[_V]) -> StateTable[_V]:
        """The table ``name``, its entries decoded as ``kind`` (call once per table).

        Raises:
            EdgeError: An entry on disk is not a ``kind``.
        """
        values: dict[str, _V] = {}
        for key, raw in self._durable[name].items():
            try:
                values[key] = msgspec.json.decode(raw, type=kind)
            except msgspec.ValidationError as exc:
                raise EdgeError(
                    f"{self.what} {str(self.path)!r} is unreadable: {name} {key!r}: {exc}"
                ) from None
        return StateTable(self, name, values)

    @property
    def pending(self) -> bool:
        """Whether a change is not known durable yet (staged, or being written)."""
        return bool(self._pending)

    def save_now(self) -> None:
        """Make every change so far durable, on this thread (blocks for the sync: never
        on an event loop that serves requests; :meth:`save` is for that).

        Raises:
            StateNotDurable: The write failed (an ``OSError``); the changes stay pending
                for the next one.
        """
        self._flush(self._seq)

    def create_now(self) -> None:
        """Make the snapshot and the log exist on disk, durably, even with no change yet
        (a first write then finds both in place; blocks for the syncs).

        Raises:
            StateNotDurable: They could not be written (an ``OSError``).
        """
        with self._lock:
            if self.path.exists() and self.log_path.exists():
                return
            try:
                self._compact({})
            except OSError as exc:
                raise StateNotDurable.of(self.what, exc, self.log_path) from exc

    async def save(self) -> None:
        """:meth:`save_now` with the sync in a worker thread.

        Cancellation: waits for the write to finish (it is not abandoned halfway).
        """
        await anyio.to_thread.run_sync(self._flush, self._seq)

    def _stage(self, table: str, key: str, value: msgspec.Raw) -> None:
        self._seq += 1
        self._pending.append((self._seq, table, key, value))

    def _flush(self, upto: int) -> None:
        with self._lock:
            if upto <= self._on_disk:
                return
            batch = self._pending[:]  # the loop only appends; only this lock's holder cuts
            changes: _Tables = {}
            for _, table, key, value in batch:
                changes.setdefault(table, {})[key] = value
            try:
                if not self._append(changes):
                    self._compact(changes)
            except OSError as exc:
                raise StateNotDurable.of(self.what, exc, self.log_path) from exc
            del self._pending[: len(batch)]
            self._on_disk = max(upto, batch[-1][0]) if batch else upto

    def _append(self, changes: _Tables) -> bool:
        """Append ``changes`` as one record and sync it; ``False``: it does not fit (or
        there is no log), nothing written."""
        record = _record(self._snapshot.generation, self._index, msgspec.json.encode(changes))
        if self._offset + len(record) > self._size:
            return False
        try:
            fd = os.open(self.log_path, os.O_RDWR)
        except FileNotFoundError:  # removed under us: the whole state goes to the snapshot
            return False
        try:
            write_record_in_place(fd, record, self._offset, _HEADER.size)
        finally:
            os.close(fd)
        self._offset += len(record)
        self._index += 1
        _apply(self._durable, changes)
        self.appended += 1
        return True

    def _compact(self, changes: _Tables) -> None:
        """Write the whole state with ``changes`` into the snapshot, and start the log over
        (created, or made larger, if it must be)."""
        state = {name: dict(entries) for name, entries in self._durable.items()}
        _apply(state, changes)
        body = msgspec.json.encode({"version": 1, **state})
        self._snapshot.write_encoded(body)
        self._durable = state
        self._offset = self._index = 0
        self.compacted += 1
        size = _log_size(len(body))
        if size > self._size or not self.log_path.exists():
            try:
                self._create_log(size)
            except OSError as exc:
                # The state is durable in the snapshot: the change is not failed. The next
                # write finds no room and compacts again, trying the log anew.
                self._size = 0
                _log.warning("state_log_not_created", file=str(self.log_path), error=str(exc))

    def _create_log(self, size: int) -> None:
        """Create the log anew, ``size`` bytes all written (a later sync in place then
        changes no metadata): a temporary file, synced, renamed, the directory synced."""
        zeros = bytes(min(size, 1 << 20))
        replace_file(self.log_path, (zeros for _ in range(size // len(zeros))))
        self._size = size
