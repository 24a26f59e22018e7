"""StoreRegistry: one edge data directory's workloads, and workload name validation."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
