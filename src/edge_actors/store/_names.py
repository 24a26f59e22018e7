"""Workload name validation (store layer).

A workload name becomes a file name (``<data_dir>/workloads/<name>.sqlite``) and a URL
path segment, so it is restricted to a small alphabet that cannot escape a directory.
"""

from __future__ import annotations

import re

from edge_actors.errors import ConfigError
from edge_actors.schema import WORKLOAD_NAME, WorkloadName, convert

from ._errors import InvalidWorkloadName

__all__ = ["validate_workload_name"]

_NAME = re.compile(WORKLOAD_NAME)


def validate_workload_name(name: str) -> str:
    """Check that ``name`` is a legal workload name and return it unchanged.

    Legal names match ``^[a-z0-9][a-z0-9._-]{0,62}$`` (1 to 63 characters, lower case)
    and never contain ``..``, so no name can traverse out of the workloads directory.

    Args:
        name: The candidate name.

    Returns:
        ``name`` itself, for use in expressions.

    Raises:
        InvalidWorkloadName: The name is not a string, is empty, too long, contains a
            character outside ``[a-z0-9._-]``, starts with ``.``, ``_`` or ``-``, or
            contains ``..``.
    """
    if isinstance(name, str) and _NAME.match(name):  # the hot path: every data request
        return name
    try:
        checked: str = convert(name, WorkloadName, field="workload")
    except ConfigError as exc:
        raise InvalidWorkloadName(f"invalid workload name: {exc}") from None
    return checked
