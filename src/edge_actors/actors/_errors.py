"""Errors of the actor engine (layer: actors; imports only the ``errors`` leaf).

Every condition the engine refuses on purpose has its own class, named for the condition,
so callers can branch on it; all of them derive from :class:`ActorError`, itself an
:class:`edge_actors.errors.EdgeActorsError`.
"""

from __future__ import annotations

from edge_actors.errors import EdgeActorsError

__all__ = [
    "ActorError",
    "ActorKilled",
    "ActorStartError",
    "ActorStopped",
    "AskSelfError",
    "DuplicateActorName",
    "MailboxFull",
    "Refusal",
    "StrayCancellation",
    "SupervisorFailed",
    "SystemClosed",
]


class ActorError(EdgeActorsError):
    """Base class of the errors raised by :mod:`edge_actors.actors`."""


class MailboxFull(ActorError):
    """``tell_nowait`` found the actor's bounded mailbox full; nothing was queued."""


class ActorStopped(ActorError):
    """The actor is stopped, or stopped before it replied to an ``ask``."""


class AskSelfError(ActorError):
    """An actor asked itself; waiting for its own reply would deadlock its mailbox."""


class DuplicateActorName(ActorError, ValueError):
    """``spawn`` was given a name that a live actor of the same system already has."""


class ActorStartError(ActorError):
    """An actor's factory or ``on_start`` hook raised; the actor was not spawned.

    The original exception is chained as ``__cause__``.
    """


class ActorKilled(ActorError):
    """The actor was crashed from outside by ``ActorSystem.kill``.

    It is handled like any other crash: the asker of the interrupted message receives it and
    the supervisor decides what happens next.
    """


class StrayCancellation(ActorError):
    """A hook or ``receive`` raised ``CancelledError`` that no cancel scope caused.

    Typically it awaited a future or task that some other code cancelled. anyio and trio
    treat such a cancellation as an error, and so do we: it is a **crash** of the actor
    (the asker receives this error, the supervisor decides), never a silent cancel of the
    actor system. The original ``CancelledError`` is chained as ``__cause__``.
    """


class SupervisorFailed(ActorError):
    """A supervisor exceeded its restart intensity (more than ``max_restarts`` within
    ``within_s``), stopped its children and failed, escalating to its parent."""


class SystemClosed(ActorError):
    """The actor system is shutting down or closed and accepts no new actors."""


class Refusal(ActorError):
    """Base class for expected refusals raised from ``receive``.

    Raising a subclass from ``receive`` replies with that error to the asker (a ``tell``
    drops it) but does **not** crash the actor: the next message is handled as usual.
    Refusals are raised, never returned as values: the asker's ``ask`` raises it.

    Attributes:
        code: a stable, machine-readable reason (``"refused"`` by default). Subclasses
            set their own as a class attribute (``code = "overdrawn"``), so callers in
            any layer can match on the code instead of the message text.
    """

    code: str = "refused"
