"""Reading TOML / YAML settings files for the edge config and the topology (edge layer)."""

from __future__ import annotations

import tomllib
from typing import TYPE_CHECKING

import yaml

from edge_actors.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["read_settings_file"]


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML SafeLoader that refuses a key repeated in one mapping (TOML refuses it too)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[object, object]:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "found an unhashable key", key_node.start_mark
            ) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=True))


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _unique_mapping,
)


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
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: {what} is not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data: object = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.load(text, Loader=_UniqueKeyLoader)
        else:
            raise ConfigError(f"{path}: unknown {what} format {suffix!r} (use .toml or .yaml)")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split())
        raise ConfigError(f"{path}: not valid {suffix[1:].upper()}: {reason}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of settings, got {type(data).__name__}")
    return {str(key): value for key, value in data.items()}
