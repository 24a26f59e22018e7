"""Every domain refusal has a stable code and an HTTP status, mapped in one place."""

from __future__ import annotations

import pytest

from edge_actors.edge._http import REFUSAL_STATUS, refusal_status
from edge_actors.edge._refusals import NoSuchWorkload, Refusal, WorkloadRedirected


def _subclasses(cls: type[Refusal]) -> list[type[Refusal]]:
    found: list[type[Refusal]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


REFUSALS = [cls for cls in _subclasses(Refusal) if cls is not WorkloadRedirected]


@pytest.mark.parametrize("cls", REFUSALS, ids=lambda cls: cls.__name__)
def test_every_refusal_has_a_status(cls: type[Refusal]) -> None:
    assert cls in REFUSAL_STATUS, f"{cls.__name__} would answer 500"


def test_codes_and_statuses_are_the_published_ones() -> None:
    pinned = {(cls.code, status) for cls, status in REFUSAL_STATUS.items()}
    assert pinned == {
        ("invalid_body", 400),
        ("workload_not_found", 404),
        ("workload_incoming", 409),
        ("workload_moved", 409),
        ("workload_not_active", 409),
        ("workload_held", 409),
        ("cutover_in_progress", 409),
        ("hold_limit_reached", 409),
        ("lsn_behind", 409),
        ("activation_too_late", 409),
        ("digest_mismatch", 409),
        ("transfer_exists", 409),
        ("stale_epoch", 409),
        ("stale_leader", 409),
        ("cutover_failed", 502),
        ("forward_failed", 503),
        ("shutting_down", 503),
        ("held_queue_full", 503),
        ("server_busy", 503),
        ("state_not_durable", 503),
        ("capacity_exceeded", 507),
        ("client_gone", 499),
    }


def test_a_subclass_answers_its_base_status() -> None:
    class Gone(NoSuchWorkload):
        code = "gone"

    assert refusal_status(Gone("x")) == 404
    assert refusal_status(Refusal("unmapped")) == 500
