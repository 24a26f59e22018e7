"""Embedded edges keep their URL across processes that share a persistent data directory,
so ``moved`` redirects recorded by other edges stay valid; a taken port falls back."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from edge_actors.runtime import Engine, EnvironmentConfig, configure_environment

if TYPE_CHECKING:
    from pathlib import Path


def _edge_url(data_dir: Path, edge: str) -> str:
    engine = Engine()
    try:
        env = configure_environment(EnvironmentConfig(data_dir=str(data_dir)), engine=engine)
        endpoint = engine.call(env.ensure_edge, edge)
        return endpoint.url
    finally:
        engine.shutdown()


def test_embedded_edge_restarts_on_its_previous_port(tmp_path: Path) -> None:
    first = _edge_url(tmp_path, "edge-a")
    second = _edge_url(tmp_path, "edge-a")
    assert second == first


def test_taken_port_falls_back_to_a_free_one(tmp_path: Path) -> None:
    first = _edge_url(tmp_path, "edge-b")
    port = int(first.rsplit(":", 1)[1])
    with socket.create_server(("127.0.0.1", port)):
        second = _edge_url(tmp_path, "edge-b")
    assert second != first
    assert (tmp_path / "edges" / "edge-b" / "embedded-port").read_text() == second.rsplit(":", 1)[1]
