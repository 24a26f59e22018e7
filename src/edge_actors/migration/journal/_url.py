"""Journal locations: parsing a path or URL, and redacting its password (layer: migration).

A journal is named by one string, the same on the command line (``--journal``), in the
daemon's config file (``journal``) and in the environment (``EDGE_ACTORS_JOURNAL``):

* a path, or ``sqlite:///abs/path`` (``sqlite:relative/path``): the SQLite journal in
  that file (a directory: ``migrations.sqlite`` inside it);
* ``postgresql://user@host:port/db`` (or ``postgres://``): the PostgreSQL journal.

Anything else is a :class:`~edge_actors.errors.ConfigError` naming the value with its
password redacted (:func:`redact_url`): no message or log shows a password.
"""

from __future__ import annotations

import urllib.parse
from typing import Literal

import msgspec

from edge_actors.errors import ConfigError

__all__ = ["JOURNAL_ENV", "JournalUrl", "parse_journal_url", "redact_secrets", "redact_url"]

JOURNAL_ENV = "EDGE_ACTORS_JOURNAL"
"""The environment variable naming the journal (a path or a URL)."""

_POSTGRES_SCHEMES = frozenset(("postgresql", "postgres"))
_REDACTED = "***"


class JournalUrl(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed journal location.

    Attributes:
        kind: which backend.
        path: the SQLite file (``sqlite`` only).
        dsn: the PostgreSQL URL, as given (``postgresql`` only; may hold a password).
        display: the location with any password redacted, for messages and logs.
    """

    kind: Literal["sqlite", "postgresql"]
    display: str
    path: str | None = None
    dsn: str | None = None


def redact_url(url: str) -> str:
    """``url`` with the password of its user info and of a ``password=`` query replaced.

    A string that is not a URL comes back unchanged.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return _REDACTED  # unparseable: show nothing rather than a secret
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}{':' + _REDACTED if colon else ''}@{hostport}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        if any(key.lower() in ("password", "sslpassword") for key, _ in pairs):
            query = "&".join(
                f"{key}={_REDACTED if key.lower() in ('password', 'sslpassword') else value}"
                for key, value in pairs
            )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def parse_journal_url(value: object, field: str = "journal") -> JournalUrl:
    """Parse a journal location (see the module doc).

    Args:
        value: a path or a URL.
        field: the setting's name, for the error message.

    Raises:
        ConfigError: not a string, empty, or an unsupported scheme (naming the redacted
            value).
    """
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{field}: expected a path, sqlite:///PATH or postgresql://... URL, got {value!r}"
            if not isinstance(value, str)
            else f"{field}: expected a path, sqlite:///PATH or postgresql://... URL, got ''"
        )
    text = value.strip()
    scheme, colon, _rest = text.partition(":")
    if not colon or "/" in scheme or "\\" in scheme:
        return JournalUrl(kind="sqlite", path=text, display=text)  # a plain path
    scheme = scheme.lower()
    if scheme in _POSTGRES_SCHEMES:
        display = redact_url(text)
        parts = urllib.parse.urlsplit(text)
        try:
            parts.port  # noqa: B018 (validates the port)
        except ValueError:
            raise ConfigError(f"{field}: bad port in {display!r}") from None
        return JournalUrl(kind="postgresql", dsn=text, display=display)
    if scheme == "sqlite":
        parts = urllib.parse.urlsplit(text)
        if parts.netloc or not parts.path:
            raise ConfigError(
                f"{field}: {redact_url(text)!r} is not a SQLite URL (sqlite:///ABSOLUTE/PATH "
                "or sqlite:RELATIVE/PATH)"
            )
        path = urllib.parse.unquote(parts.path)
        return JournalUrl(kind="sqlite", path=path, display=f"sqlite://{path}")
    raise ConfigError(
        f"{field}: unsupported journal {redact_url(text)!r} (expected a path, "
        "sqlite:///PATH or a postgresql:// URL)"
    )


def redact_secrets(text: str, dsn: str, password: str | None = None) -> str:
    """``text`` (an error message) with ``dsn``'s password and ``password`` replaced."""
    secrets = [password] if password else []
    try:
        url_password = urllib.parse.urlsplit(dsn).password
    except ValueError:
        url_password = None
    if url_password:
        secrets += [url_password, urllib.parse.unquote(url_password)]
    text = text.replace(dsn, redact_url(dsn))
    for secret in secrets:
        text = text.replace(secret, _REDACTED)
    return text
