"""A plan whose recent cutovers were mostly undone brakes: one cutover at a time, no copy.

Undone attempts feed on each other (a wide plan in a slow spell: 149 undone attempts, 4
run restarts). Two real daemons on loopback run a pipelined plan whose copies are slow
(2 Mbit/s), so later waves copy while the first are cut over. The target refuses the
first activation of two workloads (``activation_too_late``, as a busy target does): two
undone attempts in a row engage the brake, and every activation until it is released
must run alone, with no copy running on the source. Before the fix, cutovers went on in
groups with copies beside them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from edge_actors.edge._refusals import ActivationTooLate
from edge_actors.migration import MigrationMetrics
from edge_actors.migration._cutovers import BRAKE_RELEASE, CutoverBrake
from edge_actors.migration._handoff import WaveHandoff
from edge_actors.migration._pipeline import WAVE_SLOTS
from edge_actors.migration._rounds import Rounds

from .conftest import lost_writes, writing
from .ledger import content_digest, make_workload, plan_for, target_info

if TYPE_CHECKING:
    from edge_actors.edge import WorkloadInfo
    from edge_actors.migration import MigrationService

    from .conftest import Edges

pytestmark = pytest.mark.anyio

PARALLEL = 2
NAMES = [f"brake-{i:02d}" for i in range(4 * WAVE_SLOTS * PARALLEL)]
REFUSED = {NAMES[0], NAMES[1]}

Event = tuple[str, str, int, int]
"""``("activate", workload, other activations in flight, copies on the source)``,
``("refused", workload, 0, 0)`` or ``("brake", "on"|"off", 0, 0)``."""


class _Recorder:
    """Wraps the target's activation and the run's brake log: one ordered event list."""

    def __init__(self, edges: Edges, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[Event] = []
        self._in_flight = 0
        real_activate = edges.east.router.activate
        load = edges.west.metrics.load
        real_braked = Rounds._braked

        async def activate(
            name: str, min_lsn: int, digest: str | None, epoch: int | None = None, **delta: Any
        ) -> WorkloadInfo:
            if name in REFUSED and not any(e[:2] == ("refused", name) for e in self.events):
                self.events.append(("refused", name, 0, 0))
                raise ActivationTooLate(f"workload {name!r}: refused by the test")
            self.events.append(("activate", name, self._in_flight, load.active_transfers))
            self._in_flight += 1
            try:
                return await real_activate(name, min_lsn, digest, epoch, **delta)
            finally:
                self._in_flight -= 1

        def braked(rounds: Rounds, brake: CutoverBrake) -> None:
            self.events.append(("brake", "on" if brake.engaged else "off", 0, 0))
            real_braked(rounds, brake)

        monkeypatch.setattr(edges.east.router, "activate", activate)
        monkeypatch.setattr(Rounds, "_braked", braked)

    def kinds(self, kind: str) -> list[Event]:
        return [e for e in self.events if e[0] == kind]


async def test_mostly_undone_cutovers_run_one_at_a_time_with_no_copy_beside(
    edges: Edges, service: MigrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = {n: await make_workload(edges, n, 120, 512, seed=i) for i, n in enumerate(NAMES)}
    recorder = _Recorder(edges, monkeypatch)
    async with writing(edges.west.url, NAMES[0], rate=100, keys=40) as writer:
        await writer.wait_for_writes(5)
        plan = await service.plan(
            plan_for(
                *NAMES,
                bandwidth_limit_mbps=2,
                constraints={"max_downtime": "1000ms", "parallel_transfers": PARALLEL},
            )
        )
        await service.execute(plan.migration_id)
        status = await service.wait(plan.migration_id, {"completed", "failed"}, timeout=120)
        assert status.state == "completed", status
    events = recorder.events
    assert recorder.kinds("brake") == [("brake", "on", 0, 0), ("brake", "off", 0, 0)], events
    on = events.index(("brake", "on", 0, 0))
    off = events.index(("brake", "off", 0, 0))
    # Both refusals came before the brake engaged; it engaged on them.
    assert all(events.index(e) < on for e in recorder.kinds("refused")), events
    braked = [e for e in events[on:off] if e[0] == "activate"]
    assert len(braked) == BRAKE_RELEASE, events
    assert all(others == 0 and copies == 0 for _, _, others, copies in braked), events
    # Without the brake, activations shared the source with copies (the setup is real).
    free = [e for e in events[:on] + events[off:] if e[0] == "activate"]
    assert any(copies > 0 for _, _, _, copies in free), events
    metrics = await service.metrics(plan.migration_id)
    assert isinstance(metrics, MigrationMetrics)
    assert metrics.cutover_brakes == 1
    assert metrics.restarts == 0
    assert metrics.cutover_attempts == len(NAMES) + len(REFUSED)
    assert writer.failures == []
    assert await lost_writes(edges.east.url, NAMES[0], writer.acked) == []
    for name in NAMES[1:]:
        assert (await target_info(edges, name)).digest == content_digest(seeded[name]), name


@pytest.mark.parametrize(
    ("outcomes", "engaged_after"),
    [
        # undone (True) or cut over (False), and whether the brake is on after each
        ([True, False, False, False, True], [False] * 5),  # 1 of the last 4 each time
        ([True, True], [False, True]),
        ([True, False, False, True], [False, False, False, True]),  # 2 of the last 4
        ([True, True, False, True, False, False], [False, True, True, True, True, False]),
        # released: the undone attempts before it are forgotten
        ([True, True, False, False, True], [False, True, True, False, False]),
    ],
)
def test_the_brake_engages_on_two_undone_of_four_and_releases_after_two_cut_over(
    outcomes: list[bool], engaged_after: list[bool]
) -> None:
    brake = CutoverBrake()
    seen = []
    for undone in outcomes:
        brake.record(undone)
        seen.append(brake.engaged)
        assert brake.group_size(8) == (1 if brake.engaged else 8)
    assert seen == engaged_after
    assert brake.engagements == sum(
        1 for before, after in zip([False, *seen], seen, strict=False) if after and not before
    )


async def test_the_cutover_task_waits_for_the_copies_in_flight() -> None:
    handoff = WaveHandoff(limit=8, copies=2)
    release = anyio.Event()
    started: list[str] = []
    order: list[str] = []

    async def copy(name: str) -> None:
        async with handoff.copy_slot():
            started.append(name)
            await release.wait()

    async def cutover() -> None:
        await handoff.until_no_copy()
        order.append("cutover")

    async with anyio.create_task_group() as tg:
        tg.start_soon(copy, "a")
        tg.start_soon(copy, "b")
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(copy, "c")  # waits for a slot
        await anyio.wait_all_tasks_blocked()
        handoff.quiet(True)  # the brake: no new copy, wait for those running
        tg.start_soon(cutover)
        await anyio.wait_all_tasks_blocked()
        assert order == []
        release.set()
        await anyio.wait_all_tasks_blocked()
        # "c" got a slot after the quiet began: it does not start.
        assert (started, order) == (["a", "b"], ["cutover"])
        handoff.quiet(False)
    assert started == ["a", "b", "c"]
