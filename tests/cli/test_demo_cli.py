"""``edge-actors demo`` as a subprocess: a real live migration under load, verified."""

from __future__ import annotations

import json

import pytest

from .conftest import run_cli

pytestmark = pytest.mark.anyio

SMALL = ("--records", "3000", "--value-bytes", "256", "--write-rate", "200")


async def test_demo_completes_without_loss() -> None:
    result = await run_cli("demo", *SMALL)
    assert result.code == 0, result.err
    out = result.out
    for line in (
        "phases: planning ",
        "records moved: ",
        "bytes on the wire: ",
        "compression ratio: ",
        "rounds: ",
        "downtime (measured write hold): ",
        "write stall: max ",
        "failed requests: 0\n",
        "lost acknowledged writes: 0 (of ",
        "digest expected (seed + acked writes): ",
        "result: OK",
    ):
        assert line in out, f"{line!r} missing from:\n{out}"
    assert "(match)" in out
    assert ": completed in " in out
    assert "Traceback" not in result.err


async def test_demo_json_report() -> None:
    result = await run_cli("demo", *SMALL, "--json")
    assert result.code == 0, result.err
    [line] = result.out.strip().splitlines()  # one JSON object, no progress lines
    report = json.loads(line)
    assert report["ok"] is True
    assert report["state"] == "completed"
    assert report["failed_requests"] == 0
    assert report["lost_writes"] == 0
    assert report["writes_acked"] > 0
    assert report["keys_verified"] > 0
    assert report["digest_expected"] == report["digest_target"]
    assert report["records_seeded"] == 3000
    assert report["bytes_wire"] > 0
    assert report["compression_ratio"] > 1.5  # compressible sample data
    assert set(report["phases_s"]) >= {"sync", "cutover", "validation"}


async def test_demo_bad_flag_exits_2() -> None:
    result = await run_cli("demo", "--records", "0")
    assert result.code == 2
    assert result.err.strip().count("\n") == 0
    assert "--records" in result.err
