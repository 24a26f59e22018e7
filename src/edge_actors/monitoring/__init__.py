"""Edge monitoring: health probes, metric time series, analytics, anomaly detection, alerts.

Monitoring layer: above ``edge`` in the import order (see docs/architecture.md); it talks
to edge daemons over their HTTP admin API only. :class:`MonitoringService` is the entry
point; everything it returns is a msgspec ``Struct``. See docs/monitoring.md.
"""

from __future__ import annotations

from ._anomaly import EwmaDetector as EwmaDetector
from ._errors import MonitoringError as MonitoringError
from ._errors import ServiceNotRunning as ServiceNotRunning
from ._loops import PROBE_TASK_PREFIX as PROBE_TASK_PREFIX
from ._models import BUILTIN_METRICS as BUILTIN_METRICS
from ._models import Alert as Alert
from ._models import Analytics as Analytics
from ._models import Anomaly as Anomaly
from ._models import AnomalyConfig as AnomalyConfig
from ._models import EdgeCapacity as EdgeCapacity
from ._models import EdgeHealth as EdgeHealth
from ._models import EdgeLoad as EdgeLoad
from ._models import HealthStatus as HealthStatus
from ._models import MetricPoint as MetricPoint
from ._models import MetricSample as MetricSample
from ._models import MetricStats as MetricStats
from ._models import MonitoringConfig as MonitoringConfig
from ._models import MonitoringSummary as MonitoringSummary
from ._models import MonitorStatus as MonitorStatus
from ._models import ProbeTarget as ProbeTarget
from ._models import Threshold as Threshold
from ._models import check_tags as check_tags
from ._service import MonitoringService as MonitoringService
from ._stats import percentile as percentile

__all__ = [
    "BUILTIN_METRICS",
    "PROBE_TASK_PREFIX",
    "Alert",
    "Analytics",
    "Anomaly",
    "AnomalyConfig",
    "EdgeCapacity",
    "EdgeHealth",
    "EdgeLoad",
    "EwmaDetector",
    "HealthStatus",
    "MetricPoint",
    "MetricSample",
    "MetricStats",
    "MonitorStatus",
    "MonitoringConfig",
    "MonitoringError",
    "MonitoringSummary",
    "ProbeTarget",
    "ServiceNotRunning",
    "Threshold",
    "check_tags",
    "percentile",
]
