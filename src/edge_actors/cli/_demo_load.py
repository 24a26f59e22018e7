"""The demo's workload: compressible sample records, the writer, and the read-back check.

Part of ``edge-actors demo`` (cli layer): :mod:`._demo` runs the migration and reports; this
module owns what is written to the workload and how the outcome is checked against it.
"""

from __future__ import annotations

import random
import time
import zlib
from typing import TYPE_CHECKING

import anyio

from edge_actors.edge import AdminClient, EdgeClient
from edge_actors.store import record_hash

if TYPE_CHECKING:
    from ._demo import DemoOptions

WORKLOAD = "demo-orders"
_WRITERS = 4
_WORDS = (
    "order",
    "customer",
    "status",
    "shipped",
    "pending",
    "active",
    "region",
    "west",
    "east",
    "item",
    "quantity",
    "price",
    "currency",
    "eur",
    "usd",
    "warehouse",
    "sku",
    "total",
    "discount",
    "coupon",
    "express",
    "standard",
    "address",
    "city",
    "postcode",
    "country",
    "email",
    "phone",
    "created",
    "updated",
)


# -- sample data ------------------------------------------------------------------------


class Corpus:
    """Compressible text (words from a small vocabulary) to cut record values from."""

    def __init__(self, size: int = 1 << 17) -> None:
        rng = random.Random(20240601)
        words: list[str] = []
        length = 0
        while length < size:
            word = rng.choice(_WORDS)
            words.append(word)
            length += len(word) + 1
        self.text = " ".join(words).encode()

    def value(self, key: str, version: int, size: int) -> bytes:
        head = f'{{"key":"{key}","v":{version},"data":"'.encode()
        body_len = max(0, size - len(head) - 2)
        offset = zlib.crc32(f"{key}:{version}".encode()) % (len(self.text) - body_len - 1)
        return head + self.text[offset : offset + body_len] + b'"}'


def seed_key(i: int) -> str:
    return f"order/{i:07d}"


# -- writer -----------------------------------------------------------------------------


class Writer:
    """Writes at a fixed total rate through ``EdgeClient`` tasks that own disjoint keys.

    ``model`` is what the workload must hold once it stops: seed values overlaid with
    every acknowledged write (``None`` for an acknowledged delete).
    """

    def __init__(
        self,
        url: str,
        token: str,
        corpus: Corpus,
        model: dict[str, bytes | None],
        opts: DemoOptions,
    ) -> None:
        self.url = url
        self.token = token
        self.corpus = corpus
        self.model = model
        self.opts = opts
        self.acked: dict[str, bytes | None] = {}
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.started = 0.0
        self.stopped = 0.0
        self._stop = anyio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        self.started = time.monotonic()
        async with (
            EdgeClient(self.url, timeout=60.0, token=self.token) as client,
            anyio.create_task_group() as tg,
        ):
            for index in range(_WRITERS):
                tg.start_soon(self._one, client, index)
        self.stopped = time.monotonic()

    async def _one(self, client: EdgeClient, index: int) -> None:
        rng = random.Random(index)
        interval = _WRITERS / self.opts.write_rate
        records = max(self.opts.records, _WRITERS)
        next_at = time.monotonic()
        version = 0
        while not self._stop.is_set():
            i = rng.randrange(index, records + records // 10, _WRITERS)  # updates and inserts
            key = seed_key(i)
            version += 1
            delete = rng.random() < 0.05
            value = None if delete else self.corpus.value(key, version, self.opts.value_bytes)
            started = time.perf_counter()
            try:
                if value is None:
                    await client.delete(WORKLOAD, key)
                else:
                    await client.put(WORKLOAD, key, value)
            except Exception as exc:  # every failed request counts, whatever it is
                self.failures.append(f"{type(exc).__name__}: {exc}")
            else:
                self.latencies.append(time.perf_counter() - started)
                self.acked[key] = value
                self.model[key] = value
            next_at = max(next_at + interval, time.monotonic())
            with anyio.move_on_after(next_at - time.monotonic()):
                await self._stop.wait()


# -- the run ----------------------------------------------------------------------------


def digest(model: dict[str, bytes | None]) -> str:
    total = 0
    for key, value in model.items():
        if value is not None:
            total += record_hash(key.encode("utf-8"), value)
    return format(total % (1 << 256), "064x")


async def seed(url: str, token: str, corpus: Corpus, opts: DemoOptions) -> dict[str, bytes | None]:
    model: dict[str, bytes | None] = {}
    async with AdminClient(url, token) as admin:
        await admin.create_workload(WORKLOAD)
    async with EdgeClient(url, timeout=120.0, token=token) as client:
        for start in range(0, opts.records, 1000):
            ops: list[tuple[str, bytes | None]] = []
            for i in range(start, min(opts.records, start + 1000)):
                key = seed_key(i)
                ops.append((key, corpus.value(key, 0, opts.value_bytes)))
            await client.batch(WORKLOAD, ops)
            model.update(ops)
    return model


async def lost_writes(url: str, token: str, acked: dict[str, bytes | None]) -> list[str]:
    """Keys whose acknowledged value is not what the target serves (read concurrently)."""
    lost: list[str] = []
    items = list(acked.items())
    async with EdgeClient(url, timeout=60.0, token=token) as client:

        async def part(chunk: list[tuple[str, bytes | None]]) -> None:
            for key, value in chunk:
                if await client.get(WORKLOAD, key) != value:
                    lost.append(key)

        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(part, items[n::8])
    return sorted(lost)
