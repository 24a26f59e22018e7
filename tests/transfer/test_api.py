"""The public API of edge_actors.transfer is what docs/transfer.md promises."""

from __future__ import annotations

import msgspec
import pytest

import edge_actors.transfer as transfer
from edge_actors.errors import ConfigError, EdgeActorsError
from edge_actors.transfer import PeerRefused, TransferAborted, TransferError, TransferSpec


def test_public_names() -> None:
    assert set(transfer.__all__) == {
        "NEVER_YIELD",
        "PROGRESS_INTERVAL_S",
        "SNAPSHOT_MIN_BYTES",
        "SNAPSHOT_PART_BYTES",
        "CopyYield",
        "LinkLimiters",
        "PeerRefused",
        "ReceiverActor",
        "SenderActor",
        "TokenBucket",
        "TransferAborted",
        "TransferError",
        "TransferProgress",
        "TransferSpec",
        "TransferState",
        "URGENT_HEADER",
        "peer_ws_max_msg_size",
        "run_transfer",
        "serve_peer_stream",
    }
    assert issubclass(TransferError, EdgeActorsError)
    assert issubclass(PeerRefused, TransferError)
    assert issubclass(TransferAborted, TransferError)


def _spec(**kw: object) -> TransferSpec:
    fields: dict[str, object] = {
        "transfer_id": "t",
        "migration_id": "m",
        "workload": "app",
        "target_name": "b",
        "target_url": "http://127.0.0.1:1",
        "target_token": "x",
    }
    fields.update(kw)
    return TransferSpec(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("workload", "Bad Name"),
        ("target_url", "ftp://x"),
        ("from_lsn", -1),
        ("batch_size", 0),
        ("compression_level", 23),
        ("rate_limit_bps", 0.0),
        ("window", 0),
        ("max_retries", -1),
        ("retry_backoff_s", -0.5),
        ("transfer_id", ""),
    ],
)
def test_spec_validation_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        _spec(**{field: value})


def test_spec_round_trips_as_json() -> None:
    spec = _spec(to_lsn=10, rate_limit_bps=1e6)
    assert msgspec.json.decode(msgspec.json.encode(spec), type=TransferSpec) == spec
    assert spec.stream_url == "http://127.0.0.1:1/peer/stream"
    with pytest.raises(ConfigError, match="to_lsn"):
        _spec(from_lsn=5, to_lsn=4)
