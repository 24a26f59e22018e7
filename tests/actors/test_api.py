"""The public surface of edge_actors.actors is what docs/actors.md promises."""

from __future__ import annotations

import inspect

import edge_actors.actors as actors
from edge_actors.actors import ActorRef, ActorSystem, SupervisorRef
from edge_actors.errors import EdgeActorsError


def test_public_names() -> None:
    assert set(actors.__all__) == {
        "Actor",
        "ActorError",
        "ActorKilled",
        "ActorRef",
        "ActorStartError",
        "ActorStopped",
        "ActorSystem",
        "AskSelfError",
        "Backoff",
        "DuplicateActorName",
        "LoopThread",
        "MailboxFull",
        "Refusal",
        "RestartType",
        "StrayCancellation",
        "SupervisorFailed",
        "SupervisorRef",
        "SupervisorStrategy",
        "SystemClosed",
        "Terminated",
        "open_actor_system",
        "run_main",
        "uvloop_available",
    }
    for name in actors.__all__:
        assert getattr(actors, name) is not None


def test_errors_derive_from_the_project_base() -> None:
    for name in ("ActorKilled", "ActorStopped", "AskSelfError", "MailboxFull", "Refusal"):
        assert issubclass(getattr(actors, name), EdgeActorsError)


def _defaults(fn: object) -> dict[str, object]:
    return {
        name: p.default
        for name, p in inspect.signature(fn).parameters.items()  # type: ignore[arg-type]
        if p.default is not inspect.Parameter.empty
    }


def test_documented_defaults() -> None:
    assert _defaults(ActorSystem.spawn_supervisor) == {
        "name": None,
        "strategy": "one_for_one",
        "max_restarts": 3,
        "within_s": 5.0,
        "backoff": None,
        "parent": None,
        "shutdown": None,
    }
    assert _defaults(ActorSystem.spawn) == {
        "name": None,
        "mailbox_size": 1000,
        "restart": None,
        "supervisor": None,
        "shutdown": 5.0,
    }
    assert _defaults(SupervisorRef.spawn_child) == {
        "name": None,
        "restart": "permanent",
        "mailbox_size": 1000,
        "shutdown": 5.0,
    }
    assert _defaults(ActorRef.ask) == {"timeout": 5.0}
    assert _defaults(ActorSystem.stop) == {"timeout": 5.0}
    assert _defaults(ActorSystem.shutdown) == {"timeout": 5.0}


def test_refusal_has_a_stable_code_per_class_and_instance() -> None:
    class Overdrawn(actors.Refusal):
        code = "overdrawn"

    class Unnamed(actors.Refusal):
        pass

    assert actors.Refusal.code == "refused"
    assert actors.Refusal("no").code == "refused"
    assert Unnamed("x").code == "refused"  # a subclass inherits the default
    assert Overdrawn.code == "overdrawn"
    assert Overdrawn("balance 3 < 5").code == "overdrawn"
    assert isinstance(Overdrawn("x"), actors.ActorError)
