"""The migration engine (layer: migration).

Plans and their constraints, strategies as policy objects, the migration actor (phase
state machine), the migration supervisor (shared state, journal on SQLite or PostgreSQL, priority
scheduling, restart and rollback) and the ``EdgeGateway`` protocol the edge layer
implements. Imports: leaves, actors, transfer (models only); never aiohttp or ``edge``.
"""

from __future__ import annotations

from ._constraints import Constraints as Constraints
from ._constraints import TimeWindow as TimeWindow
from ._constraints import parse_constraints as parse_constraints
from ._errors import EdgeUnreachable as EdgeUnreachable
from ._errors import IllegalTransition as IllegalTransition
from ._errors import InsufficientCapacity as InsufficientCapacity
from ._errors import InvalidRequest as InvalidRequest
from ._errors import MigrationError as MigrationError
from ._errors import MigrationRefusal as MigrationRefusal
from ._errors import UnknownCheckpoint as UnknownCheckpoint
from ._errors import UnknownEdgeName as UnknownEdgeName
from ._errors import UnknownMigration as UnknownMigration
from ._errors import WorkloadNotOnEdge as WorkloadNotOnEdge
from ._gateway import CutoverResult as CutoverResult
from ._gateway import CutoverSpec as CutoverSpec
from ._gateway import EdgeCapacity as EdgeCapacity
from ._gateway import EdgeGateway as EdgeGateway
from ._gateway import EdgeWorkload as EdgeWorkload
from ._gateway import ReleaseResult as ReleaseResult
from ._gateway import TransferRequest as TransferRequest
from ._models import Checkpoint as Checkpoint
from ._models import HistoryEvent as HistoryEvent
from ._models import MigrationMetrics as MigrationMetrics
from ._models import MigrationPlan as MigrationPlan
from ._models import MigrationProgress as MigrationProgress
from ._models import MigrationState as MigrationState
from ._models import MigrationStatus as MigrationStatus
from ._models import MigrationSummary as MigrationSummary
from ._models import OverallMetrics as OverallMetrics
from ._models import Phase as Phase
from ._models import PlanRequest as PlanRequest
from ._models import ServiceDefaults as ServiceDefaults
from ._models import WorkloadCheckpoint as WorkloadCheckpoint
from ._planning import check_plan_values as check_plan_values
from ._planning import coerce_request as coerce_request
from ._runs import RestartPolicy as RestartPolicy
from ._service import MigrationService as MigrationService
from ._strategies import STRATEGIES as STRATEGIES
from ._strategies import RoundEstimator as RoundEstimator
from ._strategies import Strategy as Strategy
from ._transitions import TRANSITIONS as TRANSITIONS
from ._transitions import check_transition as check_transition

__all__ = [
    "STRATEGIES",
    "TRANSITIONS",
    "Checkpoint",
    "Constraints",
    "CutoverResult",
    "CutoverSpec",
    "EdgeCapacity",
    "EdgeGateway",
    "EdgeUnreachable",
    "EdgeWorkload",
    "HistoryEvent",
    "IllegalTransition",
    "InsufficientCapacity",
    "InvalidRequest",
    "MigrationError",
    "MigrationMetrics",
    "MigrationPlan",
    "MigrationProgress",
    "MigrationRefusal",
    "MigrationService",
    "MigrationState",
    "MigrationStatus",
    "MigrationSummary",
    "OverallMetrics",
    "Phase",
    "PlanRequest",
    "ReleaseResult",
    "RestartPolicy",
    "RoundEstimator",
    "ServiceDefaults",
    "Strategy",
    "TimeWindow",
    "TransferRequest",
    "UnknownCheckpoint",
    "UnknownEdgeName",
    "UnknownMigration",
    "WorkloadCheckpoint",
    "WorkloadNotOnEdge",
    "check_plan_values",
    "check_transition",
    "coerce_request",
    "parse_constraints",
]
