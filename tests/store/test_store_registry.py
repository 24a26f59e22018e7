"""StoreRegistry: one edge data directory's workloads, and workload name validation."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.store import (
    InvalidWorkloadName,
    StoreClosed,
    StoreRegistry,
    WorkloadExists,
    WorkloadNotFound,
    validate_workload_name,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "name", ["a", "0", "orders", "orders-eu.v2_x", "a" * 63, "a.b", "9-lives", "a-", "a."]
)
def test_valid_workload_names(name: str) -> None:
    assert validate_workload_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "../x",
        "..",
        "a..b",
        "a/b",
        "a\\b",
        "/etc",
        "Orders",
        "a" * 64,
        ".hidden",
        "-flag",
        "_x",
        "a b",
        "a\n",
        "café",
        "a:b",
    ],
)
def test_invalid_workload_names(name: str) -> None:
    with pytest.raises(InvalidWorkloadName, match="invalid workload name"):
        validate_workload_name(name)


def test_non_str_workload_name() -> None:
    refusal = r"^invalid workload name: workload: expected a workload name .*, got b'abc'$"
    with pytest.raises(InvalidWorkloadName, match=refusal):
        validate_workload_name(b"abc")  # type: ignore[arg-type]


async def test_create_get_names_drop(tmp_path: Path) -> None:
    async with await StoreRegistry.open(tmp_path) as registry:
        assert registry.names() == []
        orders = await registry.create("orders")
        await registry.create("carts")
        assert registry.names() == ["carts", "orders"]
        assert registry.get("orders") is orders
        assert "orders" in registry
        assert orders.path == tmp_path / "workloads" / "orders.sqlite"
        await orders.put("o1", b"x" * 1000)
        assert await registry.total_bytes() > 1000

        with pytest.raises(WorkloadExists, match="'orders'"):
            await registry.create("orders")
        with pytest.raises(WorkloadNotFound, match="'nope'"):
            registry.get("nope")
        with pytest.raises(WorkloadNotFound, match="'nope'"):
            await registry.drop("nope")
        with pytest.raises(InvalidWorkloadName):
            await registry.create("../escape")
        with pytest.raises(InvalidWorkloadName):
            registry.get("a/b")

        before = await registry.total_bytes()
        await registry.drop("orders")
        assert registry.names() == ["carts"]
        assert orders.closed
        with pytest.raises(StoreClosed):
            await orders.put("o2", b"y")
        assert not [p for p in (tmp_path / "workloads").iterdir() if "orders" in p.name]
        assert await registry.total_bytes() < before
        again = await registry.create("orders")  # a dropped name can be reused, empty
        assert again.lsn == 0


async def test_drops_run_at_once_and_a_create_of_a_dropping_name_waits(tmp_path: Path) -> None:
    async with await StoreRegistry.open(tmp_path) as registry:
        for name in ("w0", "w1"):
            store = await registry.create(name)
            await store.write_batch([(f"k{j}", bytes(2000)) for j in range(200)])
        # w0's file deletion (a real one, in its thread) waits until the test lets it go
        delete_files = registry._delete_files
        w0_may_go = threading.Event()

        def slow_delete(name: str) -> None:
            if name == "w0":
                w0_may_go.wait(timeout=30)
            delete_files(name)

        registry._delete_files = slow_delete  # type: ignore[method-assign]
        reborn: list[int] = []

        async def recreate() -> None:
            reborn.append((await registry.create("w0")).lsn)

        async with anyio.create_task_group() as tg:
            tg.start_soon(registry.drop, "w0")
            await anyio.wait_all_tasks_blocked()
            with anyio.fail_after(10):
                await registry.drop("w1")  # does not wait for w0's file I/O
            assert not [p for p in (tmp_path / "workloads").iterdir() if p.name[:2] == "w1"]
            tg.start_soon(recreate)
            await anyio.wait_all_tasks_blocked()
            assert reborn == []  # waits for the drop, instead of refusing a name in use
            w0_may_go.set()
        assert reborn == [0]
        assert registry.names() == ["w0"]
        assert await registry.get("w0").get("k1") is None


async def test_reopen_finds_every_workload_and_skips_foreign_files(tmp_path: Path) -> None:
    async with await StoreRegistry.open(tmp_path) as registry:
        for name in ("a", "b.c", "d-e"):
            store = await registry.create(name)
            await store.put("k", name.encode())
    (tmp_path / "workloads" / "Not-Valid.sqlite").write_bytes(b"")
    (tmp_path / "workloads" / "notes.txt").write_text("ignored")
    async with await StoreRegistry.open(tmp_path) as registry:
        assert registry.names() == ["a", "b.c", "d-e"]
        for name in registry.names():
            assert await registry.get(name).get("k") == (name.encode(), 1)
        with pytest.raises(WorkloadExists):
            await registry.create("a")


async def test_create_refuses_an_existing_file_not_yet_open(tmp_path: Path) -> None:
    async with await StoreRegistry.open(tmp_path) as registry:
        (tmp_path / "workloads" / "late.sqlite").write_bytes(b"")
        with pytest.raises(WorkloadExists, match="'late'"):
            await registry.create("late")


async def test_closed_registry_closes_its_stores(tmp_path: Path) -> None:
    registry = await StoreRegistry.open(tmp_path)
    store = await registry.create("w")
    await registry.close()
    assert store.closed
    assert registry.names() == []
    with pytest.raises(StoreClosed):
        await registry.create("x")
