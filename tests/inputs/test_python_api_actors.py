# ruff: noqa: E501  (the tables of refusals read best one message per line)
"""Python API entry points below the nodes: actors, link limiters, seeding.

Each bad argument is a ``ConfigError`` (or the documented typed error) naming the
parameter and the value (shortened), raised before anything is started or changed."""

from __future__ import annotations

import math
import re
import socket
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_actors._seed import MAX_RECORDS, SeedError, seed_workload, seed_workload_async
from edge_actors.actors import (
    Actor,
    ActorStartError,
    ActorSystem,
    Backoff,
    DuplicateActorName,
)
from edge_actors.edge import AdminClient, EdgeConfig, EdgeDaemon, EdgeEndpoint
from edge_actors.errors import ConfigError
from edge_actors.runtime import Engine, EnvironmentConfig, configure_environment
from edge_actors.transfer import LinkLimiters, TokenBucket

from . import test_nodes_connected

engine = test_nodes_connected.engine  # the same private-engine fixture

if TYPE_CHECKING:
    from pathlib import Path


class Echo(Actor[object]):
    async def receive(self, message: object) -> object:
        return message


def _spawn_cases() -> list[tuple[dict[str, Any], type[Exception], str]]:
    return [
        ({"factory": 5}, ConfigError, "factory must be callable"),
        ({"factory": lambda: 5}, ActorStartError, "returned int, not an Actor"),
        ({"factory": lambda: 1 / 0}, ActorStartError, "ZeroDivisionError"),
        ({"name": ""}, ConfigError, "name must be a non-empty printable string"),
        ({"name": ["x"]}, ConfigError, "got ['x']"),
        ({"name": 5}, ConfigError, "got 5"),
        ({"name": "a\nb"}, ConfigError, "got 'a\\nb'"),
        ({"name": "n" * 5000}, ConfigError, "at most 200 characters, got 'nnn"),
        ({"mailbox_size": 0}, ConfigError, "mailbox_size must be an integer >= 1, got 0"),
        ({"mailbox_size": -1}, ConfigError, "got -1"),
        ({"mailbox_size": True}, ConfigError, "got True"),
        ({"mailbox_size": 2.5}, ConfigError, "got 2.5"),
        ({"mailbox_size": "10"}, ConfigError, "got '10'"),
        ({"restart": ["permanent"]}, ConfigError, "restart must be one of"),
    ]


@pytest.mark.anyio
async def test_spawn_refuses_bad_factories_names_and_mailboxes() -> None:
    async with ActorSystem("inputs") as system:
        await system.spawn(Echo, name="taken")
        for kwargs, error, fragment in _spawn_cases():
            factory = kwargs.pop("factory", Echo)
            with pytest.raises(error) as caught:
                await system.spawn(factory, **kwargs)
            assert fragment in str(caught.value), (kwargs, caught.value)
            assert len(str(caught.value)) < 300
            assert system.names() == ["taken"]  # nothing registered, nothing left running
        with pytest.raises(DuplicateActorName, match="'taken'"):
            await system.spawn(Echo, name="taken")
        assert system.names() == ["taken"]


@pytest.mark.anyio
async def test_spawn_supervisor_refuses_bad_settings() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"strategy": ["one_for_one"]}, "strategy must be one of"),
        ({"strategy": "rest_for_all"}, "got 'rest_for_all'"),
        ({"shutdown": -1}, "shutdown must be None or a finite number of seconds >= 0, got -1"),
        ({"max_restarts": "3"}, "max_restarts must be an integer >= 0, got '3'"),
        ({"max_restarts": True}, "got True"),
        ({"max_restarts": -1}, "got -1"),
        ({"max_restarts": 1.5}, "got 1.5"),
        ({"within_s": math.nan}, "within_s must be a finite number > 0, got nan"),
        ({"within_s": math.inf}, "got inf"),
        ({"within_s": 0}, "got 0"),
        ({"within_s": "5"}, "got '5'"),
        ({"backoff": 5}, "backoff must be a Backoff or None, got 5"),
        ({"name": ""}, "name must be a non-empty printable string"),
    ]
    async with ActorSystem("inputs") as system:
        for kwargs, fragment in cases:
            with pytest.raises(ConfigError) as caught:
                await system.spawn_supervisor(**kwargs)
            assert fragment in str(caught.value), (kwargs, caught.value)
        assert system.names() == []


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"initial_s": math.nan}, "Backoff.initial_s must be a finite number, got nan"),
        ({"initial_s": "1"}, "Backoff.initial_s must be a finite number, got '1'"),
        ({"factor": math.inf}, "Backoff.factor must be a finite number, got inf"),
        ({"max_s": True}, "Backoff.max_s must be a finite number, got True"),
        ({"initial_s": -1}, "Backoff.initial_s must be >= 0"),
    ],
)
def test_backoff_refuses_bad_numbers(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match="^" + fragment.replace(".", r"\.")):
        Backoff(**kwargs)


@pytest.mark.anyio
async def test_ask_refuses_bad_timeouts_before_sending() -> None:
    received: list[object] = []

    class Recorder(Actor[object]):
        async def receive(self, message: object) -> object:
            received.append(message)
            return message

    async with ActorSystem("inputs") as system:
        ref = await system.spawn(Recorder)
        for timeout in (-1, -0.5, math.nan, math.inf, -math.inf, True, "1", [1]):
            with pytest.raises(ConfigError, match=r"^timeout: expected seconds >= 0 or None"):
                await ref.ask("bad", timeout=timeout)  # type: ignore[arg-type]
        assert received == []  # nothing was delivered
        assert await ref.ask("ok", timeout=None) == "ok"
        assert await ref.ask("ok", timeout=0.5) == "ok"
        assert ref.is_alive


# -- link limiters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    ["", "x" * 64, "x" * 5000, "a b", "../edge", "-edge", "edge/1", "é", None, 5, ["edge"]],
)
def test_link_names_must_be_edge_names(link: object) -> None:
    limiters = LinkLimiters()
    with pytest.raises(ConfigError, match=r"^link: expected an edge name \(.*\), got ") as caught:
        limiters.get(link)  # type: ignore[arg-type]
    assert len(str(caught.value)) < 200  # a 5000-character name is shortened
    with pytest.raises(ConfigError, match=r"^link: expected an edge name \(.*\), got "):
        limiters.set_rate(link, 1e6)  # type: ignore[arg-type]
    assert limiters.links() == {}


def test_bad_rate_creates_no_link() -> None:
    limiters = LinkLimiters()
    for rate in (0, -1, math.nan, math.inf, True, "fast"):
        with pytest.raises(ConfigError, match=r"^rate_bps: expected a positive finite"):
            limiters.set_rate("edge-x", rate)  # type: ignore[arg-type]
    assert limiters.links() == {}


def test_link_table_is_bounded() -> None:
    limiters = LinkLimiters(max_links=3)
    for name in ("a", "b", "c"):
        limiters.set_rate(name, 1e6)
    with pytest.raises(ConfigError, match=r"^link: cannot add 'd': the link table is full"):
        limiters.get("d")
    limiters.set_rate("a", 2e6)  # known links can still be changed
    assert limiters.links() == {"a": 2e6, "b": 1e6, "c": 1e6}
    with pytest.raises(ConfigError, match="max_links"):
        LinkLimiters(max_links=0)


@settings(max_examples=60, deadline=None)
@given(name=st.text(max_size=80))
def test_any_link_name_is_accepted_or_refused_cleanly(name: str) -> None:
    limiters = LinkLimiters()
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", name):
        limiters.set_rate(name, 1e6)
        assert limiters.links() == {name: 1e6}
    else:
        with pytest.raises(ConfigError, match=r"^link: "):
            limiters.set_rate(name, 1e6)
        assert limiters.links() == {}


@pytest.mark.anyio
async def test_token_bucket_refuses_bad_byte_counts() -> None:
    bucket = TokenBucket(8e6)
    for nbytes in (-1, 1.5, True, "10"):
        with pytest.raises(ConfigError, match=r"^nbytes: expected a non-negative byte count"):
            bucket.try_acquire(nbytes)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match=r"^nbytes: expected a non-negative byte count"):
            await bucket.acquire(nbytes)  # type: ignore[arg-type]
    assert bucket.granted_bytes == 0
    with anyio.fail_after(2):
        await bucket.acquire(10)
    assert bucket.granted_bytes == 10


# -- seed_workload ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "fragment"),
    [
        (
            ("edge a", "app"),
            {},
            "edge: expected an edge name (letters, digits, '.', '_', '-'; up to 63 characters), got 'edge a'",
        ),
        (("e" * 5000, "app"), {}, "), got 'eee"),
        (
            (["edge-s"], "app"),
            {},
            "edge: expected an edge name (letters, digits, '.', '_', '-'; up to 63 characters), got ['edge-s']",
        ),
        (
            ("edge-s", 5),
            {},
            "workload: expected a workload name (lower-case letters, digits, '.', '_', '-'; up to 63 characters, no '..'), got 5",
        ),
        (
            ("edge-s", "Bad Name"),
            {},
            "workload: expected a workload name (lower-case letters, digits, '.', '_', '-'; up to 63 characters, no '..'), got 'Bad Name'",
        ),
        (("edge-s", "w" * 5000), {}, "), got 'www"),
        (("edge-s", "app"), {"records": -1}, "records: expected an integer 0..10000000, got -1"),
        (("edge-s", "app"), {"records": MAX_RECORDS + 1}, "got 10000001"),
        (("edge-s", "app"), {"records": 10.0}, "records: expected an integer"),
        (("edge-s", "app"), {"records": True}, "got True"),
        (("edge-s", "app"), {"records": "100"}, "got '100'"),
        (("edge-s", "app"), {"value_bytes": 0}, "value_bytes: expected 1.."),
        (("edge-s", "app"), {"value_bytes": -5}, "got -5"),
        (("edge-s", "app"), {"value_bytes": 10**12}, "got 1000000000000"),
        (("edge-s", "app"), {"value_bytes": 1.5}, "got 1.5"),
    ],
)
def test_seed_refuses_bad_arguments_before_starting_anything(
    engine: Engine, args: tuple[object, ...], kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        seed_workload(*args, engine=engine, **kwargs)  # type: ignore[arg-type]
    assert fragment in str(caught.value)
    assert len(str(caught.value)) < 300
    assert engine.call(_edges, engine) == []  # no embedded edge was started


async def _edges(engine: Engine) -> list[str]:
    from edge_actors.runtime import get_environment

    env = await get_environment(engine)
    return env.edges()


def test_seed_that_cannot_fit_writes_nothing(tmp_path: Path) -> None:
    """A seed larger than the edge's free capacity is refused before the first batch;
    a workload it created for the purpose is dropped again."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    eng = Engine()
    configure_environment(
        EnvironmentConfig(
            data_dir=str(tmp_path / "data"),
            topology={"small": EdgeEndpoint(url, "t-0123456789abcdefghij-t")},
        ),
        engine=eng,
    )
    config = EdgeConfig(
        name="small",
        data_dir=str(tmp_path / "small"),
        cluster_token="t-0123456789abcdefghij-t",
        port=port,
        max_bytes=64_000,
        shutdown_timeout_s=2.0,
    )

    async def scenario() -> None:
        async with EdgeDaemon(config) as daemon:
            with pytest.raises(SeedError, match=r"^records, value_bytes: 1000 records of 256"):
                await seed_workload_async("small", "big", records=1000, engine=eng)
            async with AdminClient(daemon.url, daemon.token) as admin:
                assert [w.name for w in await admin.workloads()] == []
            small = await seed_workload_async("small", "tiny", records=10, engine=eng)
            assert small.records == 10

    try:
        anyio.run(scenario)
    finally:
        eng.shutdown()
