"""Outgoing transfers over the admin API: ``/admin/transfers`` and its NDJSON stream.

Edge layer. ``POST /admin/transfers`` runs :func:`edge_actors.transfer.run_transfer` from
this edge, under the link limiter of ``spec.target_name``, inside the request handler:
the transfer lives exactly as long as the request. Progress is streamed as one JSON
:class:`~edge_actors.transfer.TransferProgress` per line, at least every 100 ms while
running; the last line is final (``done``, ``failed`` or ``cancelled``). A client that
disconnects, ``DELETE /admin/transfers/{id}``, or daemon shutdown cancels the transfer at
a chunk boundary; its final ``acked_lsn`` says where a new transfer resumes.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import anyio
import msgspec
from aiohttp import web

from edge_actors.transfer import TransferProgress, TransferSpec, run_transfer

from ._http import HttpError, decode_json, json_response
from ._models import TransferList

if TYPE_CHECKING:
    from ._daemon import EdgeDaemon

__all__ = ["add_transfer_routes"]

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


def add_transfer_routes(app: web.Application, daemon: EdgeDaemon) -> None:
    """Register ``/admin/transfers`` routes; transfers are cancelled on shutdown."""
    running: dict[str, _Running] = {}
    metrics = daemon.metrics

    async def start_transfer(request: web.Request) -> web.StreamResponse:
        spec = await decode_json(request, TransferSpec)
        store = daemon.registry.get(spec.workload)
        if spec.transfer_id in running:
            raise HttpError(
                409, "transfer_exists", f"transfer {spec.transfer_id!r} is already running"
            )
        entry = running[spec.transfer_id] = _Running(spec, spec.from_lsn)
        log = daemon.log.bind(
            workload=spec.workload, migration_id=spec.migration_id, transfer=spec.transfer_id
        )
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        final: TransferProgress | None = None
        disconnected = False

        def on_progress(progress: TransferProgress) -> None:
            entry.latest = progress
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
                        log.warning("transfer_client_gone", error=str(exc))
                        entry.scope.cancel()

        metrics.load.active_transfers += 1
        metrics.transfers_active.labels(daemon.name).inc()
        log.info("transfer_started", target=spec.target_name, from_lsn=spec.from_lsn)
        try:
            await response.prepare(request)
            send, receive = anyio.create_memory_object_stream[TransferProgress](32)
            with entry.scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(write_lines)
                    try:
                        final = await run_transfer(
                            spec,
                            store,
                            limiter=daemon.links.get(spec.target_name),
                            on_progress=on_progress,
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
                        send.close()
        finally:
            running.pop(spec.transfer_id, None)
            metrics.load.active_transfers -= 1
            metrics.transfers_active.labels(daemon.name).dec()
            if final is None:
                final = entry.latest
                if final.state == "running":
                    final = msgspec.structs.replace(
                        final, state="cancelled", error="cancelled by the edge"
                    )
            metrics.transfers.labels(daemon.name, final.state).inc()
            log.info(
                "transfer_finished",
                state=final.state,
                acked_lsn=final.acked_lsn,
                records=final.records,
                error=final.error,
            )
        if not disconnected:
            try:
                await response.write(_ENCODER.encode(final) + b"\n")
                await response.write_eof()
            except (ConnectionResetError, OSError):
                log.warning("transfer_client_gone_at_end")
        return response

    async def list_transfers(request: web.Request) -> web.Response:
        return json_response(TransferList([entry.latest for entry in running.values()]))

    async def cancel_transfer(request: web.Request) -> web.Response:
        transfer_id = request.match_info["transfer_id"]
        entry = running.get(transfer_id)
        if entry is None:
            raise HttpError(404, "transfer_not_found", f"no running transfer {transfer_id!r}")
        entry.scope.cancel()
        daemon.log.info("transfer_cancel_requested", transfer=transfer_id)
        return web.Response(status=204)

    async def cancel_all(app: web.Application) -> None:
        for entry in running.values():
            entry.scope.cancel()

    app.router.add_route("POST", "/admin/transfers", start_transfer)
    app.router.add_route("GET", "/admin/transfers", list_transfers)
    app.router.add_route("DELETE", "/admin/transfers/{transfer_id}", cancel_transfer)
    app.on_shutdown.append(cancel_all)
