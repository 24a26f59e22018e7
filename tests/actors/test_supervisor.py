"""Supervisors: restart types, strategies, intensity, escalation, backoff, nesting."""

from __future__ import annotations

from functools import partial

import anyio
import pytest
from structlog.testing import capture_logs

from edge_actors.actors import (
    ActorKilled,
    ActorSystem,
    Backoff,
    SupervisorFailed,
    Terminated,
)
from edge_actors.errors import ConfigError

from ._helpers import Boom, Echo, Hold, Ping, Recorder, Stop, Watcher, wait_until

pytestmark = pytest.mark.anyio


async def test_permanent_child_restarts_keeps_ref_and_mailbox() -> None:
    rec = Recorder()
    release = anyio.Event()
    with capture_logs() as logs:
        async with ActorSystem() as system:
            sup = await system.spawn_supervisor(name="sup")
            ref = await sup.spawn_child(lambda: Echo(rec), name="child")
            await ref.tell(Hold(release))
            await wait_until(lambda: len(rec.seen) == 1)
            await ref.tell(Boom())
            await ref.tell(Ping(1))  # queued behind the crash: must survive the restart
            release.set()
            assert await ref.ask(Ping(10)) == 11
            assert system.lookup("child") == ref
            assert rec.seen[-2:] == [Ping(1), Ping(10)]
            assert len(rec.restarts) == 1
            assert isinstance(rec.restarts[0], RuntimeError)
            assert rec.starts == 1  # on_restart, not on_start, on the new instance
            assert rec.stops == 1  # on_stop of the crashed instance
    names = [e["event"] for e in logs]
    assert "actor.spawned" in names
    assert "actor.crashed" in names
    assert "supervisor.restarting" in names
    assert "actor.restarted" in names


async def test_crashing_message_is_not_retried() -> None:
    rec = Recorder()
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor()
        ref = await sup.spawn_child(lambda: Echo(rec))
        with pytest.raises(RuntimeError):
            await ref.ask(Boom())
        assert await ref.ask(Ping(0)) == 1
        assert [m for m in rec.seen if isinstance(m, Boom)] == [Boom()]


async def test_transient_child_not_restarted_after_normal_stop() -> None:
    rec = Recorder()
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor()
        ref = await sup.spawn_child(lambda: Echo(rec), restart="transient")
        assert await ref.ask(Stop()) == "stopping"
        await wait_until(lambda: not ref.is_alive)
        assert rec.restarts == []
        assert sup.children == []


async def test_transient_child_restarted_after_crash() -> None:
    rec = Recorder()
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor()
        ref = await sup.spawn_child(lambda: Echo(rec), restart="transient")
        await ref.tell(Boom())
        assert await ref.ask(Ping(1)) == 2
        assert len(rec.restarts) == 1


async def test_permanent_child_restarted_after_normal_stop() -> None:
    rec = Recorder()
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor()
        ref = await sup.spawn_child(lambda: Echo(rec))  # default: permanent
        await ref.tell(Stop())
        assert await ref.ask(Ping(1)) == 2
        assert len(rec.restarts) == 1


async def test_temporary_child_never_restarted() -> None:
    rec = Recorder()
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor()
        ref = await sup.spawn_child(lambda: Echo(rec), restart="temporary")
        await ref.tell(Boom())
        await wait_until(lambda: not ref.is_alive)
        assert rec.restarts == []
        assert sup.is_alive


async def test_explicit_stop_of_permanent_child_is_not_restarted() -> None:
    rec = Recorder()
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor()
        ref = await sup.spawn_child(lambda: Echo(rec))
        await system.stop(ref)
        await wait_until(lambda: sup.children == [])
        assert not ref.is_alive
        assert rec.restarts == []


async def test_one_for_all_restarts_siblings() -> None:
    recs = [Recorder() for _ in range(3)]
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor(strategy="one_for_all")
        refs = [await sup.spawn_child(partial(Echo, r)) for r in recs]
        await refs[1].tell(Boom())
        for ref in refs:
            await wait_until(lambda: all(len(r.restarts) == 1 for r in recs))
            assert await ref.ask(Ping(1)) == 2
        assert all(r.stops == 1 for r in recs)


async def test_one_for_one_leaves_siblings_alone() -> None:
    recs = [Recorder() for _ in range(2)]
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor()  # default: one_for_one
        refs = [await sup.spawn_child(partial(Echo, r)) for r in recs]
        await refs[0].tell(Boom())
        assert await refs[0].ask(Ping(1)) == 2
        assert await refs[1].ask(Ping(1)) == 2
        assert len(recs[0].restarts) == 1
        assert recs[1].restarts == []


async def test_default_intensity_three_restarts_then_escalation() -> None:
    rec = Recorder()
    with capture_logs() as logs:
        async with ActorSystem() as system:
            sup = await system.spawn_supervisor(name="top", within_s=60.0)
            notices: list[Terminated] = []
            watcher = await system.spawn(lambda: Watcher(notices))
            await system.watch(watcher, sup.ref)
            ref = await sup.spawn_child(lambda: Echo(rec), name="crashy")
            for i in range(3):  # max_restarts default 3: these are restarted
                with pytest.raises(RuntimeError):
                    await ref.ask(Boom())
                await wait_until(lambda i=i: len(rec.restarts) == i + 1)
            assert len(rec.restarts) == 3
            assert sup.is_alive
            with pytest.raises(RuntimeError):
                await ref.ask(Boom())  # the 4th within the window
            await wait_until(lambda: not sup.is_alive)
            assert not ref.is_alive
            await wait_until(lambda: len(notices) == 1)
            assert notices[0].ref_name == "top"
            assert notices[0].reason.startswith("crashed: SupervisorFailed")
    escalations = [e for e in logs if e["event"] == "supervisor.escalated"]
    assert escalations[0]["supervisor"] == "top"
    assert escalations[0]["restarts"] == 4


async def test_nested_supervisor_escalates_to_parent() -> None:
    rec = Recorder()
    async with ActorSystem() as system:
        parent = await system.spawn_supervisor(name="parent")
        child_sup = await system.spawn_supervisor(name="child-sup", max_restarts=0, parent=parent)
        worker = await child_sup.spawn_child(lambda: Echo(rec), name="worker")
        await worker.tell(Boom())  # 1 restart > max_restarts=0: child-sup fails
        # the parent restarts child-sup, which starts its children again from their specs
        await wait_until(lambda: rec.starts == 2 and system.lookup("worker") is not None)
        assert parent.is_alive
        assert child_sup.is_alive
        new_worker = system.lookup("worker")
        assert new_worker is not None
        assert new_worker != worker
        assert not worker.is_alive
        assert await new_worker.ask(Ping(1)) == 2


async def test_backoff_delays_grow_exponentially() -> None:
    rec = Recorder()
    backoff = Backoff(initial_s=0.001, factor=3.0, max_s=0.005)
    assert [backoff.delay(n) for n in range(4)] == pytest.approx([0.001, 0.003, 0.005, 0.005])
    with capture_logs() as logs:
        async with ActorSystem() as system:
            sup = await system.spawn_supervisor(backoff=backoff, max_restarts=10, within_s=60)
            ref = await sup.spawn_child(lambda: Echo(rec))
            for _ in range(3):
                await ref.tell(Boom())
                assert await ref.ask(Ping(1)) == 2
    delays = [e["delay_s"] for e in logs if e["event"] == "supervisor.restarting"]
    assert delays == pytest.approx([0.001, 0.003, 0.005])
    assert Backoff() == Backoff(initial_s=0.1, factor=2.0, max_s=5.0)


def test_backoff_and_supervisor_config_are_validated() -> None:
    with pytest.raises(ConfigError, match="factor"):
        Backoff(factor=0.5)
    with pytest.raises(ConfigError, match="max_s"):
        Backoff(initial_s=2.0, max_s=1.0)


async def test_bad_supervisor_config_is_refused() -> None:
    async with ActorSystem() as system:
        with pytest.raises(ConfigError, match="strategy"):
            await system.spawn_supervisor(strategy="rest_for_all")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="max_restarts"):
            await system.spawn_supervisor(max_restarts=-1)


async def test_kill_goes_through_supervision() -> None:
    rec = Recorder()
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor()
        ref = await sup.spawn_child(lambda: Echo(rec))
        await system.kill(ref)
        assert await ref.ask(Ping(1)) == 2
        assert len(rec.restarts) == 1
        assert isinstance(rec.restarts[0], ActorKilled)


async def test_unsupervised_permanent_actor_gives_up_after_three_restarts() -> None:
    rec = Recorder()
    async with ActorSystem() as system:
        ref = await system.spawn(lambda: Echo(rec), restart="permanent")
        for _ in range(3):
            with pytest.raises(RuntimeError):
                await ref.ask(Boom())
        assert await ref.ask(Ping(1)) == 2
        with pytest.raises(RuntimeError):
            await ref.ask(Boom())
        await wait_until(lambda: not ref.is_alive)
        assert len(rec.restarts) == 3


async def test_shutdown_does_not_restart_children() -> None:
    rec = Recorder()
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor()
        for _ in range(3):
            await sup.spawn_child(lambda: Echo(rec))
        await system.spawn(lambda: Echo(rec), supervisor=sup)
    assert rec.restarts == []
    assert rec.stops == 4


async def test_supervisor_failed_is_an_actor_error() -> None:
    assert issubclass(SupervisorFailed, Exception)
