"""A real PostgreSQL server for the tests and benchmarks, from the binaries ``pgserver`` ships.

``pgserver`` (a dev dependency) bundles the PostgreSQL server; this module runs its
``initdb`` and ``postgres`` directly, as a plain subprocess the caller owns, so a test can
listen on TCP at a chosen address (another network namespace included), ``kill -9`` it,
SIGSTOP it or restart it on the same data directory. As root, PostgreSQL refuses to run,
so the server runs as the unprivileged ``pgserver`` user that ``pgserver`` itself uses
(created if missing). Start-up takes well under a second here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = [
    "Databases",
    "PostgresServer",
    "PostgresUnavailable",
    "postgres_server",
    "postgres_unavailable",
]

_SYSTEM_USER = "pgserver"
_READY_TIMEOUT_S = 30.0


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here (the reason says why); tests skip with it."""


def postgres_unavailable(exc: PostgresUnavailable) -> NoReturn:
    """Skip a PostgreSQL test where the server cannot run; fail it in CI (``CI`` set),
    where the dev install ships the server, so a green run never hides untested HA code."""
    message = f"PostgreSQL is not available here: {exc}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _bin_dir() -> Path:
    # Found without importing ``pgserver``: its import warns (XDG_RUNTIME_DIR), and the
    # tests turn warnings into errors.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresUnavailable("the pgserver package (dev extra) is not installed")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise PostgresUnavailable(f"pgserver ships no postgres binary at {bin_dir}")
    return bin_dir


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _as_user() -> tuple[int, int] | None:
    """The (uid, gid) to run PostgreSQL as when this process is root, else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", _SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(_SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def _make_readable(bin_dir: Path) -> None:
    """Let the unprivileged user traverse to and run the bundled binaries and libraries."""
    install = bin_dir.parent
    for path in (install, *install.parents):
        mode = path.stat().st_mode
        if mode & 0o055 != 0o055:
            path.chmod(mode | 0o055)
        if path == path.parent:
            break
    for root, dirs, files in os.walk(install):
        for name in dirs + files:
            path = Path(root) / name
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            wanted = mode | 0o044 | (0o011 if mode & 0o100 or path.is_dir() else 0)
            if wanted != mode:
                path.chmod(wanted)


@dataclass
class PostgresServer:
    """One PostgreSQL server process on ``host:port`` with its data in ``data_dir``.

    ``url`` connects as the ``postgres`` superuser (trust authentication: the server
    listens only where the test puts it) to database ``postgres``.
    """

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    netns: str | None = None
    password: str | None = field(default=None, repr=False)
    """With a password, TCP logins need it (``scram-sha-256``); else trust."""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not running"
        return self.process.pid

    def _run_as(self) -> tuple[int, int] | None:
        return _as_user()

    def _prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns] if self.netns else []

    def init(self) -> None:
        """Create the data directory with ``initdb`` if it holds no cluster yet."""
        bin_dir = _bin_dir()
        owner = self._run_as()
        if owner is not None:
            _make_readable(bin_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if owner is not None:
            for path in (self.data_dir, *self.data_dir.parents):
                if path.stat().st_mode & 0o011 != 0o011 and path != self.data_dir:
                    path.chmod(path.stat().st_mode | 0o011)
                if path == path.parent:
                    break
            os.chown(self.data_dir, *owner)
        self.data_dir.chmod(0o700)
        if (self.data_dir / "PG_VERSION").exists():
            return
        auth = ["--auth=trust"]
        if self.password is not None:
            pwfile = self.data_dir.parent / f"{self.data_dir.name}.pw"
            pwfile.write_text(self.password)
            if owner is not None:
                os.chown(pwfile, *owner)
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        done = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                *auth,
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=False,
            capture_output=True,
            user=owner[0] if owner else None,
            group=owner[1] if owner else None,
        )
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip()
            raise RuntimeError(f"initdb of {self.data_dir} exited {done.returncode}: {said}")

    def start(self, extra: Sequence[str] = ()) -> None:
        """Start ``postgres`` and wait until it accepts TCP connections."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("the server is already running")
        self.init()
        if not self.port:
            self.port = _free_port(self.host) if self.netns is None else 5432
        owner = self._run_as()
        log = (self.data_dir.parent / f"{self.data_dir.name}.log").open("ab")
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / "postmaster.pid").unlink()
        prefix = self._prefix()
        if prefix and owner is not None:
            # ``ip netns exec`` needs root: enter the namespace first, then drop to the user.
            prefix += ["setpriv", f"--reuid={owner[0]}", f"--regid={owner[1]}", "--clear-groups"]
            owner = None
        self.process = subprocess.Popen(
            [
                *prefix,
                str(_bin_dir() / "postgres"),
                "-D",
                str(self.data_dir),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-k",
                "",
                "-c",
                "fsync=on",
                "-c",
                "max_connections=200",
                *extra,
            ],
            stdout=log,
            stderr=log,
            user=owner[0] if owner else None,
            group=owner[1] if owner else None,
            start_new_session=True,
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        bin_dir = _bin_dir()
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise PostgresUnavailable(
                    f"postgres exited with {self.process.returncode}: {self.log_tail()}"
                )
            ready = subprocess.run(
                [
                    *self._prefix(),
                    str(bin_dir / "pg_isready"),
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-t",
                    "1",
                ],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.05)
        raise PostgresUnavailable(f"postgres did not accept connections: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        log = self.data_dir.parent / f"{self.data_dir.name}.log"
        if not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the postmaster (SIGKILL, SIGSTOP, SIGCONT, ...)."""
        assert self.process is not None, "the server is not running"
        os.kill(self.process.pid, signum)

    def kill(self) -> None:
        """``kill -9`` the whole server (postmaster and backends) and reap it."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        """Fast shutdown (SIGINT): backends are ended, the data is consistent."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None


@contextlib.contextmanager
def postgres_server(
    base: Path, *, host: str = "127.0.0.1", netns: str | None = None
) -> Iterator[PostgresServer]:
    """Run a fresh PostgreSQL server under ``base`` for the duration of the block."""
    server = PostgresServer(data_dir=base / "pgdata", host=host, netns=netns)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)


class Databases:
    """Hands out a fresh, empty database on one shared server for each test."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self._count = 0

    def create(self) -> str:
        """Create a new database and return its URL."""
        self._count += 1
        name = f"t{os.getpid()}_{self._count}"
        subprocess.run(
            [
                str(_bin_dir() / "psql"),
                "-h",
                self.server.host,
                "-p",
                str(self.server.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                f"CREATE DATABASE {name}",
            ],
            check=True,
            capture_output=True,
        )
        return f"postgresql://postgres@{self.server.host}:{self.server.port}/{name}"
