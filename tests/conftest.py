"""Shared test configuration.

anyio runs every async test on the asyncio backend. structlog is configured to keep every
event (so ``structlog.testing.capture_logs`` sees debug and info events) while printing only
warnings and above, so a failing test shows what went wrong without flooding the output.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import pytest
import structlog
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from collections.abc import MutableMapping


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
