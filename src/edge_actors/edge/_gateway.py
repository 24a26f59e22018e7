"""``HttpEdgeGateway``: the migration engine's ``EdgeGateway`` over HTTP (edge layer).

Resolves edge names through a :class:`Topology` and calls each daemon's admin API with an
:class:`AdminClient` per edge (one shared ``aiohttp`` session). Errors are translated into
the migration layer's own (:class:`UnknownEdgeName`, :class:`WorkloadNotOnEdge`,
:class:`EdgeUnreachable`), so the engine never sees aiohttp or HTTP status codes.
"""

from __future__ import annotations

import contextlib
import ssl
from typing import TYPE_CHECKING

import aiohttp
import anyio

from edge_actors._closing import AsyncClosing
from edge_actors.clock import SYSTEM_CLOCK
from edge_actors.migration import (
    CutoverResult,
    EdgeCapacity,
    EdgeUnreachable,
    EdgeWorkload,
    ReleaseResult,
    TransferRequest,
    UnknownEdgeName,
    WorkloadNotOnEdge,
)
from edge_actors.transfer import TransferProgress, TransferSpec

from ._client import AdminClient
from ._errors import EdgeHTTPError, UnknownEdge, WorkloadMissing
from ._grants import GRANT_TTL_S, mint_grant
from ._models import CutoverRequest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from edge_actors.clock import Clock
    from edge_actors.migration import CutoverSpec
    from edge_actors.migration._gateway import WorkloadRouting

    from ._topology import EdgeEndpoint, Topology

__all__ = ["HttpEdgeGateway"]

_DRAIN_S = 5.0
"""How long a cancelled transfer call waits for the source's final progress line."""


@contextlib.asynccontextmanager
async def _translated(edge: str, what: str, workload: str | None = None) -> AsyncIterator[None]:
    try:
        yield
    except WorkloadMissing as exc:
        raise WorkloadNotOnEdge(f"workload {workload!r} does not exist on edge {edge!r}") from exc
    except EdgeHTTPError as exc:
        raise EdgeUnreachable(
            f"edge {edge!r}: {what} failed: {exc}", edge=edge, held_ms=exc.held_ms
        ) from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise EdgeUnreachable(f"edge {edge!r}: {what} failed: {exc!r}", edge=edge) from exc


class HttpEdgeGateway(AsyncClosing):
    """Implements :class:`edge_actors.migration.EdgeGateway` with the daemons' admin API.

    Args:
        topology: edge name -> URL and cluster token.
        session: an ``aiohttp`` session to share (not closed here); created when ``None``.
        timeout: seconds per admin request (transfers: seconds between progress lines).
        clock: stamps the transfer grants the sources get (their expiry).
        grant_ttl_s: lifetime of a transfer grant; one is minted per transfer and cutover.
        ssl_context: TLS context of an owned session (a private CA, a client certificate).
        client_cert: ``(certificate, key)`` files presented, under mutual TLS, to edges
            whose endpoint names its own ``tls_ca`` (those calls use a context of that CA
            instead of ``ssl_context``).

    Attributes:
        leader_epoch: the leadership epoch sent with every command (``None``: the embedded
            supervisor, no header); set by :meth:`lead`, see :mod:`._leader_fence`.

    Use as ``async with HttpEdgeGateway(topology) as gateway:`` (closes its own session).
    """

    def __init__(
        self,
        topology: Topology,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        clock: Clock = SYSTEM_CLOCK,
        grant_ttl_s: float = GRANT_TTL_S,
        ssl_context: ssl.SSLContext | None = None,
        client_cert: tuple[str, str] | None = None,
    ) -> None:
        self.topology = topology
        self._ssl = ssl_context
        self._client_cert = client_cert
        self._ca_contexts: dict[str, ssl.SSLContext] = {}
        self.clock = clock
        self.grant_ttl_s = grant_ttl_s
        self._session = session
        self._own_session = session is None
        self._timeout = timeout
        self._clients: dict[str, AdminClient] = {}
        self.leader_epoch: int | None = None
        self._deposed = False

    async def aclose(self) -> None:
        """Close the session if this gateway created it."""
        self._clients.clear()
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = None if self._ssl is None else aiohttp.TCPConnector(ssl=self._ssl)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    def lead(self, epoch: int) -> None:
        """Send ``epoch`` (a leadership epoch) with every later command to an edge."""
        self.leader_epoch = epoch
        self._deposed = False

    def stand_down(self) -> None:
        """Refuse every later command locally (leadership lost): edges fence the epoch
        too, but until a new leader has spoken to them only this stops a stale one."""
        self._deposed = True

    def _admin(self, edge: str) -> AdminClient:
        if self._deposed:
            raise EdgeUnreachable(
                f"edge {edge!r}: this supervisor lost its leadership (epoch "
                f"{self.leader_epoch}); it sends no more commands",
                edge=edge,
            )
        client = self._clients.get(edge)
        if client is None:
            endpoint = self._endpoint(edge)
            client = AdminClient(
                endpoint.url,
                endpoint.token,
                session=self._http(),
                timeout=self._timeout,
                ssl_context=self._context(edge, endpoint),
                leader_epoch=lambda: self.leader_epoch,
            )
            self._clients[edge] = client
        return client

    def _context(self, edge: str, endpoint: EdgeEndpoint) -> ssl.SSLContext | None:
        """The TLS context of calls to ``endpoint``: its own CA's, else the session's.

        Raises:
            EdgeUnreachable: The endpoint's CA bundle or the client certificate cannot be
                loaded (a file removed or corrupted after the topology was loaded).
        """
        if endpoint.tls_ca is None:
            return None
        context = self._ca_contexts.get(endpoint.tls_ca)
        if context is None:
            try:
                context = ssl.create_default_context(cafile=endpoint.tls_ca)
                if self._client_cert is not None:
                    context.load_cert_chain(*self._client_cert)
            except (OSError, ssl.SSLError) as exc:
                raise EdgeUnreachable(
                    f"edge {edge!r}: cannot load tls_ca {endpoint.tls_ca!r} or the client "
                    f"certificate: {exc}",
                    edge=edge,
                ) from None
            self._ca_contexts[endpoint.tls_ca] = context
        return context

    def _grant(self, endpoint: EdgeEndpoint, target: str, migration_id: str, workload: str) -> str:
        """A transfer grant for the source: never the target's own token (:mod:`._grants`)."""
        return mint_grant(
            endpoint.token,
            migration_id=migration_id,
            workload=workload,
            target=target,
            now=self.clock.time(),
            ttl_s=self.grant_ttl_s,
        )

    def _endpoint(self, edge: str) -> EdgeEndpoint:
        try:
            return self.topology.resolve(edge)
        except UnknownEdge as exc:
            raise UnknownEdgeName(str(exc)) from None

    # -- EdgeGateway ----------------------------------------------------------------------

    def resolve(self, edge: str) -> str:
        """Return the base URL of ``edge``."""
        return self._endpoint(edge).url

    def edges(self) -> list[str]:
        """Every edge of the topology."""
        return list(self.topology)

    async def health(self, edge: str) -> bool:
        """Whether ``GET /admin/health`` answers ok."""
        try:
            info = await self._admin(edge).health()
        except (EdgeHTTPError, EdgeUnreachable, aiohttp.ClientError, OSError, TimeoutError):
            return False
        return info.status == "ok"

    async def capacity(self, edge: str) -> EdgeCapacity:
        """``GET /admin/capacity``."""
        async with _translated(edge, "capacity"):
            cap = await self._admin(edge).capacity()
        return EdgeCapacity(
            max_bytes=cap.max_bytes,
            used_bytes=cap.used_bytes,
            free_bytes=cap.free_bytes,
            max_workloads=cap.max_workloads,
            used_workloads=cap.used_workloads,
        )

    async def workload_info(self, edge: str, workload: str) -> EdgeWorkload:
        """``GET /admin/workloads/{w}``."""
        async with _translated(edge, "workload info", workload):
            info = await self._admin(edge).workload(workload)
        return EdgeWorkload(
            name=info.name,
            status=info.status,
            records=info.records,
            bytes=info.bytes,
            lsn=info.lsn,
            digest=info.digest,
            moved_to=info.moved_to,
            held=info.held,
            cutover=info.cutover,
            epoch=info.epoch,
            retiring_to=info.retiring_to,
            activated_lsn=info.activated_lsn,
            activated_digest=info.activated_digest,
            migration_id=info.migration_id,
        )

    async def create_workload(
        self,
        edge: str,
        workload: str,
        status: WorkloadRouting,
        *,
        migration_id: str | None = None,
        epoch: int | None = None,
    ) -> None:
        """``POST /admin/workloads``, the copy bound to ``migration_id`` (fenced by
        ``epoch``)."""
        if status == "moved":
            raise EdgeUnreachable("a workload is created active or incoming, not moved")
        async with _translated(edge, "create workload", workload):
            await self._admin(edge).create_workload(
                workload, status, migration_id=migration_id, epoch=epoch
            )

    async def drop_workload(
        self, edge: str, workload: str, *, keep_route: bool = False, epoch: int | None = None
    ) -> None:
        """``DELETE /admin/workloads/{w}``; a ``moved`` route survives when ``keep_route``
        (fenced by ``epoch``)."""
        async with _translated(edge, "drop workload", workload):
            await self._admin(edge).drop_workload(workload, forget=not keep_route, epoch=epoch)

    async def restore_workload(
        self, edge: str, workload: str, *, epoch: int, migration_id: str
    ) -> None:
        """``POST /admin/workloads/{w}/restore``."""
        async with _translated(edge, "restore workload", workload):
            await self._admin(edge).restore_workload(
                workload, epoch=epoch, migration_id=migration_id
            )

    async def set_status(
        self,
        edge: str,
        workload: str,
        status: WorkloadRouting,
        moved_to: str | None = None,
        *,
        epoch: int | None = None,
        migration_id: str | None = None,
    ) -> None:
        """``PUT /admin/workloads/{w}/status``."""
        async with _translated(edge, "set status", workload):
            await self._admin(edge).set_status(
                workload, status, moved_to, epoch=epoch, migration_id=migration_id
            )

    async def activate(
        self, edge: str, workload: str, *, min_lsn: int, digest: str | None, epoch: int
    ) -> None:
        """``POST /admin/workloads/{w}/activate``."""
        async with _translated(edge, "activate", workload):
            await self._admin(edge).activate(workload, min_lsn=min_lsn, digest=digest, epoch=epoch)

    async def hold(
        self, edge: str, workload: str, *, lease_s: float | None = None, epoch: int | None = None
    ) -> int:
        """``POST /admin/workloads/{w}/hold``."""
        async with _translated(edge, "hold", workload):
            answer = await self._admin(edge).hold(workload, lease_s=lease_s, epoch=epoch)
        return answer.lsn

    async def release(
        self,
        edge: str,
        workload: str,
        moved_to: str | None,
        *,
        epoch: int | None = None,
        migration_id: str | None = None,
    ) -> ReleaseResult:
        """``POST /admin/workloads/{w}/release``."""
        async with _translated(edge, "release", workload):
            answer = await self._admin(edge).release(
                workload, moved_to, epoch=epoch, migration_id=migration_id
            )
        return ReleaseResult(held_writes=answer.held_writes, held_ms=answer.held_ms)

    async def cutover(self, source: str, target: str, spec: CutoverSpec) -> CutoverResult:
        """``POST /admin/workloads/{w}/cutover`` on ``source`` (see the protocol)."""
        endpoint = self._endpoint(target)
        body = CutoverRequest(
            target_name=target,
            target_url=endpoint.url,
            target_token=self._grant(endpoint, target, spec.migration_id, spec.workload),
            migration_id=spec.migration_id,
            transfer_id=spec.transfer_id,
            from_lsn=spec.from_lsn,
            batch_size=spec.batch_size,
            compression=spec.compression,
            lease_s=spec.lease_s,
            epoch=spec.epoch,
            deadline_ms=spec.deadline_ms,
        )
        async with _translated(source, "cutover", spec.workload):
            answer = await self._admin(source).cutover(spec.workload, body)
        return CutoverResult(
            hold_lsn=answer.hold_lsn,
            target_lsn=answer.target_lsn,
            digest=answer.digest,
            held_writes=answer.held_writes,
            held_ms=answer.held_ms,
            records=answer.records,
            steps_ms=answer.steps_ms,
            raw_bytes=answer.raw_bytes,
            wire_bytes=answer.wire_bytes,
        )

    async def transfer(
        self,
        source: str,
        target: str,
        request: TransferRequest,
        on_progress: Callable[[TransferProgress], None],
    ) -> TransferProgress:
        """``POST /admin/transfers`` on ``source``, streaming progress to ``on_progress``.

        Cancellation stops the sender at a chunk boundary (``DELETE`` of the transfer)
        and still reads the stream's final line (within :data:`_DRAIN_S`), so the caller's
        last progress counts every byte the source put on the wire, the paused tail too.
        """
        endpoint = self._endpoint(target)
        spec = TransferSpec(
            transfer_id=request.transfer_id,
            migration_id=request.migration_id,
            workload=request.workload,
            target_name=target,
            target_url=endpoint.url,
            target_token=self._grant(endpoint, target, request.migration_id, request.workload),
            from_lsn=request.from_lsn,
            to_lsn=request.to_lsn,
            batch_size=request.batch_size,
            compression=request.compression,
        )
        admin = self._admin(source)
        last: TransferProgress | None = None
        failure: Exception | None = None
        done = anyio.Event()
        reading = anyio.CancelScope(shield=True)

        async def read_all() -> None:
            nonlocal last, failure
            stream = admin.transfer(spec)
            with reading:
                try:
                    async for progress in stream:
                        last = progress
                        on_progress(progress)
                except Exception as exc:  # shielded: only the drain's own cancel arrives
                    failure = exc
                finally:
                    await stream.aclose()
            done.set()

        async with _translated(source, "transfer", request.workload):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read_all)
                try:
                    await done.wait()
                except anyio.get_cancelled_exc_class():
                    with anyio.CancelScope(shield=True):
                        with anyio.move_on_after(_DRAIN_S):
                            with contextlib.suppress(EdgeHTTPError, aiohttp.ClientError, OSError):
                                await admin.cancel_transfer(spec.transfer_id)
                            await done.wait()
                        reading.cancel()
                    raise
            if failure is not None:
                raise failure
        if last is None:
            raise EdgeUnreachable(
                f"edge {source!r}: transfer ended without a progress line", edge=source
            )
        return last

    async def set_link_rate(self, source: str, target: str, rate_bps: float | None) -> None:
        """``PUT /admin/links/{target}`` on ``source``."""
        async with _translated(source, "set link rate"):
            await self._admin(source).set_link_rate(target, rate_bps)

    async def probe(self, edge: str, path: str) -> int:
        """``GET path`` on ``edge`` with its token; the HTTP status (599: no answer)."""
        endpoint = self._endpoint(edge)
        url = endpoint.url + path
        try:
            async with self._http().get(
                url,
                headers={"Authorization": f"Bearer {endpoint.token}"},
                allow_redirects=False,
                ssl=self._context(edge, endpoint) or True,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, OSError, TimeoutError, EdgeUnreachable):
            return 599
