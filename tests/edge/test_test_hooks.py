"""The cutover-step pause hook: off by default, waits for its file when on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.edge._test_hooks import PAUSE_AT_ENV, PAUSE_FILE_ENV, PauseHook, PauseHookError

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


def test_off_unless_both_variables_are_set(tmp_path: Path) -> None:
    assert PauseHook.from_env({}).step is None
    assert PauseHook.from_env({PAUSE_AT_ENV: "target_activated"}).step is None
    hook = PauseHook.from_env({PAUSE_AT_ENV: "source_flipped", PAUSE_FILE_ENV: str(tmp_path)})
    assert (hook.step, hook.path) == ("source_flipped", tmp_path)


def test_an_unknown_step_is_a_startup_error(tmp_path: Path) -> None:
    with pytest.raises(PauseHookError, match="EDGE_ACTORS_TEST_PAUSE_AT: expected one of"):
        PauseHook.from_env({PAUSE_AT_ENV: "flip", PAUSE_FILE_ENV: str(tmp_path / "go")})


async def test_pauses_at_its_step_until_the_file_appears(tmp_path: Path) -> None:
    go = tmp_path / "go"
    hook = PauseHook("target_activated", go)
    await hook.reached("source_flipped")  # another step: no pause, no file
    assert not (tmp_path / "go.reached").exists()
    passed = anyio.Event()

    async def step() -> None:
        await hook.reached("target_activated")
        passed.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(step)
        with anyio.fail_after(10):
            while not (tmp_path / "go.reached").exists():
                await anyio.sleep(0.01)
        assert not passed.is_set()
        go.touch()
        with anyio.fail_after(10):
            await passed.wait()
