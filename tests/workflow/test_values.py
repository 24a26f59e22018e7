"""Output paths into results and the key search used by nodes."""

from __future__ import annotations

import msgspec
import pytest

from edge_actors.workflow import OutputPathError, find_value, resolve_output


class Plan(msgspec.Struct):
    migration_id: str
    workloads: list[str]


RESULT: dict[str, object] = {
    "status": "ok",
    "plan": Plan("m-1", ["api", "cache"]),
    "a.b": "dotted key",
    "rows": [{"id": 1}, {"id": 2}],
}


def test_plain_keys_win_over_paths() -> None:
    assert resolve_output(RESULT, "a.b") == "dotted key"
    assert resolve_output(RESULT, "status") == "ok"


def test_paths_through_structs_lists_and_dicts() -> None:
    assert resolve_output(RESULT, "plan.migration_id") == "m-1"
    assert resolve_output(RESULT, "plan.workloads.1") == "cache"
    assert resolve_output(RESULT, "rows[1].id") == 2
    assert resolve_output(RESULT, "rows.-1.id") == 2


def test_missing_segment_names_path_and_available_keys() -> None:
    with pytest.raises(OutputPathError) as info:
        resolve_output(RESULT, "plan.checkpoint_id", source="plan")
    assert str(info.value) == (
        "output 'plan.checkpoint_id' of node 'plan' not found: no 'checkpoint_id' in 'plan' "
        "(available fields: 'migration_id', 'workloads')"
    )
    with pytest.raises(OutputPathError, match=r"no 'nope' at the top of the result"):
        resolve_output(RESULT, "nope")
    with pytest.raises(OutputPathError, match=r"available a list of 2 items"):
        resolve_output(RESULT, "rows.5")


def test_find_value_is_breadth_first() -> None:
    value = {"outer": {"migration_id": "deep"}, "items": [{"migration_id": "in-list"}]}
    assert find_value(value, "migration_id") == "deep"
    assert find_value({"migration_id": "top", "x": value}, "migration_id") == "top"
    assert find_value([Plan("m-7", [])], "migration_id") == "m-7"
    assert find_value({"a": 1}, "missing") is None
    loop: dict[str, object] = {}
    loop["self"] = loop
    assert find_value(loop, "missing") is None
