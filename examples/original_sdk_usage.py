"""Code written for the guide's original SDK, reading every key of its node contract.

The flow follows the original SDK's own end-to-end use of ``EdgeMigrationNode`` (teams
planning, reviewing, executing, pausing and reporting through separate workflows) and of
``EdgeMonitoringNode`` (metrics, thresholds, alerts, health, analytics, summary), with the
original's operations and parameter names only. Every key of both contracts is read with
the original's type: a missing key raises ``KeyError`` and a wrong type ``TypeError``, so
this script exits non-zero unless the whole contract holds. Only the imports and the
seeding are this project's.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from _common import seed

from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder

NUMBER = (int, float)
OPTIONAL_STR = (str, type(None))
read = 0


def get(d: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """``d[key]`` checked against the original's type (counted)."""
    global read
    value = d[key]
    if isinstance(value, bool) and kind is NUMBER:
        raise TypeError(f"{key}: expected a number, got {value!r}")
    if not isinstance(value, kind):
        raise TypeError(f"{key}: expected {kind}, got {type(value).__name__} {value!r}")
    read += 1
    return value


def when(d: dict[str, Any], key: str) -> datetime | None:
    value = get(d, key, OPTIONAL_STR)
    return None if value is None else datetime.fromisoformat(value)


def run(*nodes: tuple[str, str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One workflow of ``(type, id, config)`` nodes, each after the previous one."""
    workflow = WorkflowBuilder()
    for node_type, node_id, config in nodes:
        workflow.add_node(node_type, node_id, config)
    for (_, before, _), (_, after, _) in itertools.pairwise(nodes):
        workflow.add_connection(before, "result", after, "input")
    results, _ = LocalRuntime().execute(workflow.build())
    for result in results.values():
        assert get(result, "status", str) == "success", result
    return results


def mig(node_id: str, **config: Any) -> tuple[str, str, dict[str, Any]]:
    return ("EdgeMigrationNode", node_id, config)


def mon(node_id: str, **config: Any) -> tuple[str, str, dict[str, Any]]:
    return ("EdgeMonitoringNode", node_id, config)


def read_plan(plan: dict[str, Any]) -> str:
    for key in ("migration_id", "source_edge", "target_edge", "strategy"):
        get(plan, key, str)
    for workload in get(plan, "workloads", list):
        assert isinstance(workload, str)
    get(plan, "data_size_estimate", int), get(plan, "priority", int)
    get(plan, "constraints", dict), when(plan, "created_at")
    return str(plan["migration_id"])


def read_progress(progress: dict[str, Any]) -> None:
    get(progress, "migration_id", str), get(progress, "phase", str)
    get(progress, "progress_percent", NUMBER), get(progress, "data_transferred", int)
    get(progress, "workloads_migrated", list), when(progress, "start_time")
    when(progress, "estimated_completion"), get(progress, "errors", list)
    metrics = get(progress, "metrics", dict)
    get(metrics, "transfer_rate_mbps", NUMBER), get(metrics, "paused", NUMBER)


def migration_teams() -> None:
    services = ["user-auth", "payment-gateway", "order-processing"]
    seed("datacenter-east", services, records=200)
    started = run(mig("start", operation="start_migrator", checkpoint_interval=30))
    assert get(started["start"], "migrator_active", bool) is True

    # Planning team
    plans = run(
        *(
            mig(
                f"plan_{i}",
                operation="plan_migration",
                source_edge="datacenter-east",
                target_edge="datacenter-west",
                workloads=[service],
                strategy="staged",
                priority=8 + i,
                constraints={"max_downtime": "30s"},
            )
            for i, service in enumerate(services)
        )
    )
    ids = []
    for i in range(len(services)):
        result = plans[f"plan_{i}"]
        ids.append(read_plan(get(result, "plan", dict)))
        get(result, "estimated_duration", NUMBER)

    # Review team: every plan is visible, with the system's figures
    review = run(
        mig("pending", operation="get_active_migrations"), mig("m", operation="get_metrics")
    )
    for plan in get(review["pending"], "migrations", list):
        read_plan(plan)
    assert get(review["pending"], "count", int) >= len(ids)

    # Execution team: run the first, pause the second, resume it, roll back the third
    done = run(mig("exec", operation="execute_migration", migration_id=ids[0]))["exec"]
    outcome = get(done, "result", dict)
    assert get(outcome, "status", str) == "success"
    get(outcome, "migration_id", str), get(outcome, "duration", NUMBER)
    get(outcome, "data_transferred", int), get(outcome, "workloads_migrated", list)
    read_progress(
        get(run(mig("p", operation="get_progress", migration_id=ids[0]))["p"], "progress", dict)
    )
    control = run(
        mig("pause", operation="pause_migration", migration_id=ids[1]),
        mig("resume", operation="resume_migration", migration_id=ids[1]),
    )
    paused = get(control["pause"], "result", dict)
    assert get(paused, "status", str) == "paused"
    get(paused, "migration_id", str), get(paused, "checkpoint_id", OPTIONAL_STR)
    get(paused, "can_resume", bool)
    resumed = get(control["resume"], "result", dict)
    assert get(resumed, "status", str) == "resumed"
    get(resumed, "migration_id", str), get(resumed, "phase", str)
    rolled = run(mig("rb", operation="rollback_migration", migration_id=ids[2]))["rb"]
    back = get(rolled, "result", dict)
    assert get(back, "status", str) == "rolled_back"
    get(back, "migration_id", str), get(back, "checkpoint_used", OPTIONAL_STR)

    # Reporting team
    report = run(mig("metrics", operation="get_metrics"), mig("history", operation="get_history"))
    metrics = get(report["metrics"], "metrics", dict)
    for key in ("total_migrations", "active_migrations", "completed_migrations"):
        get(metrics, key, int)
    get(metrics, "failed_migrations", int), get(metrics, "total_data_transferred", int)
    assert 0.0 <= get(metrics, "success_rate", NUMBER) <= 1.0
    for entry in get(report["history"], "migrations", list):
        get(entry, "migration_id", str), when(entry, "completed_at")
        get(entry, "duration", NUMBER), get(entry, "data_transferred", int)
        get(entry, "workloads", list)
    get(report["history"], "count", int)
    stopped = run(mig("stop", operation="stop_migrator"))
    assert get(stopped["stop"], "migrator_active", bool) is False


def read_alert(alert: dict[str, Any]) -> None:
    for key in ("alert_id", "edge_node", "severity", "metric_type", "message"):
        get(alert, key, str)
    when(alert, "timestamp"), get(alert, "current_value", NUMBER)
    get(alert, "threshold", NUMBER), get(alert, "tags", dict)


def monitoring_team() -> None:
    edge = "datacenter-west"
    setup = run(
        mon("crit", operation="set_threshold", metric_type="latency", severity="critical",
            threshold_value=2.0),
        mon("warn", operation="set_threshold", metric_type="latency", severity="warning",
            threshold_value=0.5),
    )  # fmt: skip
    for result in setup.values():
        assert get(result, "threshold_set", bool) is True
        get(result, "metric_type", str), get(result, "severity", str), get(result, "value", NUMBER)
    for value in (0.2, 0.9, 2.5):
        recorded = run(
            mon("rec", operation="record_metric", edge_node=edge, metric_type="latency",
                value=value, tags={"service": "api"}),
        )["rec"]  # fmt: skip
        assert get(recorded, "metric_recorded", bool) is True
        metric = get(recorded, "metric", dict)
        when(metric, "timestamp"), get(metric, "edge_node", str), get(metric, "metric_type", str)
        get(metric, "value", NUMBER), get(metric, "tags", dict)
    r = run(
        mon("start", operation="start_monitor", edge_nodes=[edge]),
        mon("query", operation="query_metrics", edge_node=edge, metric_type="latency",
            time_range_minutes=60),
        mon("health", operation="get_health", edge_node=edge),
        mon("analytics", operation="get_analytics", edge_node=edge),
        mon("alerts", operation="get_alerts", severity="critical"),
        mon("summary", operation="get_summary"),
        mon("stop", operation="stop_monitor"),
    )  # fmt: skip
    assert get(r["start"], "monitor_active", bool) is True
    assert get(r["stop"], "monitor_active", bool) is False
    query = r["query"]
    assert len(get(query, "metrics", list)) == get(query, "count", int) == 3
    span = get(query, "time_range", dict)
    when(span, "start"), when(span, "end")
    health = get(r["health"], "health", dict)
    get(health, "edge_node", str), get(health, "status", str), when(health, "last_check")
    get(health, "uptime_seconds", NUMBER), get(health, "issues", list)
    for summary in get(health, "metrics_summary", dict).values():
        for key in ("current", "avg", "min", "max"):
            get(summary, key, NUMBER)
    analytics = get(r["analytics"], "analytics", dict)
    get(analytics, "edge_node", str), get(analytics, "trends", dict)
    get(analytics, "recommendations", list)
    for stats in get(analytics, "metrics_summary", dict).values():
        get(stats, "count", int)
        for key in ("mean", "median", "std_dev", "min", "max", "p95", "p99"):
            get(stats, key, NUMBER)
    for anomaly in get(analytics, "anomalies", list):
        read_alert(anomaly)
    alerts = r["alerts"]
    for alert in get(alerts, "alerts", list):
        read_alert(alert)
    get(alerts, "count", int), get(alerts, "active_count", int)
    summary = get(r["summary"], "summary", dict)
    get(summary, "monitoring_active", bool), get(summary, "total_nodes", int)
    get(summary, "active_nodes", int), get(summary, "health_summary", dict)
    get(summary, "recent_alerts", dict), get(summary, "total_metrics", int)


if __name__ == "__main__":
    migration_teams()
    monitoring_team()
    print(f"read {read} keys of the original SDK's contract: no KeyError, no TypeError")
