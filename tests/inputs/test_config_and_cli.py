"""Config files, env overrides and CLI flags: a ConfigError naming file and key; the CLI
prints ONE stderr line (never a traceback) and exits 2 (1 for an unusable daemon)."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_actors.edge import EdgeConfig, load_edge_config, load_topology
from edge_actors.errors import ConfigError
from edge_actors.units import parse_bandwidth_bps, parse_duration, parse_size

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

_BASE = "name = 'e'\ndata_dir = '/tmp/x'\ncluster_token = 't-0123456789abcdefghij-t'\n"


@pytest.mark.parametrize(
    ("name", "text", "mention"),
    [
        ("empty.toml", "", "missing required setting"),
        ("bad.toml", "name = ][", "not valid TOML"),
        ("list.yaml", "- a\n- b\n", "expected a table"),
        (
            "dup.yaml",
            "name: e\nname: f\ndata_dir: /x\ncluster_token: t-0123456789abcdefghij-t\n",
            "duplicate key 'name'",
        ),
        ("unknown.toml", _BASE + "bogus = 1\n", "'bogus'"),
        ("port.toml", _BASE + "port = 'x'\n", "$.port"),
        ("range.toml", _BASE + "port = 70000\n", "port"),
        ("size.toml", _BASE + "max_bytes = 'lots'\n", "max_bytes"),
        ("inf.toml", _BASE + "shutdown_timeout_s = inf\n", "shutdown_timeout_s"),
        ("nan.toml", _BASE + "hold_timeout_s = nan\n", "hold_timeout_s"),
        (
            "name.toml",
            "name = 'a/b'\ndata_dir = '/x'\ncluster_token = 't-0123456789abcdefghij-t'\n",
            "name",
        ),
        ("cfg.ini", _BASE, "unknown config file format"),
    ],
)
def test_bad_daemon_config_files(tmp_path: Path, name: str, text: str, mention: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_edge_config(path, env={})
    assert mention in str(info.value)
    assert "\n" not in str(info.value)


def test_non_utf8_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe= 1")
    for loader in (load_topology, lambda p: load_edge_config(p, env={})):
        with pytest.raises(ConfigError, match="not UTF-8"):
            loader(path)
        with pytest.raises(ConfigError, match="cannot read"):
            loader(tmp_path / "missing.toml")
        with pytest.raises(ConfigError, match="cannot read"):
            loader(tmp_path)


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        (
            "edges:\n  a: {url: 'http://x', token: t}\n  a: {url: 'http://y', token: t}\n",
            "duplicate key 'a'",
        ),
        ("edges:\n  'bad name!': {url: 'http://x', token: t}\n", "'bad name!'"),
        ("edges:\n  a: {url: 'http://', token: t}\n", "edges.a"),
        ("edges:\n  a: {url: 'ftp://x', token: t}\n", "edges.a"),
        ("edges:\n  a: {url: 'http://x', token: ''}\n", "edges.a"),
        ("edges:\n  a: {url: 'http://x', token: t, extra: 1}\n", "extra"),
        ("edges: 5\n", "edges"),
        ("nodes: {}\n", "unknown key"),
    ],
)
def test_bad_topology_files(tmp_path: Path, text: str, mention: str) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_topology(path)
    assert mention in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("EDGE_ACTORS_PORT", "x"),
        ("EDGE_ACTORS_PORT", "70000"),
        ("EDGE_ACTORS_MAX_BYTES", "-1"),
        ("EDGE_ACTORS_HOLD_TIMEOUT_S", "nan"),
        ("EDGE_ACTORS_MAX_WORKLOADS", "1.5"),
        ("EDGE_ACTORS_NAME", ""),
    ],
)
def test_bad_environment_overrides_name_the_variable(var: str, value: str) -> None:
    env = {
        "EDGE_ACTORS_NAME": "e",
        "EDGE_ACTORS_DATA_DIR": "/x",
        "EDGE_ACTORS_CLUSTER_TOKEN": "t-0123456789abcdefghij-t",
    }
    with pytest.raises(ConfigError, match=var):
        load_edge_config(None, env={**env, var: value})


def test_edge_config_constructor_refuses_bad_values() -> None:
    for bad in (
        {"name": ""},
        {"name": "x" * 64},
        {"hold_timeout_s": float("inf")},
        {"port": -1},
        {"max_bytes": -1},
        {"public_url": "ftp://x"},
    ):
        kwargs = {"name": "e", "data_dir": "/x", "cluster_token": "t-0123456789abcdefghij-t", **bad}
        with pytest.raises(ConfigError, match=next(iter(bad))):
            EdgeConfig(**kwargs)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    value=st.one_of(
        st.text(max_size=30),
        st.floats(),
        st.integers(min_value=-(10**400), max_value=10**400),
    )
)
def test_units_never_raise_anything_but_config_error(value: object) -> None:
    for parse in (parse_duration, parse_size, parse_bandwidth_bps):
        try:
            result = parse(value)  # type: ignore[arg-type]
        except ConfigError as exc:
            message = str(exc)
        else:
            message = ""
            assert result >= 0
            assert result == result
            assert result != float("inf")
        assert len(message) < 300


# -- the CLI, as a subprocess -----------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_actors.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "EDGE_ACTORS_CLUSTER_TOKEN": "t-0123456789abcdefghij-t", **(env or {})},
        check=False,
    )


def _one_error_line(result: subprocess.CompletedProcess[str], code: int, *mentions: str) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "usage:" not in result.stderr
    for part in mentions:
        assert part in lines[0], (part, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def garbage_daemon() -> Iterator[str]:
    """An HTTP server that answers every request with an HTML page (not a daemon)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _page(self) -> None:
            body = b"<!DOCTYPE html>\n<html>\n<body>\n<h1>Welcome</h1>\n</body>\n</html>\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _page

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_top_level_errors_are_one_line_and_help_is_intact() -> None:
    _one_error_line(_cli(), 2, "a command is required", "--help")
    _one_error_line(_cli("bogus"), 2, "invalid choice: 'bogus'", "--help")
    _one_error_line(_cli("--bogus"), 2, "--bogus")
    helped = _cli("--help")
    assert helped.returncode == 0
    assert "usage: edge-actors" in helped.stdout
    assert "daemon" in helped.stdout
    assert "rollback" in helped.stdout


_PLAN: tuple[str, ...] = ("plan", "--source", "a", "--target", "b", "--workload", "w")
_PLAN += ("--daemon", "http://127.0.0.1:9")


@pytest.mark.parametrize(
    ("args", "mention"),
    [
        (("daemon", "--port", "x"), "--port"),
        (("daemon", "--bogus"), "--bogus"),
        (("daemon", "--name", "e", "--data-dir", "/tmp/x", "--max-bytes", "lots"), "max_bytes"),
        (("daemon", "--name", "e", "--data-dir", "/tmp/x", "--log-level", "loud"), "--log-level"),
        (("daemon", "--config", "/nonexistent/edge.toml"), "cannot read"),
        (("daemon", "--name", "e", "--data-dir", "/tmp/x", "--topology", "t.toml"), "--topology"),
        (("demo", "--log-level", "loud"), "--log-level"),
        (("demo", "--bandwidth-mbps", "inf"), "--bandwidth-mbps"),
        (("demo", "--records", "x"), "--records"),
        (("plan", "--source", "a"), "--target"),
        (("list", "--daemon", "http://127.0.0.1:9", "--timeout", "inf"), "--timeout"),
        (("list", "--daemon", "http://127.0.0.1:9", "--timeout", "nan"), "--timeout"),
        (("list", "--daemon", "http://127.0.0.1:9", "--timeout", "-1"), "--timeout"),
        (
            ("status", "m", "--daemon", "http://127.0.0.1:9", "--wait-timeout", "nan"),
            "--wait-timeout",
        ),
        (("status", "m", "--daemon", "notaurl"), "--daemon"),
        ((*_PLAN, "--bandwidth-mbps", "inf"), "--bandwidth-mbps"),
        ((*_PLAN, "--constraint", "max_downtime=soon"), "max_downtime"),
        (("health", "--timeout", "inf", "--daemon", "http://127.0.0.1:9"), "timeout"),
        (("health", "--topology", "/nonexistent.toml"), "cannot read"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: tuple[str, ...], mention: str) -> None:
    _one_error_line(_cli(*args), 2, mention)


def test_daemon_answering_garbage_is_one_line_exit_1(garbage_daemon: str) -> None:
    for args in (
        ("list", "--daemon", garbage_daemon),
        ("status", "mig-1", "--daemon", garbage_daemon),
        ("plan", "--source", "a", "--target", "b", "--workload", "w", "--daemon", garbage_daemon),
        ("rollback", "mig-1", "--daemon", garbage_daemon, "--no-wait"),
    ):
        _one_error_line(_cli(*args), 1, "invalid_answer")


def test_workload_on_a_non_daemon_is_one_line_exit_1(garbage_daemon: str) -> None:
    for action in ("create", "list"):
        args = ("workload", action, *(["w"] if action == "create" else []))
        _one_error_line(_cli(*args, "--daemon", garbage_daemon), 1, "is not an edge daemon")


def test_unreachable_daemon_is_one_line_exit_1() -> None:
    _one_error_line(_cli("list", "--daemon", "http://127.0.0.1:9"), 1, "cannot reach")
    health = _cli("health", "--daemon", "http://127.0.0.1:9", "--timeout", "2")
    assert health.returncode == 1
    assert "Traceback" not in health.stderr + health.stdout
    assert len(health.stdout.strip().splitlines()) == 1
    assert "unreachable" in health.stdout


def test_health_of_a_non_daemon_prints_one_line_per_edge(garbage_daemon: str) -> None:
    result = _cli("health", "--daemon", garbage_daemon, "--timeout", "5")
    assert result.returncode == 1, result
    assert len(result.stdout.strip().splitlines()) == 1, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
