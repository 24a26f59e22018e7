"""Issue 11, "token policy" and "one cluster token": weak tokens are refused, failed
guesses are throttled per address (bounded table) and logged without the token, and a
daemon with no credential refuses a non-loopback address or mints its own."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

import pytest
import structlog.testing

from edge_actors.clock import ManualClock
from edge_actors.edge import AdminClient, EdgeConfig, EdgeDaemon, load_edge_config, load_topology
from edge_actors.edge._auth import FailureThrottle
from edge_actors.edge._credentials import CredentialSpec
from edge_actors.errors import ConfigError

from .conftest import ADMIN, BILLING_RW, WRONG, config, seeded, send, state

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "token",
    ["x", "s3cret", "a" * 40, "0123456789" * 2, "short token with spaces 0123456789"],
)
def test_weak_tokens_are_refused(tmp_path: Path, token: str) -> None:
    with pytest.raises(ConfigError, match="cluster_token") as refused:
        EdgeConfig(name="e", data_dir=str(tmp_path), cluster_token=token)
    assert token not in str(refused.value) or len(token) < 3
    with pytest.raises(ConfigError, match=r"credentials\.app"):
        CredentialSpec(name="app", role="data", token=token, workloads=("*",))
    weak = tmp_path / "weak.token"
    weak.write_text(token)
    cfg = EdgeConfig(name="e", data_dir=str(tmp_path / "d"), cluster_token_file=str(weak))
    with pytest.raises(ConfigError, match="cluster_token_file"):
        EdgeDaemon(cfg)._credentials(tmp_path)


def test_a_128_bit_token_is_accepted(tmp_path: Path) -> None:
    cfg = EdgeConfig(name="e", data_dir=str(tmp_path), cluster_token="A1b2C3d4E5f6G7h8I9j0Kl")
    assert cfg.cluster_token is not None


def test_no_credential_on_a_public_address_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no credential is configured.*127\.0\.0\.1"):
        EdgeConfig(name="e", data_dir=str(tmp_path), host="0.0.0.0")
    with pytest.raises(ConfigError, match="EDGE_ACTORS_CLUSTER_TOKEN"):
        load_edge_config(env={"EDGE_ACTORS_NAME": "e", "EDGE_ACTORS_DATA_DIR": "d",
                              "EDGE_ACTORS_HOST": "0.0.0.0"})  # fmt: skip


async def test_a_loopback_daemon_without_credentials_mints_a_private_admin_token(
    tmp_path: Path,
) -> None:
    cfg = EdgeConfig(name="e", data_dir=str(tmp_path / "e"), shutdown_timeout_s=2.0)
    async with EdgeDaemon(cfg) as daemon:
        token_file = tmp_path / "e" / "admin.token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert token_file.read_text().strip() == daemon.token
        assert len(daemon.token) >= 22
        assert (await send(daemon, "GET", "/api/health")).status == 401
        async with AdminClient(daemon.url, daemon.token) as admin:
            assert (await admin.health()).name == "e"
        first = daemon.token
    async with EdgeDaemon(cfg) as daemon:
        assert daemon.token == first  # kept across restarts, for --token-file users


async def test_wrong_guesses_are_throttled_per_address_and_logged_without_the_token(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    cfg = config(tmp_path, auth_failure_burst=5, auth_failure_rate_per_s=0.5)
    async with seeded(cfg, clock=clock) as daemon:
        before = await state(daemon)
        with structlog.testing.capture_logs() as logs:
            statuses = [
                (
                    await send(
                        daemon,
                        "PUT",
                        "/v1/workloads/billing-eu/records/balance",
                        f"{WRONG}{i}",
                        data=b"999999",
                    )
                ).status
                for i in range(5)
            ]
            assert statuses == [401] * 5
            throttled = await send(daemon, "GET", "/v1/workloads/billing-eu", BILLING_RW)
            assert throttled.status == 429  # even the right token waits: no oracle
            assert throttled.headers["Retry-After"] == "2"
        failures = [e for e in logs if e["event"] == "auth_failed"]
        assert len(failures) == 5
        assert {e["address"] for e in failures} == {"127.0.0.1"}
        assert {e["route"] for e in failures} == {"/v1/workloads/{workload}/records/{key}"}
        assert failures[-1]["throttled"] is True
        assert all(WRONG not in repr(e) and ADMIN not in repr(e) for e in logs)
        clock.advance(2.0)
        assert (await send(daemon, "GET", "/v1/workloads/billing-eu", BILLING_RW)).status == 200
        assert await state(daemon) == before


def test_the_throttle_table_is_bounded() -> None:
    clock = ManualClock()
    throttle = FailureThrottle(clock, burst=1, rate_per_s=1.0, max_addresses=100)
    for i in range(10_000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(throttle) == 100
    assert throttle.retry_after("10.0.39.15") is not None  # the most recent is kept
    assert throttle.retry_after("10.0.0.0") is None  # the oldest was dropped


def test_topology_reads_tokens_from_files(tmp_path: Path) -> None:
    token_file = tmp_path / "west.token"
    token_file.write_text(ADMIN + "\n")
    path = tmp_path / "edges.toml"
    path.write_text(f'[edges.west]\nurl = "http://127.0.0.1:7400"\ntoken_file = "{token_file}"\n')
    assert load_topology(path)["west"].token == ADMIN
    token_file.write_text("s3cret")
    with pytest.raises(ConfigError, match=r"edges\.west: token_file.*too weak"):
        load_topology(path)
