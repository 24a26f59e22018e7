"""Outgoing transfers over the admin API: ``/admin/transfers`` and its NDJSON stream.

Edge layer. ``POST /admin/transfers`` runs :func:`edge_actors.transfer.run_transfer` from
this edge, under the link limiter of ``spec.target_name``, inside the request handler:
the transfer lives exactly as long as the request. Progress is streamed as one JSON
:class:`~edge_actors.transfer.TransferProgress` per line, at least every 100 ms while
running; the last line is final (``done``, ``failed`` or ``cancelled``). A client that
disconnects, ``DELETE /admin/transfers/{id}``, or daemon shutdown cancels the transfer at
a chunk boundary; its final ``acked_lsn`` says where a new transfer resumes. Transfers
use the daemon's pooled HTTP session and its long-lived actor system (:class:`Transfers`,
over the narrow :class:`TransferHost`).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import msgspec
from aiohttp import web

from edge_actors.transfer import NEVER_YIELD, TransferProgress, TransferSpec, run_transfer

from ._http import HttpError, decode_json, json_response
from ._models import TransferList
from ._refusals import TransferExists

if TYPE_CHECKING:
    from collections.abc import Callable

    import aiohttp

    from edge_actors.actors import ActorSystem
    from edge_actors.store import StoreRegistry, WorkloadStore
    from edge_actors.transfer import CopyYield, LinkLimiters

    from ._metrics import DaemonMetrics

__all__ = ["TransferHost", "TransferStores", "Transfers", "add_transfer_routes"]


class TransferHost(Protocol):
    """What :class:`Transfers` needs of the daemon: its pooled resources and metrics."""

    @property
    def name(self) -> str: ...

    @property
    def metrics(self) -> DaemonMetrics: ...

    @property
    def log(self) -> Any: ...

    @property
    def links(self) -> LinkLimiters: ...

    @property
    def actor_system(self) -> ActorSystem: ...

    @property
    def urgent(self) -> CopyYield: ...

    def forward_session(self) -> aiohttp.ClientSession: ...


class TransferStores(Protocol):
    """Where the transfer routes find the store a transfer reads."""

    @property
    def registry(self) -> StoreRegistry: ...


_ENCODER = msgspec.json.Encoder()


class _Running:
    """A transfer in progress: its spec, latest progress and cancel scope."""

    def __init__(self, spec: TransferSpec, from_lsn: int) -> None:
        self.spec = spec
        self.scope = anyio.CancelScope()
        self.latest = TransferProgress(
            transfer_id=spec.transfer_id,
            workload=spec.workload,
            state="running",
            from_lsn=from_lsn,
            to_lsn=spec.to_lsn if spec.to_lsn is not None else from_lsn,
            acked_lsn=from_lsn,
        )


class Transfers:
    """The daemon's outgoing transfers: registry, metrics and the pooled resources.

    Every transfer (an admin ``POST /admin/transfers`` or a cutover's final delta) runs
    through :meth:`run`, with the daemon's pooled HTTP session and its long-lived actor
    system, so a transfer pays no session, actor-system or connector start-up. A
    background copy gives way to urgent work on this edge (``host.urgent``: a cutover's
    hold) at each chunk boundary; an urgent one (the final delta) never waits.
    """

    def __init__(self, host: TransferHost) -> None:
        self.host = host
        self.running: dict[str, _Running] = {}

    def start(self, spec: TransferSpec) -> _Running:
        """Register ``spec`` as running.

        Raises:
            TransferExists: A transfer with that id is already running.
        """
        if spec.transfer_id in self.running:
            raise TransferExists(f"transfer {spec.transfer_id!r} is already running")
        entry = self.running[spec.transfer_id] = _Running(spec, spec.from_lsn)
        return entry

    async def run(
        self,
        entry: _Running,
        store: WorkloadStore,
        on_progress: Callable[[TransferProgress], None] | None = None,
        *,
        urgent: bool = False,
    ) -> TransferProgress:
        """Run the registered transfer ``entry`` to its end; return its final progress.

        ``urgent`` (a cutover's final delta) never gives way to urgent work, and tells the
        target so that its other streams' applies give way to it; any other transfer
        pauses at its chunk boundaries while a cutover's hold is active here.

        Never raises for a transfer failure: the final progress is ``failed`` (with
        ``error``) or ``cancelled`` (its scope was cancelled: ``DELETE``, shutdown, a
        client gone). Cancellation of the caller propagates after the bookkeeping.
        """
        host, spec = self.host, entry.spec
        metrics = host.metrics
        log = host.log.bind(
            workload=spec.workload, migration_id=spec.migration_id, transfer=spec.transfer_id
        )

        def progress(update: TransferProgress) -> None:
            entry.latest = update
            if on_progress is not None:
                on_progress(update)

        final: TransferProgress | None = None
        metrics.load.active_transfers += 1
        metrics.transfers_active.labels(host.name).inc()
        log.info("transfer_started", target=spec.target_name, from_lsn=spec.from_lsn)
        try:
            with entry.scope:
                try:
                    final = await run_transfer(
                        spec,
                        store,
                        limiter=host.links.get(spec.target_name),
                        on_progress=progress,
                        session=host.forward_session(),
                        system=host.actor_system,
                        yielder=NEVER_YIELD if urgent else host.urgent,
                        urgent=urgent,
                    )
                except Exception as exc:
                    latest = entry.latest
                    final = (
                        latest
                        if latest.state == "failed"
                        else msgspec.structs.replace(
                            latest, state="failed", error=f"{type(exc).__name__}: {exc}"
                        )
                    )
        finally:
            self.running.pop(spec.transfer_id, None)
            metrics.load.active_transfers -= 1
            metrics.transfers_active.labels(host.name).dec()
            if final is None:
                final = entry.latest
                if final.state == "running":
                    final = msgspec.structs.replace(
                        final, state="cancelled", error="cancelled by the edge"
                    )
            metrics.transfers.labels(host.name, final.state).inc()
            if final.snapshot:
                metrics.transfer_snapshots.labels(host.name, final.state).inc()
            metrics.transfer_sent_bytes.labels(host.name, spec.target_name).inc(
                final.sent_wire_bytes
            )
            log.info(
                "transfer_finished",
                state=final.state,
                acked_lsn=final.acked_lsn,
                records=final.records,
                snapshot=final.snapshot,
                error=final.error,
            )
        return final

    def cancel_all(self) -> None:
        """Cancel every running transfer at its next chunk boundary (shutdown)."""
        for entry in self.running.values():
            entry.scope.cancel()


def add_transfer_routes(app: web.Application, transfers: Transfers, stores: TransferStores) -> None:
    """Register ``/admin/transfers`` routes; transfers are cancelled on shutdown."""
    log_of = transfers.host.log

    async def start_transfer(request: web.Request) -> web.StreamResponse:
        spec = await decode_json(request, TransferSpec)
        store = stores.registry.get(spec.workload)
        entry = transfers.start(spec)
        log = log_of.bind(
            workload=spec.workload, migration_id=spec.migration_id, transfer=spec.transfer_id
        )
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        disconnected = False
        send, receive = anyio.create_memory_object_stream[TransferProgress](32)

        def on_progress(progress: TransferProgress) -> None:
            # A lagging writer skips a line; the next one carries newer numbers.
            with contextlib.suppress(anyio.WouldBlock, anyio.ClosedResourceError):
                send.send_nowait(progress)

        async def write_lines() -> None:
            nonlocal disconnected
            async with receive:
                async for progress in receive:
                    if progress.state != "running" or disconnected:
                        continue
                    try:
                        await response.write(_ENCODER.encode(progress) + b"\n")
                    except (ConnectionResetError, OSError) as exc:
                        disconnected = True
                        # The client closed the stream: how a pause or a cancel stops a
                        # transfer. Not a fault here; a broken link is the client's to report.
                        log.info("transfer_client_gone", error=str(exc))
                        entry.scope.cancel()

        try:
            await response.prepare(request)
        except BaseException:
            transfers.running.pop(spec.transfer_id, None)
            send.close()
            receive.close()
            raise
        async with anyio.create_task_group() as tg:
            tg.start_soon(write_lines)
            try:
                final = await transfers.run(entry, store, on_progress)
            finally:
                send.close()
        if not disconnected:
            try:
                await response.write(_ENCODER.encode(final) + b"\n")
                await response.write_eof()
            except (ConnectionResetError, OSError):
                log.info("transfer_client_gone_at_end")
        return response

    async def list_transfers(request: web.Request) -> web.Response:
        return json_response(TransferList([e.latest for e in transfers.running.values()]))

    async def cancel_transfer(request: web.Request) -> web.Response:
        transfer_id = request.match_info["transfer_id"]
        entry = transfers.running.get(transfer_id)
        if entry is None:
            raise HttpError(404, "transfer_not_found", f"no running transfer {transfer_id!r}")
        entry.scope.cancel()
        log_of.info("transfer_cancel_requested", transfer=transfer_id)
        return web.Response(status=204)

    async def cancel_all(app: web.Application) -> None:
        transfers.cancel_all()

    app.router.add_route("POST", "/admin/transfers", start_transfer)
    app.router.add_route("GET", "/admin/transfers", list_transfers)
    app.router.add_route("DELETE", "/admin/transfers/{transfer_id}", cancel_transfer)
    app.on_shutdown.append(cancel_all)
