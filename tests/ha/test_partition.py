"""A leader cut off from the database stops acting within its lease; edges fence it.

Real processes on a real PostgreSQL journal (see :mod:`._failover`). ``SIGSTOP`` freezes
the leader for longer than its lease (it can neither renew nor act; any platform); the
namespace variant runs the leader in its own network namespace joined by a veth pair and
cuts the link, so it loses the database and both edges while it keeps running (root
only: it skips with the reason elsewhere). Either way the follower takes over, the old
leader reports ``follower`` (after the cut: within its lease, asked from inside its
namespace), the migration completes with no acknowledged write lost, and both edges
refuse a command at the old leader's epoch (409 ``stale_leader``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from faults._injectors import Partition, partition_unavailable
from postgres.server import PostgresServer

from ._failover import FailoverOutcome, run_failover

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

LEASE_S = 3.0


def _assert_fenced_and_complete(outcome: FailoverOutcome) -> None:
    assert outcome.killed_in == "sync"
    assert outcome.problems() == [], outcome
    assert outcome.takeover_s is not None
    assert outcome.takeover_s < 5.0
    assert outcome.stale_refused is True
    assert outcome.leaders == ["sup-a (epoch 1)", "sup-b (epoch 2)"]


async def test_a_frozen_leader_is_replaced_and_fenced(tmp_path: Path, postgres_url: str) -> None:
    outcome = await run_failover(tmp_path, postgres_url, "sync", seed=5, fault="stop")
    print(outcome)  # shown with -s or when the test fails
    _assert_fenced_and_complete(outcome)
    assert outcome.stood_down_s is not None  # answered follower once continued


async def test_a_leader_partitioned_from_the_database_stops_within_its_lease(
    tmp_path: Path,
) -> None:
    reason = partition_unavailable()
    if reason is not None:
        pytest.skip(reason)
    partition = Partition(os.getpid() + 101)
    server = PostgresServer(data_dir=tmp_path / "pg" / "pgdata", host="0.0.0.0")
    server.init()
    with (server.data_dir / "pg_hba.conf").open("a") as hba:  # the leader's namespace
        hba.write(f"host all all {partition.ns_ip}/32 trust\n")
    server.start()
    try:
        local = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
        in_ns = f"postgresql://postgres@{partition.root_ip}:{server.port}/postgres"
        outcome = await run_failover(
            tmp_path,
            local,
            "sync",
            seed=9,
            fault="partition",
            partition=partition,
            journal_in_ns=in_ns,
        )
    finally:
        server.stop()
    print(outcome)  # shown with -s or when the test fails
    _assert_fenced_and_complete(outcome)
    assert outcome.stood_down_s is not None
    assert outcome.stood_down_s <= LEASE_S
