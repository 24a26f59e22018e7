"""Shared test configuration.

anyio runs every async test on the asyncio backend. structlog is configured to keep every
event (so ``structlog.testing.capture_logs`` sees debug and info events) while printing only
warnings and above, so a failing test shows what went wrong without flooding the output.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest
import structlog

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


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
