"""Config loading (file < environment < flags) and topology files."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from edge_actors.edge import (
    EdgeConfig,
    EdgeEndpoint,
    Topology,
    UnknownEdge,
    load_edge_config,
    load_topology,
)
from edge_actors.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path


def test_toml_file_then_env_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(
        'name = "edge-west-1"\nport = 7400\ndata_dir = "/var/edge"\n'
        'cluster_token = "from-file-0123456789abcdefghij"\n'
        'max_bytes = "10GB"\nhold_timeout_s = "45s"\n'
    )
    config = load_edge_config(path, env={})
    assert (config.name, config.port, config.max_bytes) == ("edge-west-1", 7400, 10**10)
    assert config.hold_timeout_s == 45.0
    env = {"EDGE_ACTORS_PORT": "7500", "EDGE_ACTORS_CLUSTER_TOKEN": "from-env-0123456789abcdefghij"}
    config = load_edge_config(path, env=env)
    assert (config.port, config.cluster_token) == (7500, "from-env-0123456789abcdefghij")
    config = load_edge_config(path, env=env, overrides={"port": 7600, "max_bytes": "1KiB"})
    assert (config.port, config.cluster_token, config.max_bytes) == (
        7600,
        "from-env-0123456789abcdefghij",
        1024,
    )
    config = load_edge_config(path, env={"EDGE_ACTORS_MAX_BYTES": ""}, overrides={"port": None})
    assert (config.port, config.max_bytes) == (7400, None)


def test_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(
        "name: e1\ndata_dir: d\ncluster_token: t-0123456789abcdefghij-t\nmax_workloads: 3\n"
    )
    config = load_edge_config(path, env={})
    assert config == EdgeConfig(
        name="e1", data_dir="d", cluster_token="t-0123456789abcdefghij-t", max_workloads=3
    )
    assert not config.tls


def test_env_only(tmp_path: Path) -> None:
    env = {
        "EDGE_ACTORS_NAME": "e2",
        "EDGE_ACTORS_DATA_DIR": str(tmp_path),
        "EDGE_ACTORS_CLUSTER_TOKEN": "t-0123456789abcdefghij-t",
        "EDGE_ACTORS_HOLD_TIMEOUT_S": "2.5",
    }
    assert load_edge_config(env=env).hold_timeout_s == 2.5


@pytest.mark.parametrize(
    ("text", "env", "needle"),
    [
        (
            'name = "e"\ndata_dir = "d"\ncluster_token = "t-0123456789abcdefghij-t"\nprot = 1\n',
            {},
            "unknown key 'prot'",
        ),
        (
            'name = "e"\ndata_dir = "d"\ncluster_token = "t-0123456789abcdefghij-t"\nport = "x"\n',
            {},
            "port",
        ),
        (
            'name = "e"\ndata_dir = "d"\ncluster_token = "t-0123456789abcdefghij-t"\n'
            "port = 99999\n",
            {},
            "port",
        ),
        (
            'name = "e"\ndata_dir = "d"\ncluster_token = "t-0123456789abcdefghij-t"\n'
            'max_bytes = "9ZB"\n',
            {},
            "max_bytes",
        ),
        ('name = "e"\ndata_dir = "d"\nhost = "0.0.0.0"\n', {}, "cluster_token"),
        (
            'name = "e"\ndata_dir = "d"\ncluster_token = "t-0123456789abcdefghij-t"\n'
            'tls_cert = "c"\n',
            {},
            "tls_key",
        ),
        ("name = [unclosed\n", {}, "not valid TOML"),
        (
            'name = "e"\ndata_dir = "d"\ncluster_token = "t-0123456789abcdefghij-t"\n',
            {"EDGE_ACTORS_PORT": "abc"},
            "port",
        ),
    ],
)
def test_malformed_config_names_the_key(
    tmp_path: Path, text: str, env: dict[str, str], needle: str
) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_edge_config(path, env=env)
    assert needle in str(error.value)


def test_env_error_names_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text('name = "e"\ndata_dir = "d"\ncluster_token = "t-0123456789abcdefghij-t"\n')
    with pytest.raises(ConfigError) as error:
        load_edge_config(path, env={"EDGE_ACTORS_MAX_BYTES": "lots"})
    assert "EDGE_ACTORS_MAX_BYTES" in str(error.value)
    with pytest.raises(ConfigError) as missing:
        load_edge_config(tmp_path / "absent.toml", env={})
    assert "absent.toml" in str(missing.value)


def test_topology_toml_and_yaml(tmp_path: Path) -> None:
    toml = tmp_path / "topology.toml"
    toml.write_text(
        '[edges.edge-west-1]\nurl = "http://10.0.0.5:7400/"\ntoken = "s1"\n'
        '[edges.edge-east-1]\nurl = "https://east:7400"\ntoken = "s2"\n'
    )
    topology = load_topology(toml)
    assert topology.resolve("edge-west-1") == EdgeEndpoint("http://10.0.0.5:7400", "s1")
    assert sorted(topology) == ["edge-east-1", "edge-west-1"]
    yaml_path = tmp_path / "topology.yaml"
    yaml_path.write_text("edges:\n  a:\n    url: http://a:1\n    token: t\n")
    assert load_topology(yaml_path)["a"].url == "http://a:1"
    with pytest.raises(UnknownEdge) as unknown:
        topology.resolve("edge-north")
    assert "edge-north" in str(unknown.value)
    assert "edge-east-1, edge-west-1" in str(unknown.value)
    bigger = topology.with_edge("n", EdgeEndpoint("http://n:1", "t"))
    assert len(bigger) == 3
    assert len(topology) == 2
    assert len(Topology()) == 0


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[edges.a]\nurl = "http://a:1"\n', "edges.a"),
        ('[edges.a]\nurl = "ftp://a"\ntoken = "t"\n', "edges.a: url"),
        ('[edges.a]\nurl = "http://a:1"\ntoken = "t"\nextra = 1\n', "edges.a"),
        ('[edgez.a]\nurl = "http://a:1"\n', "edgez"),
        ("edges = 3\n", "edges"),
    ],
)
def test_malformed_topology_names_the_key(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "topology.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_topology(path)
    assert needle in str(error.value)
    assert "topology.toml" in str(error.value)
