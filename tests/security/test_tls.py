"""Issue 11, "TLS with a private CA": daemons trust a private CA for the edges they call
(``tls_ca``, no ``SSL_CERT_FILE``), and with ``tls_client_ca`` require client
certificates it signed (mutual TLS); the recipe of docs/security.md, run for real."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import aiohttp
import anyio
import msgspec
import pytest

from edge_actors.edge import (
    AdminClient,
    EdgeClient,
    EdgeConfig,
    EdgeDaemon,
    EdgeEndpoint,
    HttpEdgeGateway,
    Topology,
    load_topology,
)
from edge_actors.errors import ConfigError
from edge_actors.migration import CutoverSpec
from edge_actors.migration._gateway import TransferRequest
from edge_actors.transfer import TransferSpec
from support.daemons import daemon_subprocess

from .conftest import ADMIN

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command"),
]


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _private_ca(tmp_path: Path) -> dict[str, str]:
    """A private CA, a server certificate for 127.0.0.1 and a client certificate."""
    ca_key, ca = tmp_path / "ca.key", tmp_path / "ca.pem"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key),
             "-out", str(ca), "-days", "1", "-subj", "/CN=edge-actors test CA")  # fmt: skip
    files = {"ca": str(ca)}
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "")):
        key, csr, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.csr", tmp_path / name
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
                 "-subj", f"/CN={name}")  # fmt: skip
        extfile = tmp_path / f"{name}.ext"
        extfile.write_text(ext + "\n" if ext else "basicConstraints=CA:FALSE\n")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
                 "-CAcreateserial", "-out", str(cert), "-days", "1",
                 "-extfile", str(extfile))  # fmt: skip
        files[name], files[f"{name}_key"] = str(cert), str(key)
    return files


def _cli_env() -> dict[str, str]:
    """The admin token, and no ``SSL_CERT_FILE``: trust comes from the options alone."""
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    env["EDGE_ACTORS_CLUSTER_TOKEN"] = ADMIN
    env.pop("EDGE_ACTORS_DAEMON", None)
    return env


async def _cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    """``python -m edge_actors.cli ARGS`` (see :func:`_cli_env`)."""
    with anyio.fail_after(60):
        return await anyio.run_process(
            [sys.executable, "-m", "edge_actors.cli", *args], check=False, env=_cli_env()
        )


@asynccontextmanager
async def _daemon_process(*args: str) -> AsyncIterator[str]:
    """``edge-actors daemon ARGS`` as a subprocess; yield its URL (killed at exit)."""
    command = [sys.executable, "-m", "edge_actors.cli", "daemon", "--port", "0", *args]
    async with daemon_subprocess(command, env=_cli_env()) as (_, url):
        yield url


def _config(tmp_path: Path, name: str, pki: dict[str, str], *, mutual: bool) -> EdgeConfig:
    return EdgeConfig(
        name=name,
        data_dir=str(tmp_path / name),
        cluster_token=ADMIN,
        tls_cert=pki["server"],
        tls_key=pki["server_key"],
        tls_ca=pki["ca"],
        tls_client_ca=pki["ca"] if mutual else None,
        shutdown_timeout_s=2.0,
    )


def _client_context(pki: dict[str, str], *, with_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca"])
    if with_cert:
        context.load_cert_chain(pki["client"], pki["client_key"])
    return context


@asynccontextmanager
async def _two_edges(
    tmp_path: Path, pki: dict[str, str], *, mutual: bool
) -> AsyncIterator[tuple[EdgeDaemon, EdgeDaemon, AdminClient, AdminClient]]:
    """``edge-west`` and ``edge-east`` over TLS, and an admin client of each."""
    trust = _client_context(pki, with_cert=True)
    async with (
        EdgeDaemon(_config(tmp_path, "edge-west", pki, mutual=mutual)) as west,
        EdgeDaemon(_config(tmp_path, "edge-east", pki, mutual=mutual)) as east,
        AdminClient(west.url, ADMIN, ssl_context=trust) as admin_west,
        AdminClient(east.url, ADMIN, ssl_context=trust) as admin_east,
    ):
        yield west, east, admin_west, admin_east


@pytest.mark.parametrize("mutual", [False, True])
async def test_a_migration_between_edges_with_a_private_ca(tmp_path: Path, mutual: bool) -> None:
    pki = _private_ca(tmp_path)
    trust = _client_context(pki, with_cert=True)
    async with _two_edges(tmp_path, pki, mutual=mutual) as (west, east, admin_west, admin_east):
        assert west.url.startswith("https://")
        await admin_west.create_workload("orders")
        await admin_east.create_workload("orders", "incoming", migration_id="mig-1")
        async with EdgeClient(west.url, token=ADMIN, ssl_context=trust) as client:
            await client.batch("orders", [(f"k{i}", b"v") for i in range(20)])
        topology = Topology(
            {"edge-west": EdgeEndpoint(west.url, ADMIN), "edge-east": EdgeEndpoint(east.url, ADMIN)}
        )
        async with HttpEdgeGateway(topology, ssl_context=trust) as gateway:
            request = TransferRequest(
                transfer_id="t-1", migration_id="mig-1", workload="orders", from_lsn=0
            )
            synced = await gateway.transfer("edge-west", "edge-east", request, lambda _: None)
            assert synced.state == "done", synced.error  # west verified east by the CA
            cut = CutoverSpec(
                transfer_id="t-2", migration_id="mig-1", workload="orders",
                from_lsn=synced.acked_lsn,
            )  # fmt: skip
            result = await gateway.cutover("edge-west", "edge-east", cut)
        assert result.target_lsn == 20
        assert (await admin_east.workload("orders")).status == "active"


async def test_mutual_tls_refuses_a_client_without_a_certificate(tmp_path: Path) -> None:
    pki = _private_ca(tmp_path)
    async with EdgeDaemon(_config(tmp_path, "edge-m", pki, mutual=True)) as daemon:
        without = _client_context(pki, with_cert=False)
        async with AdminClient(daemon.url, ADMIN, ssl_context=without) as admin:
            with pytest.raises(aiohttp.ClientError):
                await admin.health()
        async with AdminClient(
            daemon.url, ADMIN, ssl_context=_client_context(pki, with_cert=True)
        ) as admin:
            assert (await admin.health()).name == "edge-m"


async def test_a_client_that_does_not_trust_the_private_ca_is_refused(tmp_path: Path) -> None:
    pki = _private_ca(tmp_path)
    async with (
        EdgeDaemon(_config(tmp_path, "edge-t", pki, mutual=False)) as daemon,
        AdminClient(daemon.url, ADMIN) as admin,
    ):
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await admin.health()


async def test_without_tls_ca_an_edge_does_not_trust_its_peer(tmp_path: Path) -> None:
    """The defect ``tls_ca`` closes: the system store does not know a private CA."""
    pki = _private_ca(tmp_path)
    trust = _client_context(pki, with_cert=False)
    west_config = _config(tmp_path, "edge-west", pki, mutual=False)
    west_config = EdgeConfig(**{**msgspec.structs.asdict(west_config), "tls_ca": None})
    async with (
        EdgeDaemon(west_config) as west,
        EdgeDaemon(_config(tmp_path, "edge-east", pki, mutual=False)) as east,
        AdminClient(west.url, ADMIN, ssl_context=trust) as admin_west,
        AdminClient(east.url, ADMIN, ssl_context=trust) as admin_east,
    ):
        await admin_west.create_workload("orders")
        await admin_east.create_workload("orders", "incoming")
        spec = TransferSpec(
            transfer_id="t-1", migration_id="mig-1", workload="orders", target_name="edge-east",
            target_url=east.url, target_token=ADMIN, from_lsn=0, max_retries=0,
        )  # fmt: skip
        failed = await admin_west.run_transfer(spec)
        assert failed.state == "failed"
        assert "CERTIFICATE_VERIFY_FAILED" in (failed.error or "")


async def test_the_health_command_trusts_a_private_ca_with_tls_ca(tmp_path: Path) -> None:
    pki = _private_ca(tmp_path)
    async with EdgeDaemon(_config(tmp_path, "edge-h", pki, mutual=True)) as daemon:
        base = ("health", "--daemon", daemon.url, "--timeout", "10")
        mtls = ("--tls-cert", pki["client"], "--tls-key", pki["client_key"])
        trusted = await _cli(*base, "--tls-ca", pki["ca"], *mtls)
        assert trusted.returncode == 0, trusted.stderr
        assert trusted.stdout.decode().startswith("edge-h: healthy | latency ")  # its name

        untrusted = await _cli(*base, *mtls)
        assert untrusted.returncode == 1
        assert untrusted.stdout.decode().startswith(f"{daemon.url}: unreachable (")
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stdout.decode()

        topology = tmp_path / "topology.toml"
        topology.write_text(
            f'tls_ca = "{pki["ca"]}"\n[edges.edge-h]\nurl = "{daemon.url}"\ntoken = "{ADMIN}"\n'
        )
        by_topology = await _cli("health", "--topology", str(topology), *mtls)
        assert by_topology.returncode == 0, by_topology.stdout
        assert by_topology.stdout.decode().startswith("edge-h: healthy | latency ")

        half = await _cli(*base, "--tls-ca", pki["ca"], "--tls-cert", pki["client"])
        assert half.returncode == 2
        assert "--tls-cert, --tls-key: give both or neither" in half.stderr.decode()


def test_a_topology_names_a_ca_for_all_edges_and_one_edge_overrides_it(tmp_path: Path) -> None:
    pki = _private_ca(tmp_path)
    other = tmp_path / "other-ca.pem"
    other.write_bytes((tmp_path / "ca.pem").read_bytes())
    path = tmp_path / "topology.toml"
    path.write_text(
        f'tls_ca = "{pki["ca"]}"\n'
        f'[edges.edge-west]\nurl = "https://127.0.0.1:1/"\ntoken = "{ADMIN}"\n'
        f'[edges.edge-east]\nurl = "https://127.0.0.1:2"\ntoken = "{ADMIN}"\n'
        f'tls_ca = "{other}"\n'
    )
    topology = load_topology(path)
    assert topology["edge-west"] == EdgeEndpoint("https://127.0.0.1:1", ADMIN, pki["ca"])
    assert topology["edge-east"].tls_ca == str(other)
    assert topology.with_edge("x", EdgeEndpoint("https://h:3/", ADMIN, "ca"))["x"].tls_ca == "ca"

    path.write_text(f'tls_ca = "{tmp_path / "missing.pem"}"\n[edges]\n')
    with pytest.raises(ConfigError, match=r"topology.toml: tls_ca: cannot load the CA bundle"):
        load_topology(path)
    path.write_text(
        f'[edges.edge-west]\nurl = "https://h:1"\ntoken = "{ADMIN}"\ntls_ca = "{path}"\n'
    )
    with pytest.raises(ConfigError, match=r"edges.edge-west: tls_ca: cannot load the CA bundle"):
        load_topology(path)


@pytest.mark.parametrize("mutual", [False, True])
async def test_a_supervisor_trusts_the_ca_its_topology_names(tmp_path: Path, mutual: bool) -> None:
    """The supervisor daemon has no ``tls_ca`` and no ``SSL_CERT_FILE``: the topology's CA
    alone lets it drive a migration between two edges signed by the private CA (under
    mutual TLS it also presents its own certificate, from ``tls_cert`` / ``tls_key``)."""
    pki = _private_ca(tmp_path)
    trust = _client_context(pki, with_cert=True)
    async with _two_edges(tmp_path, pki, mutual=mutual) as (west, east, admin_west, admin_east):
        await admin_west.create_workload("orders")
        async with EdgeClient(west.url, token=ADMIN, ssl_context=trust) as client:
            await client.batch("orders", [(f"k{i}", b"v") for i in range(50)])
        digest = (await admin_west.workload("orders")).digest
        topology = tmp_path / "topology.toml"
        topology.write_text(
            f'tls_ca = "{pki["ca"]}"\n'
            f'[edges.edge-west]\nurl = "{west.url}"\ntoken = "{ADMIN}"\n'
            f'[edges.edge-east]\nurl = "{east.url}"\ntoken = "{ADMIN}"\n'
        )
        server = ("--tls-cert", pki["server"], "--tls-key", pki["server_key"])
        own_tls = (*server, "--tls-client-ca", pki["ca"]) if mutual else ()
        async with _daemon_process(
            "--name", "edge-sup", "--data-dir", str(tmp_path / "edge-sup"),
            "--supervisor", "--topology", str(topology), *own_tls,
        ) as supervisor:  # fmt: skip
            cli_tls = ("--tls-ca", pki["ca"], "--tls-cert", pki["client"],
                       "--tls-key", pki["client_key"]) if mutual else ()  # fmt: skip
            migrated = await _cli(
                "migrate", "--daemon", supervisor, "--source", "edge-west",
                "--target", "edge-east", "--workload", "orders", *cli_tls,
            )  # fmt: skip
            assert migrated.returncode == 0, (migrated.stdout, migrated.stderr)
            assert ": completed" in migrated.stdout.decode()
        info = await admin_east.workload("orders")
        assert (info.status, info.digest) == ("active", digest)
