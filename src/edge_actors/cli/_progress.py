"""Terminal output of the CLI: progress display, reports, stdout/stderr writers (cli layer).

:class:`ProgressDisplay` shows a :class:`~edge_actors.migration.MigrationProgress` as one
line that is rewritten in place on a TTY (``\\r`` + clear to end of line, at most ten
times a second) and printed once a second otherwise (and on every state change), so logs
and CI output stay readable. The formatting helpers are shared by ``migrate``, ``status``
and ``demo``; so are the writers (:func:`write_out`, :func:`write_json`,
:func:`write_error`) and :func:`one_line_errors`, which makes a subcommand's argparse
errors one line. This module only formats and writes; it never talks to a daemon.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import msgspec

if TYPE_CHECKING:
    import argparse

    from edge_actors.migration import MigrationMetrics, MigrationProgress

__all__ = [
    "PROG",
    "ProgressDisplay",
    "format_bytes",
    "format_duration",
    "format_rate",
    "metrics_lines",
    "one_line",
    "one_line_errors",
    "progress_line",
    "write_error",
    "write_json",
    "write_out",
]

PROG = "edge-actors"


def write_out(*lines: str) -> None:
    """Print lines to stdout (the command's result)."""
    for line in lines:
        print(line, flush=True)


def write_json(value: Any) -> None:
    """Print ``value`` (Structs included) as one JSON object on one stdout line."""
    sys.stdout.write(msgspec.json.encode(msgspec.to_builtins(value)).decode() + "\n")
    sys.stdout.flush()


def write_error(command: str, message: str) -> None:
    """Print the one-line error of ``command`` to stderr.

    Whatever ``message`` holds (a daemon's HTML error page, a multi-line exception), the
    output is one line: whitespace runs are collapsed and it is cut to a readable length.
    """
    print(f"{PROG} {command}: error: {one_line(message)}", file=sys.stderr, flush=True)


_MAX_ERROR_CHARS = 400


def one_line(message: str) -> str:
    """``message`` on one line (whitespace collapsed), cut to 400 characters."""
    text = " ".join(message.split())
    if len(text) > _MAX_ERROR_CHARS:
        text = text[: _MAX_ERROR_CHARS - 3] + "..."
    return text


def one_line_errors(parser: argparse.ArgumentParser, command: str) -> None:
    """Make ``parser`` report bad flags as one stderr line and exit 2 (no usage dump)."""

    def error(message: str) -> NoReturn:
        write_error(command, f"{message} (see '{PROG} {command} --help')")
        raise SystemExit(2)

    setattr(parser, "error", error)  # noqa: B010 - mypy refuses assigning to a method


_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"`` (binary units, one decimal above bytes)."""
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_rate(bytes_per_s: float) -> str:
    """Bytes per second as ``"3.2 MiB/s"``."""
    return format_bytes(bytes_per_s) + "/s"


def format_duration(seconds: float | None) -> str:
    """``0.0123`` -> ``12ms``, ``4.2`` -> ``4.2s``, ``125`` -> ``2m05s``, ``None`` -> ``?``."""
    if seconds is None:
        return "?"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


_NO_ETA_STATES = frozenset(("planned", "paused", "completed", "failed", "rolled_back", "cancelled"))
"""States without an ETA: nothing is moving (paused, not started) or nothing is left."""


def progress_line(p: MigrationProgress) -> str:
    """One line: state/phase, round, records and bytes done/total, rate, ETA, downtime.

    A migration that is not moving data (planned, paused, ended) shows neither a rate nor
    an ETA: a paused one would otherwise promise an end it will not reach by itself.
    """
    shown_phase = p.phase is not None and p.state in ("paused", "failed", "queued")
    where = f"{p.state} ({p.phase})" if shown_phase else p.state
    bytes_total = p.bytes_done + p.bytes_remaining
    parts = [
        f"{where:<10}",
        f"round {p.round}",
        f"{p.records_done:,}/{p.records_total:,} records",
        f"{format_bytes(p.bytes_done)}/{format_bytes(bytes_total)}",
        f"{p.percent:5.1f}%",
    ]
    if p.state not in _NO_ETA_STATES:
        parts += [format_rate(p.goodput_bps), f"ETA {format_duration(p.eta_s)}"]
    if p.measured_downtime_ms is not None:
        parts.append(f"downtime {p.measured_downtime_ms:.1f}ms")
    elif p.expected_downtime_ms is not None:
        parts.append(f"expected downtime {p.expected_downtime_ms:.1f}ms")
    if p.detail:
        parts.append(p.detail)
    return " | ".join(parts)


def metrics_lines(m: MigrationMetrics) -> list[str]:
    """The final report of a migration, one figure per line (``name: value``)."""
    phases = ", ".join(f"{name} {format_duration(s)}" for name, s in m.phase_durations_s.items())
    downtime = ", ".join(f"{w} {ms:.1f}ms" for w, ms in m.downtime_ms.items()) or "none"
    return [
        f"state: {m.state}",
        f"duration: {format_duration(m.duration_s)}",
        f"phases: {phases or 'none'}",
        f"records moved: {m.records:,}",
        f"bytes moved: {format_bytes(m.bytes_raw)} ({m.bytes_raw:,} B)",
        f"bytes on the wire: {format_bytes(m.bytes_wire)} ({m.bytes_wire:,} B)",
        f"compression ratio: {m.compression_ratio:.2f}",
        f"rounds: {m.rounds}",
        f"downtime (write hold): {downtime}; max {m.max_downtime_ms:.1f}ms",
        f"throughput: {format_rate(m.throughput_bps)}",
        f"restarts: {m.restarts}, pauses: {m.pauses}, rollbacks: {m.rollbacks}",
    ]


class ProgressDisplay:
    """Writes progress lines to ``stream``: in place on a TTY, one per second otherwise.

    Args:
        stream: Where to write (default ``sys.stdout``).
        tty: Force TTY (``True``) or line mode (``False``); detected when ``None``.
        interval: Seconds between lines in line mode.
    """

    def __init__(
        self, stream: TextIO | None = None, *, tty: bool | None = None, interval: float = 1.0
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self._last_at = float("-inf")
        self._last_key: tuple[str, str | None] | None = None
        self._open_line = False
        self._last_line = ""

    def update(self, progress: MigrationProgress) -> None:
        """Show ``progress`` (rate-limited; a state or phase change always shows)."""
        now = time.monotonic()
        key = (progress.state, progress.phase)
        changed = key != self._last_key
        min_gap = 0.1 if self.tty else self.interval
        if not changed and now - self._last_at < min_gap:
            return
        line = progress_line(progress)
        if line == self._last_line:
            return
        self._last_at, self._last_key, self._last_line = now, key, line
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
            self._open_line = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self, progress: MigrationProgress | None = None) -> None:
        """Show the last state (if given) and end the in-place line."""
        if progress is not None:
            self._last_key = None
            self.update(progress)
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False
