"""Errors of the workflow framework (layer: workflow; imports only the ``errors`` leaf).

A workflow that cannot be built or run is a configuration problem, so
:class:`WorkflowError` is a :class:`~edge_actors.errors.ConfigError`. A *node* failing
while a workflow runs is not an error of this kind: the runtime reports it in the node's
result instead of raising.
"""

from __future__ import annotations

from edge_actors.errors import ConfigError

__all__ = ["WorkflowError"]


class WorkflowError(ConfigError):
    """A workflow, node type or connection is malformed.

    Attributes:
        problems: every problem found, one sentence each naming the culprit (node id,
            parameter, connection); the message joins them.
    """

    def __init__(self, problems: str | list[str] | tuple[str, ...]) -> None:
        listed = (problems,) if isinstance(problems, str) else tuple(problems)
        self.problems: tuple[str, ...] = listed
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            lines = "\n".join(f"  - {problem}" for problem in listed)
            message = f"workflow has {len(listed)} problems:\n{lines}"
        super().__init__(message)
