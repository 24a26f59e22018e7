"""OTP restart strategies, per-child shutdown and the system's shutdown order.

Every actor here logs ``start``/``stop`` events into one shared journal, so the tests
assert on the exact order in which instances were retired and started.
"""

from __future__ import annotations

from functools import partial

import anyio
import anyio.lowlevel
import pytest

from edge_actors.actors import (
    Actor,
    ActorRef,
    ActorSystem,
    SupervisorRef,
    Terminated,
)
from edge_actors.errors import ConfigError

from ._helpers import Watcher, wait_until

pytestmark = pytest.mark.anyio

Journal = list[tuple[str, str]]


class Member(Actor[str]):
    """Journals its lifecycle; ``"crash"`` crashes it, ``"hang"`` makes on_stop hang.

    ``on_stop`` yields to the loop a few times, so stops that run concurrently would
    interleave in the journal.
    """

    def __init__(self, name: str, journal: Journal, hang: anyio.Event | None = None) -> None:
        self.name = name
        self.journal = journal
        self.hang = hang

    async def on_start(self) -> None:
        self.journal.append(("start", self.name))

    async def on_restart(self, error: BaseException) -> None:
        self.journal.append(("restart", self.name))

    async def on_stop(self) -> None:
        self.journal.append(("stopping", self.name))
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        if self.hang is not None:
            await self.hang.wait()
        self.journal.append(("stopped", self.name))

    async def receive(self, message: str) -> str:
        if message == "crash":
            raise RuntimeError(f"{self.name} crashed")
        return self.name


async def _family(sup: SupervisorRef, names: str, journal: Journal) -> list[ActorRef[str]]:
    """Spawn one ``Member`` per letter of ``names``, in order; then clear the journal."""
    refs = [await sup.spawn_child(partial(Member, name, journal), name=name) for name in names]
    journal.clear()
    return refs


def _stopped(name: str) -> list[tuple[str, str]]:
    return [("stopping", name), ("stopped", name)]


async def test_one_for_all_stops_all_in_reverse_then_starts_all_in_order() -> None:
    journal: Journal = []
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor(strategy="one_for_all")
        a, b, c = await _family(sup, "abc", journal)
        await b.tell("crash")
        await wait_until(lambda: len(journal) == 9)
        assert journal == [
            *_stopped("b"),  # the failed child is retired first
            *_stopped("c"),  # then the others, last started first
            *_stopped("a"),
            ("restart", "a"),  # then all of them again, in start order
            ("restart", "b"),
            ("restart", "c"),
        ]
        for ref, name in ((a, "a"), (b, "b"), (c, "c")):
            assert await ref.ask("who") == name


async def test_rest_for_one_restarts_the_failed_child_and_those_started_after_it() -> None:
    journal: Journal = []
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor(strategy="rest_for_one")
        refs = await _family(sup, "abcd", journal)
        await refs[1].tell("crash")
        await wait_until(lambda: len(journal) == 9)
        assert journal == [
            *_stopped("b"),
            *_stopped("d"),
            *_stopped("c"),
            ("restart", "b"),
            ("restart", "c"),
            ("restart", "d"),
        ]  # "a", started before "b", is left alone
        assert [await r.ask("who") for r in refs] == list("abcd")


async def test_rest_for_one_of_the_last_child_is_one_for_one() -> None:
    journal: Journal = []
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor(strategy="rest_for_one")
        refs = await _family(sup, "ab", journal)
        await refs[1].tell("crash")
        await wait_until(lambda: len(journal) == 3)
        assert journal == [*_stopped("b"), ("restart", "b")]


async def test_one_for_all_stops_a_temporary_sibling_for_good() -> None:
    journal: Journal = []
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor(strategy="one_for_all")
        a = await sup.spawn_child(lambda: Member("a", journal), name="a")
        tmp = await sup.spawn_child(lambda: Member("t", journal), name="t", restart="temporary")
        journal.clear()
        await a.tell("crash")
        await wait_until(lambda: len(journal) == 5)
        assert journal == [*_stopped("a"), *_stopped("t"), ("restart", "a")]
        assert not tmp.is_alive
        assert sup.children == [a]


async def test_group_restart_counts_once_against_intensity_and_escalates() -> None:
    journal: Journal = []
    notices: list[Terminated] = []
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor(
            name="group", strategy="one_for_all", max_restarts=1, within_s=60.0
        )
        watcher = await system.spawn(lambda: Watcher(notices))
        await system.watch(watcher, sup.ref)
        a, b = await _family(sup, "ab", journal)
        await a.tell("crash")
        await wait_until(lambda: journal.count(("restart", "b")) == 1)
        assert sup.is_alive  # one round of two restarts is one restart
        await b.tell("crash")
        await wait_until(lambda: len(notices) == 1)
        assert notices[0].reason.startswith("crashed: SupervisorFailed")
        assert not a.is_alive
        assert not b.is_alive
    # escalation stopped the children last started first
    assert journal[-4:] == [*_stopped("b"), *_stopped("a")]


async def test_a_child_that_outlives_its_shutdown_is_killed_during_a_group_restart() -> None:
    journal: Journal = []
    never = anyio.Event()
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor(strategy="one_for_all")
        a = await sup.spawn_child(lambda: Member("a", journal), name="a")
        slow = await sup.spawn_child(
            lambda: Member("slow", journal, hang=never), name="slow", shutdown=0.05
        )
        journal.clear()
        await a.tell("crash")
        await wait_until(lambda: ("restart", "slow") in journal)
        assert journal == [
            *_stopped("a"),
            ("stopping", "slow"),  # on_stop hung: killed after 0.05 s, never "stopped"
            ("restart", "a"),
            ("restart", "slow"),
        ]
        assert await slow.ask("who") == "slow"
        never.set()


async def test_a_supervisor_kills_a_child_that_outlives_its_shutdown_when_stopping() -> None:
    journal: Journal = []
    never = anyio.Event()
    notices: list[Terminated] = []
    async with ActorSystem() as system:
        watcher = await system.spawn(lambda: Watcher(notices))
        sup = await system.spawn_supervisor()
        slow = await sup.spawn_child(
            lambda: Member("slow", journal, hang=never), name="slow", shutdown=0.05
        )
        fine = await sup.spawn_child(lambda: Member("fine", journal), name="fine")
        await system.watch(watcher, slow)
        await system.watch(watcher, fine)
        await system.stop(sup.ref, timeout=60.0)
        assert sorted((n.ref_name, n.reason) for n in notices) == [
            ("fine", "normal"),
            ("slow", "killed"),
        ]
        never.set()


async def test_shutdown_must_be_none_or_seconds() -> None:
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor()
        for bad in (-1.0, float("nan"), float("inf"), "5", True):
            with pytest.raises(ConfigError, match="shutdown"):
                await sup.spawn_child(lambda: Member("x", []), shutdown=bad)  # type: ignore[arg-type]


async def test_system_shutdown_stops_children_before_parents_in_reverse_start_order() -> None:
    journal: Journal = []
    async with ActorSystem() as system:
        await system.spawn(lambda: Member("first", journal))
        sup = await system.spawn_supervisor()
        await sup.spawn_child(lambda: Member("child1", journal))
        await system.spawn(lambda: Member("between", journal))
        await sup.spawn_child(lambda: Member("child2", journal))
        await system.spawn(lambda: Member("last", journal))
        journal.clear()
    assert journal == [
        *_stopped("last"),
        *_stopped("between"),
        *_stopped("child2"),  # the supervisor (started before "between") stops its
        *_stopped("child1"),  # children, last started first, then itself
        *_stopped("first"),
    ]


async def test_system_shutdown_kills_an_actor_that_outlives_its_shutdown_and_goes_on() -> None:
    journal: Journal = []
    never = anyio.Event()
    notices: list[Terminated] = []
    async with ActorSystem() as system:
        await system.spawn(lambda: Member("first", journal))
        watcher = await system.spawn(lambda: Watcher(notices))
        stuck = await system.spawn(lambda: Member("stuck", journal, hang=never), shutdown=0.05)
        await system.watch(watcher, stuck)
        await system.spawn(lambda: Member("last", journal))
        journal.clear()
    assert journal == [*_stopped("last"), ("stopping", "stuck"), *_stopped("first")]
    never.set()


async def test_kill_under_one_for_all_restarts_the_group_in_order() -> None:
    journal: Journal = []
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor(strategy="one_for_all", max_restarts=10)
        a, b = await _family(sup, "ab", journal)
        await system.kill(a)
        await wait_until(lambda: journal.count(("restart", "b")) == 1)
        assert journal == [*_stopped("a"), *_stopped("b"), ("restart", "a"), ("restart", "b")]
        assert await b.ask("who") == "b"
