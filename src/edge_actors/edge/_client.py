"""HTTP clients of the edge daemon: :class:`EdgeClient` (data API) and :class:`AdminClient`.

Edge layer. Both decode answers into the same Structs the daemon encodes, turn error
answers into :class:`~edge_actors.edge.EdgeHTTPError` subclasses carrying the server's
code and message, and close the ``aiohttp`` session they created. :class:`EdgeClient`
follows a moved workload's 307 itself (same method, same body) and remembers the new
edge for that workload, so an app keeps working across a migration's cutover; a write the
old edge forwarded during a cutover teaches it the new edge through ``X-Edge-Moved-To``.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp
import msgspec
from yarl import URL

from edge_actors._closing import AsyncClosing
from edge_actors._log import get_logger
from edge_actors.transfer import TransferProgress

from ._credentials import read_token_file
from ._errors import EdgeHTTPError, TooManyRedirects, error_for_status
from ._leader_fence import LEADER_EPOCH_HEADER
from ._models import (
    MOVED_TO_HEADER,
    ActivateRequest,
    CapacityInfo,
    CreateWorkload,
    CutoverAnswer,
    CutoverRequest,
    ErrorBody,
    HealthInfo,
    HoldAnswer,
    HoldRequest,
    LinkRate,
    LsnAnswer,
    PrepareActivation,
    PreparedActivation,
    ReleaseAnswer,
    ReleaseRequest,
    SetStatus,
    TransferList,
    WorkloadInfo,
    WorkloadList,
    WorkloadStatus,
)
from ._restore import RestoreStore

if TYPE_CHECKING:
    import ssl
    from collections.abc import AsyncGenerator, Callable, Sequence

    from edge_actors.transfer import TransferSpec
    from edge_actors.wire import Change

__all__ = ["TOKEN_ENV", "TOKEN_FILE_ENV", "AdminClient", "EdgeClient", "client_token"]

TOKEN_ENV = "EDGE_ACTORS_TOKEN"
"""Environment variable an :class:`EdgeClient` reads its token from (when not given)."""

TOKEN_FILE_ENV = "EDGE_ACTORS_TOKEN_FILE"
"""Environment variable naming a file an :class:`EdgeClient` reads its token from."""

T = TypeVar("T")

_LARGE_BODY = 512 * 1024
_ENCODER = msgspec.json.Encoder()
_MSGPACK = msgspec.msgpack.Encoder()
_PROGRESS = msgspec.json.Decoder(TransferProgress)


class _Http:
    """A session (owned or borrowed) plus the error decoding both clients share."""

    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession | None,
        timeout: float,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url: expected an http(s) base URL, got {url!r}")
        self.url = url.rstrip("/")
        self._session = session
        self._owned = session is None
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if not self._owned:
                raise RuntimeError("the session given to the client is closed")
            self._session = aiohttp.ClientSession()
        return self._session

    async def aclose(self) -> None:
        if self._owned and self._session is not None:
            await self._session.close()
        self._session = None


async def _error(resp: aiohttp.ClientResponse) -> EdgeHTTPError:
    body = await resp.read()
    held_ms = None
    try:
        parsed = msgspec.json.decode(body, type=ErrorBody)
        code, message, held_ms = parsed.error, parsed.message, parsed.held_ms
    except msgspec.MsgspecError:
        code, message = f"http_{resp.status}", body.decode("utf-8", "replace")[:500]
    error = error_for_status(resp.status, code, message, str(resp.url))
    error.held_ms = held_ms
    return error


def _decode(body: bytes, kind: type[T]) -> T:
    return msgspec.json.decode(body, type=kind)


class _Client(AsyncClosing):
    """What both clients share: the session wrapper, context management, closing."""

    _http: _Http

    @property
    def url(self) -> str:
        """The edge's base URL."""
        return self._http.url

    async def aclose(self) -> None:
        """Close the session if this client created it."""
        await self._http.aclose()


def client_token(
    token: str | None, token_file: str | os.PathLike[str] | None, env: dict[str, str] | None = None
) -> str | None:
    """The token a client sends: ``token``, else ``token_file``'s, else the environment's
    :data:`TOKEN_ENV`, else the file named by :data:`TOKEN_FILE_ENV`; ``None`` if none.

    Raises:
        ConfigError: A token file is unreadable, or a token is weak.
    """
    environ = os.environ if env is None else env
    if token is not None:
        return token
    if token_file is not None:
        return read_token_file(token_file, "token_file")
    if environ.get(TOKEN_ENV):
        return environ[TOKEN_ENV].strip()
    if environ.get(TOKEN_FILE_ENV):
        return read_token_file(environ[TOKEN_FILE_ENV], TOKEN_FILE_ENV)
    return None


class EdgeClient(_Client):
    """Client of an edge's data API (bearer token), following workload moves.

    Args:
        url: Base URL of the edge (``http://host:port``).
        token: A credential of the edge permitting the workloads used (a ``data``
            credential or the admin one). When ``None``: ``token_file``, else the
            environment (:data:`TOKEN_ENV`, then the file named by :data:`TOKEN_FILE_ENV`).
        token_file: A file holding the token.
        session: An ``aiohttp`` session to use (not closed by this client); one is
            created (and closed by :meth:`aclose`) when ``None``.
        timeout: Total seconds per request, including time a write waits on a hold.
        max_redirects: Most 307 hops per request before :class:`TooManyRedirects`.
        ssl_context: TLS context for ``https`` edges with a private CA.

    Use as ``async with EdgeClient(url) as client:``. Cancellation of any method
    abandons the request; a write may or may not have been applied (it was not
    acknowledged).
    """

    def __init__(
        self,
        url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        max_redirects: int = 5,
        ssl_context: ssl.SSLContext | None = None,
        token: str | None = None,
        token_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self._http = _Http(url, session, timeout, ssl_context)
        self._max_redirects = max_redirects
        found = client_token(token, token_file)
        self._headers = {"Authorization": f"Bearer {found}"} if found else {}
        self._bases: dict[str, str] = {}
        self._log = get_logger("edge.client", edge=self._http.url)

    def edge_for(self, workload: str) -> str:
        """Return the base URL this client now uses for ``workload``."""
        return self._bases.get(workload, self._http.url)

    async def _request(
        self, method: str, workload: str, suffix: str, body: bytes | None = None
    ) -> tuple[int, bytes, dict[str, str], str]:
        path = f"/v1/workloads/{quote(workload, safe='')}{suffix}"
        base = self.edge_for(workload)
        for _ in range(self._max_redirects + 1):
            async with self._http.session().request(
                method,
                URL(base + path, encoded=True),
                data=_payload(body),
                headers=self._headers,
                allow_redirects=False,
                timeout=self._http.timeout,
                ssl=self._http.ssl,
            ) as resp:
                if resp.status in (307, 308):
                    location = resp.headers.get("Location", "")
                    new_base = _base_of(location, path)
                    self._log.info(
                        "workload_moved", workload=workload, old_edge=base, new_edge=new_base
                    )
                    self._bases[workload] = base = new_base
                    continue
                if resp.status == 404 and method == "GET" and suffix.startswith("/records/"):
                    error = await _error(resp)
                    if error.code == "record_not_found":
                        return 404, b"", {}, base
                    raise error
                if resp.status >= 400:
                    raise await _error(resp)
                moved_to = resp.headers.get(MOVED_TO_HEADER)
                if moved_to and moved_to.rstrip("/") != base:
                    # The old edge forwarded this (held) write to the workload's new edge.
                    new_base = moved_to.rstrip("/")
                    self._log.info(
                        "workload_moved", workload=workload, old_edge=base, new_edge=new_base
                    )
                    self._bases[workload] = base = new_base
                return resp.status, await resp.read(), dict(resp.headers), base
        raise TooManyRedirects(
            f"{method} {path}: more than {self._max_redirects} redirects (routing loop?)"
        )

    @staticmethod
    def _record(key: str) -> str:
        return "/records/" + quote(key, safe="")

    async def put(self, workload: str, key: str, value: bytes) -> int:
        """Write ``value`` under ``key``; return the acknowledged LSN.

        Raises:
            EdgeHTTPError: A subclass per error (``WorkloadMissing``, ``WorkloadIncoming``,
                ``PayloadTooLarge``, ``EdgeCapacityExceeded``, ``BadRequest``, ...).
        """
        _, body, _, _ = await self._request("PUT", workload, self._record(key), bytes(value))
        return _decode(body, LsnAnswer).lsn

    async def get(self, workload: str, key: str) -> bytes | None:
        """Return the value of ``key``, or ``None`` when the record does not exist."""
        found = await self.get_record(workload, key)
        return None if found is None else found[0]

    async def get_record(self, workload: str, key: str) -> tuple[bytes, int] | None:
        """Return ``(value, lsn)`` of ``key``, or ``None`` when the record does not exist."""
        status, body, headers, _ = await self._request("GET", workload, self._record(key))
        if status == 404:
            return None
        return body, int(headers.get("X-Edge-LSN", "0"))

    async def delete(self, workload: str, key: str) -> int:
        """Delete ``key`` (a tombstone); return the acknowledged LSN."""
        _, body, _, _ = await self._request("DELETE", workload, self._record(key))
        return _decode(body, LsnAnswer).lsn

    async def batch(self, workload: str, ops: Sequence[tuple[str, bytes | None]]) -> int:
        """Write several records atomically (``None`` deletes); return the last LSN."""
        payload = _MSGPACK.encode([[key, value] for key, value in ops])
        _, body, _, _ = await self._request("POST", workload, "/batch", payload)
        return _decode(body, LsnAnswer).lsn

    async def info(self, workload: str) -> WorkloadInfo:
        """Return the workload's status, records, bytes, LSN and digest."""
        _, body, _, _ = await self._request("GET", workload, "")
        return _decode(body, WorkloadInfo)


def _payload(body: bytes | None) -> bytes | io.BytesIO | None:
    """Large bodies go as a file object (aiohttp warns about big raw bytes), fresh per send."""
    if body is not None and len(body) > _LARGE_BODY:
        return io.BytesIO(body)
    return body


def _base_of(location: str, path: str) -> str:
    """The edge base URL of a redirect ``location`` that ends with ``path`` (+ query)."""
    without_query = location.split("?", 1)[0]
    if without_query.endswith(path):
        return without_query[: -len(path)].rstrip("/")
    parts = urlsplit(location)
    return f"{parts.scheme}://{parts.netloc}"


class AdminClient(_Client):
    """Client of an edge's admin API (bearer cluster token).

    Args:
        url: Base URL of the edge.
        token: The cluster token.
        session: An ``aiohttp`` session to use (not closed here); created when ``None``.
        timeout: Total seconds per request (transfers: seconds between progress lines).
        ssl_context: TLS context for ``https`` edges with a private CA.
        leader_epoch: Returns the leadership epoch of the supervisor using this client,
            sent with every request in the ``X-Edge-Actors-Leader-Epoch`` header when not
            ``None`` (edges refuse a lower one than they have seen: :mod:`._leader_fence`).

    Use as ``async with AdminClient(url, token) as admin:``. Cancelling a method abandons
    its request; for :meth:`transfer`, closing the stream cancels the transfer on the edge.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        leader_epoch: Callable[[], int | None] | None = None,
    ) -> None:
        self._http = _Http(url, session, timeout, ssl_context)
        self._token_header = {"Authorization": f"Bearer {token}"}
        self._timeout_s = timeout
        self._leader_epoch = leader_epoch

    @property
    def _headers(self) -> dict[str, str]:
        epoch = None if self._leader_epoch is None else self._leader_epoch()
        if epoch is None:
            return dict(self._token_header)
        return {**self._token_header, LEADER_EPOCH_HEADER: str(epoch)}

    async def _call(self, method: str, path: str, body: Any = None) -> bytes:
        data = None if body is None else _ENCODER.encode(body)
        headers = self._headers
        if data is not None:
            headers["Content-Type"] = "application/json"
        async with self._http.session().request(
            method,
            URL(self._http.url + path, encoded=True),
            data=data,
            headers=headers,
            allow_redirects=False,
            timeout=self._http.timeout,
            ssl=self._http.ssl,
        ) as resp:
            if resp.status >= 400:
                raise await _error(resp)
            return await resp.read()

    @staticmethod
    def _w(name: str) -> str:
        return "/admin/workloads/" + quote(name, safe="")

    async def health(self) -> HealthInfo:
        """``GET /admin/health``."""
        return _decode(await self._call("GET", "/admin/health"), HealthInfo)

    async def capacity(self) -> CapacityInfo:
        """``GET /admin/capacity``."""
        return _decode(await self._call("GET", "/admin/capacity"), CapacityInfo)

    async def workloads(self) -> list[WorkloadInfo]:
        """``GET /admin/workloads``: every workload with a store or a route here."""
        return _decode(await self._call("GET", "/admin/workloads"), WorkloadList).workloads

    async def workload(self, name: str) -> WorkloadInfo:
        """``GET /admin/workloads/{name}`` (never redirected, whatever the status)."""
        return _decode(await self._call("GET", self._w(name)), WorkloadInfo)

    async def create_workload(
        self,
        name: str,
        status: WorkloadStatus = "active",
        *,
        epoch: int | None = None,
        migration_id: str | None = None,
    ) -> WorkloadInfo:
        """``POST /admin/workloads``: create ``name`` as ``active`` or ``incoming``, bound
        to ``migration_id`` (only that migration's peers may stream into it)."""
        if status == "moved":
            raise ValueError("status: a workload is created 'active' or 'incoming'")
        body = CreateWorkload(name=name, status=status, epoch=epoch, migration_id=migration_id)
        return _decode(await self._call("POST", "/admin/workloads", body), WorkloadInfo)

    async def drop_workload(
        self, name: str, *, forget: bool = False, epoch: int | None = None
    ) -> None:
        """``DELETE /admin/workloads/{name}``; a ``moved`` route is kept unless ``forget``
        (fenced by ``epoch`` when given: the ``epoch`` query parameter)."""
        query = [("forget", "1")] if forget else []
        if epoch is not None:
            query.append(("epoch", str(epoch)))
        suffix = "?" + "&".join(f"{k}={v}" for k, v in query) if query else ""
        await self._call("DELETE", self._w(name) + suffix)

    async def restore_workload(
        self, name: str, *, epoch: int, migration_id: str | None = None
    ) -> WorkloadInfo:
        """``POST /admin/workloads/{name}/restore``: an empty store under ``name``'s
        ``moved`` route (kept, so data requests still redirect), bound to
        ``migration_id`` when given, fenced by ``epoch``; a store already there is kept."""
        body = RestoreStore(epoch=epoch, migration_id=migration_id)
        return _decode(await self._call("POST", self._w(name) + "/restore", body), WorkloadInfo)

    async def set_status(
        self,
        name: str,
        status: WorkloadStatus,
        moved_to: str | None = None,
        *,
        epoch: int | None = None,
        migration_id: str | None = None,
        keep_if_active: bool = False,
    ) -> WorkloadInfo:
        """``PUT /admin/workloads/{name}/status`` (fenced by ``epoch`` when given); rebinds
        the copy to ``migration_id`` when given; ``keep_if_active``: see
        :class:`~._models.SetStatus`."""
        body = SetStatus(
            status=status,
            moved_to=moved_to,
            epoch=epoch,
            migration_id=migration_id,
            keep_if_active=keep_if_active,
        )
        return _decode(await self._call("PUT", self._w(name) + "/status", body), WorkloadInfo)

    async def hold(
        self, name: str, *, lease_s: float | None = None, epoch: int | None = None
    ) -> HoldAnswer:
        """``POST /admin/workloads/{name}/hold``: answers once in-flight writes are done."""
        body = HoldRequest(lease_s=lease_s, epoch=epoch)
        return _decode(await self._call("POST", self._w(name) + "/hold", body), HoldAnswer)

    async def release(
        self,
        name: str,
        moved_to: str | None = None,
        *,
        epoch: int | None = None,
        migration_id: str | None = None,
    ) -> ReleaseAnswer:
        """``POST /admin/workloads/{name}/release``, flipping to ``moved`` first if given
        (bound to ``migration_id``, the migration that moved it, when given)."""
        body = ReleaseRequest(moved_to=moved_to, epoch=epoch, migration_id=migration_id)
        return _decode(await self._call("POST", self._w(name) + "/release", body), ReleaseAnswer)

    async def activate(
        self,
        name: str,
        *,
        min_lsn: int,
        digest: str | None = None,
        epoch: int | None = None,
        delta: Sequence[Change] = (),
        within_ms: float | None = None,
    ) -> WorkloadInfo:
        """``POST /admin/workloads/{name}/activate``: go ``active`` once at ``min_lsn``
        (and ``digest`` when the LSN equals it); 409 and nothing changed otherwise.
        ``delta``, ``within_ms``: see :class:`ActivateRequest`."""
        body = ActivateRequest(
            min_lsn=min_lsn,
            digest=digest,
            epoch=epoch,
            delta=tuple(delta),
            within_ms=within_ms,
        )
        return _decode(await self._call("POST", self._w(name) + "/activate", body), WorkloadInfo)

    async def prepare_activation(
        self, name: str, *, quiet_ms: float, settle_ms: float = 0.0
    ) -> PreparedActivation:
        """``POST /admin/workloads/{name}/prepare``: announce a coming activation (see
        :class:`PrepareActivation`)."""
        body = PrepareActivation(quiet_ms=quiet_ms, settle_ms=settle_ms)
        answer = await self._call("POST", self._w(name) + "/prepare", body)
        return _decode(answer, PreparedActivation)

    async def cutover(self, name: str, request: CutoverRequest) -> CutoverAnswer:
        """``POST /admin/workloads/{name}/cutover`` on the source: the whole cutover.

        Raises:
            EdgeHTTPError: 502 ``cutover_failed`` naming the step (undone: the source
                still serves the workload), 409 not active or a cutover running, 404.
        """
        path = self._w(name) + "/cutover"
        return _decode(await self._call("POST", path, request), CutoverAnswer)

    async def set_link_rate(self, target_name: str, rate_bps: float | None) -> None:
        """``PUT /admin/links/{target_name}``: change a link's rate (``None`` unlimited)."""
        path = "/admin/links/" + quote(target_name, safe="")
        await self._call("PUT", path, LinkRate(rate_bps=rate_bps))

    async def transfers(self) -> list[TransferProgress]:
        """``GET /admin/transfers``: the latest progress of each running transfer."""
        return _decode(await self._call("GET", "/admin/transfers"), TransferList).transfers

    async def cancel_transfer(self, transfer_id: str) -> None:
        """``DELETE /admin/transfers/{transfer_id}``: cancel it at the next chunk boundary."""
        await self._call("DELETE", "/admin/transfers/" + quote(transfer_id, safe=""))

    async def transfer(self, spec: TransferSpec) -> AsyncGenerator[TransferProgress, None]:
        """``POST /admin/transfers``: yield progress lines; the last one is final.

        Closing the iterator early (``aclose``, ``break`` out of ``async for`` inside
        ``contextlib.aclosing``) closes the connection, which cancels the transfer.
        """
        timeout = aiohttp.ClientTimeout(total=None, sock_read=self._timeout_s)
        headers = {**self._headers, "Content-Type": "application/json"}
        async with self._http.session().post(
            URL(self._http.url + "/admin/transfers", encoded=True),
            data=_ENCODER.encode(spec),
            headers=headers,
            timeout=timeout,
            ssl=self._http.ssl,
        ) as resp:
            if resp.status >= 400:
                raise await _error(resp)
            async for line in resp.content:
                if line.strip():
                    yield _PROGRESS.decode(line)

    async def run_transfer(self, spec: TransferSpec) -> TransferProgress:
        """Run a transfer to its end and return the final progress line.

        Raises:
            EdgeHTTPError: The edge refused the transfer.
            EdgeError: The stream ended without a final line.
        """
        last: TransferProgress | None = None
        stream = self.transfer(spec)
        try:
            async for progress in stream:
                last = progress
        finally:
            await stream.aclose()
        if last is None or last.state == "running":
            raise EdgeHTTPError(502, "transfer_incomplete", "no final progress line", self.url)
        return last

    async def metrics_text(self) -> str:
        """``GET /metrics``: the Prometheus text exposition."""
        return (await self._call("GET", "/metrics")).decode()
