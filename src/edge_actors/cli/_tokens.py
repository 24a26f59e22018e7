"""Tokens for the CLI: from a file or the environment, never from argv (cli layer).

A token on the command line is readable by every local user (``ps``,
``/proc/PID/cmdline``), so ``--token VALUE`` is refused with an error naming the safe
ways: ``--token-file FILE`` or the ``EDGE_ACTORS_CLUSTER_TOKEN`` environment variable.
"""

from __future__ import annotations

import os
import ssl
from typing import TYPE_CHECKING

from edge_actors.edge._credentials import check_token_strength, read_token_file
from edge_actors.errors import ConfigError

if TYPE_CHECKING:
    import argparse

__all__ = [
    "TOKEN_ENV",
    "add_tls_client_flags",
    "add_token_flags",
    "refuse_argv_token",
    "tls_client_context",
    "token_from_args",
]

TOKEN_ENV = "EDGE_ACTORS_CLUSTER_TOKEN"
"""Environment variable holding the cluster (admin) token."""


def add_token_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--token-file`` and the refused ``--token`` (kept only to explain the refusal)."""
    parser.add_argument(
        "--token-file", metavar="FILE", help=f"file holding the cluster token (or {TOKEN_ENV})"
    )
    parser.add_argument("--token", metavar="TOKEN", help="refused: use --token-file or the env")


def add_tls_client_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--tls-ca`` (a private CA) and ``--tls-cert``/``--tls-key`` (mutual TLS)."""
    parser.add_argument("--tls-ca", metavar="FILE", help="PEM CA bundle to trust (private CA)")
    parser.add_argument("--tls-cert", metavar="FILE", help="client certificate (mutual TLS)")
    parser.add_argument("--tls-key", metavar="FILE", help="private key of --tls-cert")


def tls_client_context(
    args: argparse.Namespace, default_ca: str | None = None
) -> ssl.SSLContext | None:
    """The client TLS context of ``--tls-ca`` / ``--tls-cert`` / ``--tls-key``, if any.

    Args:
        args: the parsed flags.
        default_ca: the CA to trust when ``--tls-ca`` is not given (a topology's ``tls_ca``).

    Raises:
        ConfigError: A file cannot be loaded, or only one of ``--tls-cert``/``--tls-key``.
    """
    ca, cert, key = args.tls_ca or default_ca, args.tls_cert, args.tls_key
    if (cert is None) != (key is None):
        raise ConfigError("--tls-cert, --tls-key: give both or neither")
    if ca is None and cert is None:
        return None
    try:
        context = ssl.create_default_context(cafile=ca)
        if cert is not None:
            context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"--tls-ca, --tls-cert, --tls-key: cannot load: {exc}") from None
    return context


def refuse_argv_token(args: argparse.Namespace) -> None:
    """Refuse ``--token VALUE``.

    Raises:
        ConfigError: ``--token`` was given; names ``--token-file`` and the variable.
    """
    if getattr(args, "token", None) is not None:
        raise ConfigError(
            "--token: a token on the command line is visible to every local user (ps, "
            f"/proc/PID/cmdline); use --token-file FILE or set {TOKEN_ENV}"
        )


def token_from_args(args: argparse.Namespace, *, required: bool = True) -> str | None:
    """The token from ``--token-file``, else ``EDGE_ACTORS_CLUSTER_TOKEN``.

    Raises:
        ConfigError: ``--token`` given, the file unreadable, the token weak, or (when
            ``required``) no token at all.
    """
    refuse_argv_token(args)
    if args.token_file is not None:
        return read_token_file(args.token_file, "--token-file")
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        check_token_strength(token, TOKEN_ENV)
        return token
    if required:
        raise ConfigError(f"no cluster token: give --token-file FILE or set {TOKEN_ENV}")
    return None
