"""Reading TOML / YAML settings files for the edge config and the topology (edge layer)."""

from __future__ import annotations

import tomllib
from typing import TYPE_CHECKING

import yaml

from edge_actors.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["read_settings_file"]


def read_settings_file(path: Path, what: str) -> dict[str, object]:
    """Parse ``path`` by its suffix (``.toml``, ``.yaml``, ``.yml``) into a table.

    Args:
        path: The file.
        what: What the file holds, for messages (``"config file"``, ``"topology"``).

    Raises:
        ConfigError: Unreadable, unknown suffix, malformed, or not a table; the message
            names the file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data: object = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise ConfigError(f"{path}: unknown {what} format {suffix!r} (use .toml or .yaml)")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of settings, got {type(data).__name__}")
    return {str(key): value for key, value in data.items()}
