"""An embedded edge the environment started is always owned by it: a failure or a
cancellation after the daemon started must not leave it running unowned (a second
daemon on the same store, and a close that waits forever)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from edge_actors.runtime import EdgeEnvironment, EnvironmentConfig

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


async def test_edge_started_but_port_not_saved_is_still_owned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = anyio.Path.write_text
    failures: list[str] = []

    async def write_text(self: anyio.Path, data: str, *args: Any, **kw: Any) -> int:
        if self.name == "embedded-port" and not failures:
            failures.append(data)
            raise OSError(28, "No space left on device")
        return await original(self, data, *args, **kw)

    monkeypatch.setattr(anyio.Path, "write_text", write_text)
    env = EdgeEnvironment(EnvironmentConfig(data_dir=str(tmp_path / "data")))
    with anyio.fail_after(15):
        async with env:
            with pytest.raises(OSError, match="No space"):
                await env.ensure_edge("edge-a")
            first = env.daemon("edge-a")
            assert first is not None  # the running daemon is the environment's
            endpoint = await env.ensure_edge("edge-a")
            assert env.daemon("edge-a") is first  # not a second daemon on the same store
            assert endpoint.url == first.url
    assert failures
