"""``EDGE_ACTORS_SUPERVISOR``: the setting, its credential, and its refusals.

The end-to-end paths (a script through a follower replica, pause/resume) are in
``tests/ha/test_local_runtime.py``; here the configuration's own checks, and an
environment against a real daemon that refuses the credential or does not answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from edge_actors.edge import EdgeConfig, EdgeDaemon
from edge_actors.errors import ConfigError
from edge_actors.runtime import EdgeEnvironment, EnvironmentConfig
from edge_actors.runtime._remote_supervisor import RemoteSupervisor, SupervisorUnreachable

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"
URL = "http://127.0.0.1:9"


def test_from_env_reads_the_supervisor_and_its_token(tmp_path: Path) -> None:
    config = EnvironmentConfig.from_env(
        {"EDGE_ACTORS_SUPERVISOR": URL, "EDGE_ACTORS_CLUSTER_TOKEN": f" {TOKEN}\n"}
    )
    assert (config.supervisor, config.cluster_token, config.token()) == (URL, TOKEN, TOKEN)
    assert not config.embedded
    assert TOKEN not in repr(config)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    config = EnvironmentConfig.from_env(
        {"EDGE_ACTORS_SUPERVISOR": URL, "EDGE_ACTORS_CLUSTER_TOKEN_FILE": str(token_file)}
    )
    assert (config.cluster_token, config.token()) == (None, TOKEN)


def test_the_token_is_read_only_for_a_supervisor() -> None:
    config = EnvironmentConfig.from_env({"EDGE_ACTORS_CLUSTER_TOKEN": TOKEN})
    assert (config.supervisor, config.cluster_token) == (None, None)
    assert config.embedded


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EDGE_ACTORS_SUPERVISOR": URL}, "EDGE_ACTORS_CLUSTER_TOKEN or"),
        (
            {"EDGE_ACTORS_SUPERVISOR": "sup-a:8080", "EDGE_ACTORS_CLUSTER_TOKEN": TOKEN},
            "expected a supervisor daemon's http",
        ),
        (
            {"EDGE_ACTORS_SUPERVISOR": "http://", "EDGE_ACTORS_CLUSTER_TOKEN": TOKEN},
            "expected a supervisor daemon's http",
        ),
        (
            {
                "EDGE_ACTORS_SUPERVISOR": URL,
                "EDGE_ACTORS_CLUSTER_TOKEN": TOKEN,
                "EDGE_ACTORS_JOURNAL": "postgresql://u@db/edge",
            },
            "give one; with a supervisor daemon the journal is that daemon's",
        ),
        (
            {"EDGE_ACTORS_SUPERVISOR": URL, "EDGE_ACTORS_CLUSTER_TOKEN": "short"},
            "too weak",
        ),
    ],
)
def test_bad_supervisor_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        EnvironmentConfig.from_env(env)
    assert "EDGE_ACTORS_SUPERVISOR" in str(caught.value) or "cluster_token" in str(caught.value)


def test_token_and_token_file_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="give one, not both"):
        EnvironmentConfig(supervisor=URL, cluster_token=TOKEN, cluster_token_file="f")


async def test_a_wrong_credential_is_named_on_entry(tmp_path: Path) -> None:
    config = EdgeConfig(name="sup", data_dir=str(tmp_path / "sup"), cluster_token=TOKEN)
    async with EdgeDaemon(config) as daemon:
        env = EdgeEnvironment(
            EnvironmentConfig(supervisor=daemon.url, cluster_token="x" * 8 + TOKEN[8:] + "-zz")
        )
        with pytest.raises(ConfigError, match="refused the admin credential"):
            await env.__aenter__()


async def test_a_supervisor_that_does_not_answer_is_named() -> None:
    supervisor = RemoteSupervisor(URL, TOKEN, retry_s=0.3)  # nothing listens on port 9
    with pytest.raises(SupervisorUnreachable, match=URL):
        await supervisor.__aenter__()
