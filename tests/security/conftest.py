"""Fixtures of the security suite: a real daemon on loopback with scoped credentials.

Each test plays the attacker of one row of issue 11's table against a real aiohttp
server and checks the answer and that nothing changed.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

import aiohttp
import pytest

from edge_actors.edge import AdminClient, EdgeConfig, EdgeDaemon
from edge_actors.edge._credentials import CredentialSpec

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

ADMIN = "admin-token-0123456789abcdefghij"
BILLING_RW = "billing-rw-0123456789abcdefghij"
REPORTS_RO = "reports-ro-0123456789abcdefghij"
PEER = "peer-token-0123456789abcdefghij"
METRICS = "metrics-token-0123456789abcdefghij"
WRONG = "wrong-token-0123456789abcdefghij"

CREDENTIALS = (
    CredentialSpec(name="billing", role="data", token=BILLING_RW, workloads=("billing-*",)),
    CredentialSpec(
        name="reports", role="data", token=REPORTS_RO, workloads=("reports-*",), mode="read-only"
    ),
    CredentialSpec(name="peer", role="peer", token=PEER),
    CredentialSpec(name="scraper", role="metrics", token=METRICS),
)


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


class Answer(NamedTuple):
    """A raw answer: status, headers, body."""

    status: int
    headers: dict[str, str]
    body: bytes


async def send(
    daemon: EdgeDaemon, method: str, path: str, token: str | None = None, **kwargs: Any
) -> Answer:
    """Send one raw request (no redirects followed) with ``token`` if given."""
    headers = dict(kwargs.pop("headers", None) or {})
    if token is not None:
        headers.update(bearer(token))
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, daemon.url + path, headers=headers, allow_redirects=False, **kwargs
        ) as resp,
    ):
        return Answer(resp.status, dict(resp.headers), await resp.read())


async def state(daemon: EdgeDaemon) -> list[tuple[str, str, int, int, str]]:
    """Every workload's name, status, records, LSN and digest (what an attack must not move)."""
    async with AdminClient(daemon.url, ADMIN) as admin:
        workloads = await admin.workloads()
    return sorted((w.name, w.status, w.records, w.lsn, w.digest) for w in workloads)


def config(tmp_path: Path, name: str = "edge-sec", **overrides: Any) -> EdgeConfig:
    """A daemon config with the admin token and the scoped credentials above."""
    settings: dict[str, Any] = {
        "name": name,
        "data_dir": str(tmp_path / name),
        "cluster_token": ADMIN,
        "credentials": CREDENTIALS,
        "shutdown_timeout_s": 2.0,
        **overrides,
    }
    return EdgeConfig(**settings)


@asynccontextmanager
async def seeded(cfg: EdgeConfig, **kwargs: Any) -> AsyncIterator[EdgeDaemon]:
    """Run a daemon with workloads ``billing-eu`` and ``reports-q1`` holding one record."""
    async with EdgeDaemon(cfg, **kwargs) as daemon, AdminClient(daemon.url, ADMIN) as admin:
        for workload in ("billing-eu", "reports-q1"):
            await admin.create_workload(workload)
            put = await send(
                daemon,
                "PUT",
                f"/v1/workloads/{workload}/records/balance",
                ADMIN,
                data=b"100",
                headers={"Content-Type": "application/octet-stream"},
            )
            assert put.status == 200, put
        yield daemon


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[EdgeDaemon]:
    """A running daemon with scoped credentials and two seeded workloads."""
    async with seeded(config(tmp_path)) as running:
        yield running
