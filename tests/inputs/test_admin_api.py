"""Admin API: bad tokens are 401 with nothing changed; bad bodies are 400 naming the field."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import AUTH, TOKEN, WORKLOAD, answer, assert_error, snapshot

if TYPE_CHECKING:
    import aiohttp

    from edge_actors.edge import EdgeDaemon

pytestmark = pytest.mark.anyio

_MUTATIONS: list[tuple[str, str, Any]] = [
    ("POST", "/admin/workloads", {"name": "fresh"}),
    ("DELETE", f"/admin/workloads/{WORKLOAD}", None),
    ("PUT", f"/admin/workloads/{WORKLOAD}/status", {"status": "incoming"}),
    ("POST", f"/admin/workloads/{WORKLOAD}/hold", None),
    ("PUT", "/admin/links/edge-x", {"rate_bps": 1000.0}),
]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.one_of(
        st.none(),
        st.sampled_from(
            [
                "",
                "Bearer",
                "Bearer ",
                f"Basic {TOKEN}",
                f"Token {TOKEN}",
                f"Bearer {TOKEN}x",
                f"Bearer{TOKEN}",
                f"Bearer {TOKEN[:-1]}",
                "Bearer \t",
                f"Bearer {TOKEN} {TOKEN}",
            ]
        ),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    ),
    mutation=st.sampled_from(_MUTATIONS),
)
async def test_bad_authorization_is_401_and_changes_nothing(
    daemon: EdgeDaemon,
    http: aiohttp.ClientSession,
    header: str | None,
    mutation: tuple[str, str, Any],
) -> None:
    if header is not None and header.strip() in (f"Bearer {TOKEN}", f"bearer {TOKEN}"):
        return
    before = await snapshot(daemon)
    method, path, body = mutation
    headers = {} if header is None else {"Authorization": header}
    result = await answer(
        http, method, daemon.url + path, json=body, headers=headers, anonymous=header is None
    )
    assert_error(result, 401, "unauthorized", "cluster token")
    assert await snapshot(daemon) == before


@pytest.mark.parametrize(
    ("method", "path", "raw", "status", "code", "mention"),
    [
        ("POST", "/admin/workloads", b"{", 400, "invalid_json", "not JSON"),
        ("POST", "/admin/workloads", b"[", 400, "invalid_json", "not JSON"),
        ("POST", "/admin/workloads", b"\xff\xfe", 400, "invalid_json", "not JSON"),
        ("POST", "/admin/workloads", b"[]", 400, "invalid_body", "object"),
        ("POST", "/admin/workloads", b"{}", 400, "invalid_body", "`name`"),
        ("POST", "/admin/workloads", b'{"name": 3}', 400, "invalid_body", "$.name"),
        ("POST", "/admin/workloads", b'{"name": "x", "bogus": 1}', 400, "invalid_body", "bogus"),
        (
            "POST",
            "/admin/workloads",
            b'{"name": "x", "status": "moved"}',
            400,
            "invalid_body",
            "$.status",
        ),
        ("POST", "/admin/workloads", b'{"name": "BAD"}', 400, "invalid_workload_name", "BAD"),
        ("POST", "/admin/workloads", b'{"name": "orders"}', 409, "workload_exists", "orders"),
        (
            "PUT",
            f"/admin/workloads/{WORKLOAD}/status",
            b'{"status": "moved"}',
            400,
            "invalid_body",
            "moved_to",
        ),
        (
            "PUT",
            f"/admin/workloads/{WORKLOAD}/status",
            b'{"status": "moved", "moved_to": "javascript:x"}',
            400,
            "invalid_body",
            "moved_to",
        ),
        (
            "PUT",
            f"/admin/workloads/{WORKLOAD}/status",
            b'{"status": "weird"}',
            400,
            "invalid_body",
            "$.status",
        ),
        (
            "POST",
            f"/admin/workloads/{WORKLOAD}/hold",
            b'{"lease_s": -1}',
            400,
            "invalid_body",
            "lease_s",
        ),
        (
            "POST",
            f"/admin/workloads/{WORKLOAD}/hold",
            b'{"lease_s": "x"}',
            400,
            "invalid_body",
            "$.lease_s",
        ),
        (
            "POST",
            f"/admin/workloads/{WORKLOAD}/hold",
            b'{"lease_s": 1e999}',
            400,
            "invalid_body",
            "$.lease_s",
        ),
        (
            "POST",
            f"/admin/workloads/{WORKLOAD}/release",
            b'{"moved_to": 5}',
            400,
            "invalid_body",
            "$.moved_to",
        ),
        ("PUT", "/admin/links/edge-x", b'{"rate_bps": -5}', 400, "invalid_body", "rate_bps"),
        ("PUT", "/admin/links/edge-x", b'{"rate_bps": 0}', 400, "invalid_body", "rate_bps"),
        ("PUT", "/admin/links/edge-x", b'{"rate_bps": "fast"}', 400, "invalid_body", "$.rate_bps"),
        ("PUT", "/admin/links/%ff", b'{"rate_bps": 1}', 400, "invalid_path", "not UTF-8"),
        ("DELETE", "/admin/workloads/nope", b"", 404, "workload_not_found", "nope"),
        ("GET", "/admin/workloads/nope", b"", 404, "workload_not_found", "nope"),
        ("DELETE", "/admin/transfers/nope", b"", 404, "transfer_not_found", "nope"),
        ("POST", "/admin/transfers", b"[", 400, "invalid_json", "not JSON"),
        ("POST", "/admin/transfers", b"{}", 400, "invalid_body", "transfer_id"),
        ("PATCH", "/admin/workloads", b"", 405, "http_405", "Method Not Allowed"),
    ],
)
async def test_malformed_admin_requests_name_the_problem(
    daemon: EdgeDaemon,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    raw: bytes,
    status: int,
    code: str,
    mention: str,
) -> None:
    before = await snapshot(daemon)
    result = await answer(http, method, daemon.url + path, data=raw, headers=AUTH)
    assert_error(result, status, code, mention)
    assert await snapshot(daemon) == before


_SPEC = {
    "transfer_id": "t-1",
    "migration_id": "m-1",
    "workload": WORKLOAD,
    "target_name": "edge-x",
    "target_url": "http://127.0.0.1:9",
    "target_token": "x",
}


@pytest.mark.parametrize(
    ("change", "mention"),
    [
        ({"transfer_id": ""}, "transfer_id"),
        ({"workload": "BAD"}, "workload"),
        ({"target_url": "ftp://x"}, "target_url"),
        ({"from_lsn": -1}, "from_lsn"),
        ({"from_lsn": 5, "to_lsn": 2}, "to_lsn"),
        ({"batch_size": 0}, "batch_size"),
        ({"compression_level": 99}, "compression_level"),
        ({"rate_limit_bps": -1.0}, "rate_limit_bps"),
        ({"window": 0}, "window"),
        ({"max_retries": -1}, "max_retries"),
        ({"retry_backoff_s": -1.0}, "retry_backoff_s"),
        ({"window": "8"}, "$.window"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_bad_transfer_specs_are_400_before_streaming(
    daemon: EdgeDaemon, http: aiohttp.ClientSession, change: dict[str, Any], mention: str
) -> None:
    before = await snapshot(daemon)
    result = await answer(
        http, "POST", daemon.url + "/admin/transfers", json={**_SPEC, **change}, headers=AUTH
    )
    status, _, body = result
    assert status == 400, result
    assert body["error"] in ("invalid_body", "invalid_request"), result
    assert mention in body["message"], result
    assert await snapshot(daemon) == before


async def test_transfer_of_unknown_workload_is_404(
    daemon: EdgeDaemon, http: aiohttp.ClientSession
) -> None:
    result = await answer(
        http,
        "POST",
        daemon.url + "/admin/transfers",
        json={**_SPEC, "workload": "nope"},
        headers=AUTH,
    )
    assert_error(result, 404, "workload_not_found", "nope")


async def test_huge_hold_lease_is_refused(daemon: EdgeDaemon, http: aiohttp.ClientSession) -> None:
    before = await snapshot(daemon)
    result = await answer(
        http,
        "POST",
        f"{daemon.url}/admin/workloads/{WORKLOAD}/hold",
        data=b'{"lease_s": 1e308}',
        headers=AUTH,
    )
    try:
        assert_error(result, 400, "invalid_body", "lease_s")
        assert await snapshot(daemon) == before
    finally:
        await answer(http, "POST", f"{daemon.url}/admin/workloads/{WORKLOAD}/release", headers=AUTH)
