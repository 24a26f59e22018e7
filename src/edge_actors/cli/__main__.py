"""``python -m edge_actors.cli``: the same as the ``edge-actors`` console script (cli layer)."""

from __future__ import annotations

import sys

from ._main import main

if __name__ == "__main__":
    sys.exit(main())
