"""Shared test configuration.

anyio runs every async test on the asyncio backend. structlog is configured to keep every
event (so ``structlog.testing.capture_logs`` sees debug and info events) while printing only
warnings and above, so a failing test shows what went wrong without flooding the output.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import TYPE_CHECKING, Any

import pytest
import structlog
from hypothesis import HealthCheck, settings

from postgres.server import (
    Databases,
    PostgresServer,
    PostgresUnavailable,
    postgres_server,
    postgres_unavailable,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, MutableMapping
    from pathlib import Path


def _with_system_dirs(path: str) -> str:
    """``path`` with ``/usr/sbin`` and ``/sbin`` appended where missing: the fault and HA
    tests run ``ip`` and ``tc`` as root, and a minimal ``PATH`` (``env -i``, some CI
    runners) would otherwise make them skip for a missing tool."""
    parts = path.split(os.pathsep) if path else []
    return os.pathsep.join(parts + [d for d in ("/usr/sbin", "/sbin") if d not in parts])


os.environ["PATH"] = _with_system_dirs(os.environ.get("PATH", ""))


# A run launched in the background by a shell without job control (``.ci/run &``, nohup,
# some CI runners) starts with SIGINT ignored, and every process it spawns inherits that:
# the Ctrl-C tests' SIGINT would then be ignored by the CLI and the script they interrupt,
# as POSIX wants for background jobs. A handled signal is reset to its default on exec, so
# handling it here gives the test subprocesses the default Ctrl-C a user's terminal gives.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _drop_below_warning(
    _logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if logging.getLevelNamesMapping().get(method_name.upper(), logging.WARNING) < logging.WARNING:
        raise structlog.DropEvent
    return event_dict


structlog.configure(
    processors=[_drop_below_warning, structlog.dev.ConsoleRenderer(colors=False)],
    wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    cache_logger_on_first_use=False,
)


# Hypothesis: derandomized in CI (and wherever CI=1 is set), so a run is a function of the
# code alone; exploratory elsewhere. ``HYPOTHESIS_PROFILE`` picks one explicitly.
settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    """One real PostgreSQL server (from ``pgserver``) for the session; skips if it can't start."""
    try:
        server_cm = postgres_server(tmp_path_factory.mktemp("postgres"))
        server = server_cm.__enter__()
    except PostgresUnavailable as exc:
        postgres_unavailable(exc)
    try:
        yield Databases(server)
    finally:
        server_cm.__exit__(None, None, None)


@pytest.fixture
def postgres_url(postgres_databases: Databases) -> str:
    """The URL of a fresh, empty database on the session's PostgreSQL server."""
    return postgres_databases.create()


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test alone, for tests that kill or restart it."""
    try:
        server_cm = postgres_server(tmp_path / "own-postgres")
        server = server_cm.__enter__()
    except PostgresUnavailable as exc:
        postgres_unavailable(exc)
    try:
        yield server
    finally:
        server_cm.__exit__(None, None, None)
