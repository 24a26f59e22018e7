"""Data API: malformed names, keys, bodies, methods and sizes are 4xx JSON, store unchanged."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .conftest import WORKLOAD, answer, assert_error, snapshot

if TYPE_CHECKING:
    import aiohttp

    from edge_actors.edge import EdgeDaemon

pytestmark = pytest.mark.anyio

RECORDS = f"/v1/workloads/{WORKLOAD}/records/"
BATCH = f"/v1/workloads/{WORKLOAD}/batch"


@pytest.mark.parametrize(
    ("raw_key", "mention"),
    [
        ("%ff%fe", "not UTF-8"),  # invalid UTF-8
        ("%C3%28", "not UTF-8"),  # a broken two-byte sequence
        ("%ED%A0%80", "not UTF-8"),  # an encoded surrogate
        ("%", "'%'"),  # a lone percent sign
        ("ab%zz", "'%zz'"),  # not hex
        ("ab%4", "'%4'"),  # truncated
    ],
)
async def test_malformed_percent_encoding_in_key_is_refused(
    daemon: EdgeDaemon, http: aiohttp.ClientSession, raw_key: str, mention: str
) -> None:
    before = await snapshot(daemon)
    for method in ("PUT", "GET", "DELETE"):
        result = await answer(http, method, daemon.url + RECORDS + raw_key, data=b"x")
        assert_error(result, 400, "invalid_path", "path", mention)
    assert await snapshot(daemon) == before


async def test_malformed_percent_encoding_in_workload_name(
    daemon: EdgeDaemon, http: aiohttp.ClientSession
) -> None:
    before = await snapshot(daemon)
    result = await answer(http, "PUT", daemon.url + "/v1/workloads/%ff/records/k", data=b"x")
    assert_error(result, 400, "invalid_path", "not UTF-8")
    assert await snapshot(daemon) == before


@pytest.mark.parametrize(
    "name", ["UPPER", "a" * 64, "-lead", "a%20b", "..", "a..b", "%2e%2e", "x" * 5000]
)
async def test_invalid_workload_names_are_400(
    daemon: EdgeDaemon, http: aiohttp.ClientSession, name: str
) -> None:
    before = await snapshot(daemon)
    result = await answer(http, "PUT", f"{daemon.url}/v1/workloads/{name}/records/k", data=b"x")
    assert_error(result, 400, "invalid_workload_name", "invalid workload name")
    assert await snapshot(daemon) == before


async def test_overlong_key_is_400_naming_the_limit(
    daemon: EdgeDaemon, http: aiohttp.ClientSession
) -> None:
    before = await snapshot(daemon)
    result = await answer(http, "PUT", daemon.url + RECORDS + "k" * 1025, data=b"x")
    assert_error(result, 400, "invalid_record", "key", "1024")
    # 513 two-byte characters: 1026 UTF-8 bytes
    result = await answer(http, "PUT", daemon.url + RECORDS + "%C3%A9" * 513, data=b"x")
    assert_error(result, 400, "invalid_record", "1024")
    assert await snapshot(daemon) == before


@pytest.mark.parametrize(
    ("body", "mention"),
    [
        (b"", "not msgpack"),
        (b"\xc1", "not msgpack"),
        (msgspec.msgpack.encode({"k": b"v"}), "expected [[key, value-or-nil], ...]"),
        (msgspec.msgpack.encode([["k"]]), "$[0]"),
        (msgspec.msgpack.encode([["k", b"v", 3]]), "$[0]"),
        (msgspec.msgpack.encode([["k", 5]]), "$[0][1]"),
        (msgspec.msgpack.encode([["k", "text"]]), "$[0][1]"),
        (msgspec.msgpack.encode([[5, b"v"]]), "$[0][0]"),
        (msgspec.msgpack.encode([["ok", b"v"], [b"\xff", b"v"]]), "$[1][0]"),
        (msgspec.msgpack.encode([["k", b"v"]]) + b"trailing", "not msgpack"),
        (b'[["k", "v"]]', "expected [[key"),  # JSON is not msgpack
    ],
)
async def test_wrong_shape_batches_are_400_and_atomic(
    daemon: EdgeDaemon, http: aiohttp.ClientSession, body: bytes, mention: str
) -> None:
    before = await snapshot(daemon)
    result = await answer(http, "POST", daemon.url + BATCH, data=body)
    assert_error(result, 400, "invalid_body", "batch", mention)
    assert await snapshot(daemon) == before


async def test_batch_with_one_bad_key_writes_nothing(
    daemon: EdgeDaemon, http: aiohttp.ClientSession
) -> None:
    before = await snapshot(daemon)
    body = msgspec.msgpack.encode([["good", b"v"], ["", b"v"]])
    result = await answer(http, "POST", daemon.url + BATCH, data=body)
    assert_error(result, 400, "invalid_record", "empty")
    body = msgspec.msgpack.encode([["good", b"v"], ["k" * 1025, b"v"]])
    result = await answer(http, "POST", daemon.url + BATCH, data=body)
    assert result[0] == 400, result
    assert result[2]["error"] == "invalid_record", result
    assert await snapshot(daemon) == before


async def test_oversized_value_and_batch_are_413(
    daemon: EdgeDaemon, http: aiohttp.ClientSession
) -> None:
    before = await snapshot(daemon)
    big = b"x" * (16 * 1024 * 1024 + 1)
    result = await answer(http, "PUT", daemon.url + RECORDS + "huge", data=io.BytesIO(big))
    assert_error(result, 413, "payload_too_large", "limit")
    batch = msgspec.msgpack.encode([["huge", big]])
    result = await answer(http, "POST", daemon.url + BATCH, data=io.BytesIO(batch))
    assert_error(result, 413, "payload_too_large", "batch element 0")
    assert await snapshot(daemon) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", RECORDS + "k"),
        ("POST", RECORDS + "k"),
        ("GET", BATCH),
        ("PUT", BATCH),
        ("DELETE", f"/v1/workloads/{WORKLOAD}"),
        ("POST", "/api/health"),
    ],
)
async def test_wrong_methods_are_405_json(
    daemon: EdgeDaemon, http: aiohttp.ClientSession, method: str, path: str
) -> None:
    before = await snapshot(daemon)
    result = await answer(http, method, daemon.url + path, data=b"x")
    assert_error(result, 405, "http_405", "Method Not Allowed")
    assert await snapshot(daemon) == before


async def test_unknown_routes_are_404_json(daemon: EdgeDaemon, http: aiohttp.ClientSession) -> None:
    result = await answer(http, "GET", daemon.url + "/v2/anything")
    assert_error(result, 404, "http_404")


async def test_raw_values_take_binary_or_json_content_types_only(
    daemon: EdgeDaemon, http: aiohttp.ClientSession
) -> None:
    # A value is raw bytes whatever the accepted type; a browser's "simple" types are 415.
    for content_type in ("application/json", "application/octet-stream", "application/msgpack"):
        status, kind, body = await answer(
            http,
            "PUT",
            daemon.url + RECORDS + "typed",
            data=b"\x00\xff",
            headers={"Content-Type": content_type},
        )
        assert (status, kind) == (200, "application/json")
        assert "lsn" in body
    before = await snapshot(daemon)
    for content_type in ("text/plain; charset=latin-1", "garbage/%%", "multipart/form-data"):
        result = await answer(
            http,
            "PUT",
            daemon.url + RECORDS + "typed",
            data=b"other",
            headers={"Content-Type": content_type},
        )
        assert_error(result, 415, "unsupported_media_type", "application/octet-stream")
    assert await snapshot(daemon) == before
    status, _, value = await answer(http, "GET", daemon.url + RECORDS + "typed")
    assert (status, value) == (200, b"\x00\xff")


async def test_unknown_workload_is_404(daemon: EdgeDaemon, http: aiohttp.ClientSession) -> None:
    before = await snapshot(daemon)
    result = await answer(http, "PUT", daemon.url + "/v1/workloads/nope/records/k", data=b"x")
    assert_error(result, 404, "workload_not_found", "nope")
    assert await snapshot(daemon) == before


_SEGMENT = st.text(
    alphabet=st.sampled_from("%0123456789abcdefABCDEFzZ/._- é~+"), min_size=1, max_size=12
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(raw=_SEGMENT)
async def test_fuzzed_key_paths_never_500_and_never_mangle(
    daemon: EdgeDaemon, http: aiohttp.ClientSession, raw: str
) -> None:
    """Any raw key path is either stored under exactly its decoded key or refused (4xx)."""
    from urllib.parse import quote, unquote_to_bytes

    url = daemon.url + RECORDS + quote(raw, safe="%/~+")
    status, _, body = await answer(http, "PUT", url, data=b"fuzz")
    assert status < 500, (raw, body)
    if status == 200:
        key = unquote_to_bytes(quote(raw, safe="%/~+")).decode("utf-8")
        from edge_actors.edge import EdgeClient

        async with EdgeClient(daemon.url, token=daemon.token) as app:
            assert await app.get(WORKLOAD, key) == b"fuzz", (raw, key)
            await app.delete(WORKLOAD, key)
    else:
        assert 400 <= status < 500, (raw, body)
        assert isinstance(body, dict), (raw, body)
        assert body["error"], (raw, body)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=st.binary(max_size=64))
@example(body=b"\xdd\x00\x02\x00\x00")  # array32 of 131,072 items: refused from its header
async def test_fuzzed_batch_bodies_are_applied_whole_or_refused(
    daemon: EdgeDaemon, http: aiohttp.ClientSession, body: bytes
) -> None:
    before = await snapshot(daemon)
    status, _, answer_body = await answer(http, "POST", daemon.url + BATCH, data=body)
    assert status < 500, answer_body
    if status != 200:
        # An array header that declares more operations than max_batch_ops is refused
        # from the header alone (413 too_many_ops), whatever follows it.
        assert answer_body["error"] in ("invalid_body", "invalid_record", "too_many_ops"), (
            answer_body
        )
        assert await snapshot(daemon) == before
