"""Failover benchmark: kill -9 the supervisor leader across the phases of live migrations.

Every trial (``tests/ha/_failover.py``) runs two edges and two supervisor replicas
(``--supervisor --journal postgresql://...``, default lease: 3 s, renewed every second) as
subprocesses on a fresh database of one real PostgreSQL server, seeds a 3000-record
workload, keeps a writer writing unique keys through the source for the whole trial,
plans and executes a live migration through the follower (4 Mbit/s, ``max_downtime=300ms``,
automatic rollback), waits until the journal shows the phase aimed at (``cutover``: the
source's pause hook, after the target's activation), and ``kill -9``s the leader.

Measured per kill: the takeover time (kill -> the survivor answers ``role: leader``),
then, once the migration settled: its state, acknowledged writes lost, active copies and
the leaders its history names. ``planning`` kills right after ``execute`` returned (the
state seen then is printed); a phase already left when the poll saw it is printed as the
state the kill landed in.

``--netns`` runs every process (both edges, both replicas, PostgreSQL) in its own network
namespace, each joined to a bridge by a veth link shaped with ``tc tbf`` (``--rate``,
100 Mbit/s by default); it needs root and stops with the reason otherwise.

Prints a table and, last, one JSON line (``kills``, ``takeover_s_min``,
``takeover_s_median``, ``takeover_s_max``, ``lost_writes``, ``two_active``, ...).

    python benchmarks/failover.py --kills 10
    sudo python benchmarks/failover.py --kills 15 --netns --rate 100mbit
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from ha._failover import PHASES, FailoverOutcome, run_failover
from ha._network import ShapedNetwork, network_unavailable
from postgres.server import Databases, PostgresServer

_NODES = ["pg", "edge-west", "edge-east", "sup-a", "sup-b"]


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="trials (one leader kill each)")
    parser.add_argument("--phases", default=",".join(PHASES), help="comma list, round-robin")
    parser.add_argument("--seed", type=int, default=1, help="seeds each trial's data")
    parser.add_argument("--netns", action="store_true", help="one network namespace per process")
    parser.add_argument("--rate", default="100mbit", help="tc tbf rate of each link (--netns)")
    parser.add_argument("--settle-s", type=float, default=90.0, help="bound to settle")
    parser.add_argument("--jsonl", type=Path, help="also append each trial's outcome here")
    return parser.parse_args()


def _row(i: int, out: FailoverOutcome) -> str:
    takeover = f"{out.takeover_s:.2f}" if out.takeover_s is not None else "-"
    leaders = ", ".join(out.leaders)
    return (
        f"{i:>3} {out.phase:<10} {out.killed_in:<10} {takeover:>8} {out.state:<11} "
        f"{out.acked:>6} {out.lost:>5} {out.active_copies:>6}  {leaders}"
    )


async def main() -> None:
    args = _parse()
    phases = [p for p in PHASES if p in args.phases.split(",")]
    network = None
    if args.netns:
        reason = network_unavailable()
        if reason is not None:
            sys.exit(f"--netns: {reason}")
        network = ShapedNetwork(os.getpid(), _NODES, rate=args.rate)
        network.create()
    outcomes: list[FailoverOutcome] = []
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="failover-") as base:
            server = PostgresServer(
                data_dir=Path(base) / "pgdata",
                host=network.ip("pg") if network else "127.0.0.1",
                netns=network.ns("pg") if network else None,
            )
            server.init()
            if network is not None:
                with (server.data_dir / "pg_hba.conf").open("a") as hba:
                    hba.write(f"host all all {network.subnet} trust\n")
            server.start()
            databases = Databases(server)
            try:
                for i in range(args.kills):
                    phase = phases[i % len(phases)]
                    root = Path(base) / f"trial-{i}"
                    root.mkdir()
                    try:
                        out = await run_failover(
                            root, databases.create(), phase, seed=args.seed * 1000 + i,
                            settle_s=args.settle_s, network=network,
                        )  # fmt: skip
                    except Exception as exc:  # the harness itself failed: count it, go on
                        out = FailoverOutcome(phase, state=f"harness error: {exc!r}"[:120])
                    outcomes.append(out)
                    verdict = "ok" if not out.problems() else "; ".join(out.problems())
                    print(f"[{i + 1}/{args.kills}] {_row(i + 1, out)}  {verdict}", flush=True)
                    if args.jsonl is not None:
                        with args.jsonl.open("a") as fh:
                            fh.write(json.dumps(asdict(out)) + "\n")
            finally:
                server.stop()
    finally:
        if network is not None:
            network.delete()
    _report(outcomes, args, time.monotonic() - started)


def _report(outcomes: list[FailoverOutcome], args: argparse.Namespace, seconds: float) -> None:
    print()
    print(
        f"{'#':>3} {'phase':<10} {'killed_in':<10} {'takeover':>8} {'state':<11} "
        f"{'acked':>6} {'lost':>5} {'active':>6}  leaders in history"
    )
    for i, out in enumerate(outcomes, 1):
        print(_row(i, out))
    takeovers = sorted(o.takeover_s for o in outcomes if o.takeover_s is not None)
    summary = {
        "kills": len(outcomes),
        "takeover_s_min": round(takeovers[0], 3) if takeovers else None,
        "takeover_s_median": round(statistics.median(takeovers), 3) if takeovers else None,
        "takeover_s_max": round(takeovers[-1], 3) if takeovers else None,
        "takeovers_over_5s": sum(t > 5.0 for t in takeovers),
        "completed": sum(o.state == "completed" for o in outcomes),
        "acked_writes": sum(o.acked for o in outcomes),
        "lost_writes": sum(o.lost for o in outcomes),
        "two_active": sum(o.two_active for o in outcomes),
        "no_active": sum(o.active_copies == 0 for o in outcomes),
        "history_both_leaders": sum(len(set(o.leaders)) >= 2 for o in outcomes),
        "killed_in": dict(sorted(Counter(o.killed_in for o in outcomes).items())),
        "netns": bool(args.netns),
        "rate": args.rate if args.netns else None,
        "seed": args.seed,
        "seconds": round(seconds, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    anyio.run(main)
