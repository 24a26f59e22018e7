"""Validation of a migration: content digests of both sides and endpoint probes (layer: migration).

One place for the checks: the migration actor's ``validation`` phase fails on what
:func:`digest_verdict` and :func:`probe_endpoints` report, and
``MigrationService.validate`` returns the same verdicts as a :class:`ValidationReport` for
anyone to look at later (the workflow node formats it; it never re-implements it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from ._errors import MigrationError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._gateway import EdgeGateway, EdgeWorkload
    from ._models import MigrationPlan, WorkloadCheckpoint

__all__ = [
    "EndpointProbe",
    "SideInfo",
    "ValidationReport",
    "WorkloadValidation",
    "digest_verdict",
    "probe_endpoints",
    "validate_plan",
]


class SideInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One side of a workload as its edge reports it now."""

    edge: str
    status: str
    records: int
    lsn: int
    digest: str | None


class WorkloadValidation(msgspec.Struct, frozen=True, kw_only=True):
    """The digest verdict of one workload.

    Attributes:
        source: the source side (``None``: not on the source any more, or unreachable).
        target: the target side (``None``: not on the target, or unreachable).
        digests_match: ``True``/``False``, or ``None`` when it cannot be known.
        basis: what the verdict rests on, in words.
    """

    source: SideInfo | None
    target: SideInfo | None
    digests_match: bool | None
    basis: str


class EndpointProbe(msgspec.Struct, frozen=True, kw_only=True):
    """One probe of a path on the target edge."""

    path: str
    edge: str
    status: int
    ok: bool


class ValidationReport(msgspec.Struct, frozen=True, kw_only=True):
    """``MigrationService.validate``'s answer.

    Attributes:
        migration_id: the migration.
        digests_match: all workloads match (``None`` when one cannot be known).
        workloads: the verdict per workload.
        endpoints: every probe made.
        endpoints_ok: every probe answered below 400.
        passed: digests match and every probe passed.
    """

    migration_id: str
    digests_match: bool | None
    workloads: dict[str, WorkloadValidation]
    endpoints: list[EndpointProbe]
    endpoints_ok: bool
    passed: bool


def digest_verdict(
    source: EdgeWorkload | None,
    target: EdgeWorkload | None,
    journaled: WorkloadCheckpoint | None,
) -> tuple[bool | None, str]:
    """Whether the two sides of a workload hold the same content, and why we think so."""
    if source is not None and target is not None and source.digest and target.digest:
        return source.digest == target.digest, "live digests of both sides"
    if (
        target is not None
        and journaled is not None
        and journaled.validated
        and journaled.target_digest is not None
    ):
        # The source's copy was released after a validated cutover: the migration
        # compared both digests at the cutover LSN.
        return True, "compared by the migration at cutover (source copy released)"
    if source is not None and source.status == "moved" and target is not None:
        return None, (
            "unknown: the source copy was released and the migration did not compare "
            "digests for this workload"
        )
    return False, "not comparable yet (a side has no data)"


async def probe_endpoints(
    gateway: EdgeGateway, edge: str, paths: Iterable[str], workloads: Iterable[str]
) -> list[EndpointProbe]:
    """Probe each path on ``edge`` (a path with ``{workload}`` once per workload)."""
    names = list(workloads)
    probes = []
    for path in paths:
        for w in names if "{workload}" in path else [None]:
            url_path = path.replace("{workload}", w) if w else path
            status = await gateway.probe(edge, url_path)
            probes.append(EndpointProbe(path=url_path, edge=edge, status=status, ok=status < 400))
    return probes


async def _side(gateway: EdgeGateway, edge: str, workload: str) -> EdgeWorkload | None:
    try:
        return await gateway.workload_info(edge, workload)
    except MigrationError:
        return None


def _info(edge: str, info: EdgeWorkload | None) -> SideInfo | None:
    if info is None:
        return None
    return SideInfo(
        edge=edge,
        status=info.status,
        records=info.records,
        lsn=info.lsn,
        digest=info.digest or None,
    )


async def validate_plan(
    gateway: EdgeGateway,
    plan: MigrationPlan,
    journaled: dict[str, WorkloadCheckpoint],
    paths: Iterable[str],
) -> ValidationReport:
    """Compare both sides of every workload of ``plan`` now and probe ``paths``."""
    workloads: dict[str, WorkloadValidation] = {}
    for w in plan.workloads:
        source = await _side(gateway, plan.source_edge, w)
        target = await _side(gateway, plan.target_edge, w)
        match, basis = digest_verdict(source, target, journaled.get(w))
        workloads[w] = WorkloadValidation(
            source=_info(plan.source_edge, source),
            target=_info(plan.target_edge, target),
            digests_match=match,
            basis=basis,
        )
    probes = await probe_endpoints(gateway, plan.target_edge, paths, plan.workloads)
    verdicts = [v.digests_match for v in workloads.values()]
    all_match = False if False in verdicts else (None if None in verdicts else True)
    endpoints_ok = all(p.ok for p in probes)
    return ValidationReport(
        migration_id=plan.migration_id,
        digests_match=all_match,
        workloads=workloads,
        endpoints=probes,
        endpoints_ok=endpoints_ok,
        passed=all_match is True and endpoints_ok,
    )
