"""The generic actor engine (layer: actors; imports only the leaves ``errors`` and ``_log``).

It knows nothing about migrations, edges or HTTP. Actors handle one message at a time
from a bounded mailbox, reply to ``ask`` with ``receive``'s return value, crash on an
uncaught exception and are restarted by OTP-style supervisors. See ``docs/actors.md``.
"""

from __future__ import annotations

from ._actor import Actor as Actor
from ._errors import ActorError as ActorError
from ._errors import ActorKilled as ActorKilled
from ._errors import ActorStartError as ActorStartError
from ._errors import ActorStopped as ActorStopped
from ._errors import AskSelfError as AskSelfError
from ._errors import DuplicateActorName as DuplicateActorName
from ._errors import MailboxFull as MailboxFull
from ._errors import Refusal as Refusal
from ._errors import StrayCancellation as StrayCancellation
from ._errors import SupervisorFailed as SupervisorFailed
from ._errors import SystemClosed as SystemClosed
from ._ref import ActorRef as ActorRef
from ._supervisor import SupervisorRef as SupervisorRef
from ._system import ActorSystem as ActorSystem
from ._system import open_actor_system as open_actor_system
from ._thread import LoopThread as LoopThread
from ._thread import run_main as run_main
from ._thread import uvloop_available as uvloop_available
from ._types import Backoff as Backoff
from ._types import RestartType as RestartType
from ._types import SupervisorStrategy as SupervisorStrategy
from ._types import Terminated as Terminated

__all__ = [
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
]
