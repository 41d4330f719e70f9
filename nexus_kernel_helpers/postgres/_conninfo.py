"""Connection URLs: parse them, mask their passwords, keep secrets out of messages."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..errors import ConfigurationError

MASK = "***"

_SCHEME = re.compile(r"^(postgres(?:ql)?)(\+[a-z0-9_]+)?://", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"^([a-z0-9+]+://[^:/@?#]*):([^@/?#]*)@", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", re.IGNORECASE)


def mask_url(url: str) -> str:
    """Return `url` with any password replaced by `***`, in URL or keyword form."""
    masked = _URL_PASSWORD.sub(rf"\1:{MASK}@", url)
    return _KEYWORD_PASSWORD.sub(rf"\1{MASK}", masked)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each secret (and its URL-quoted form) in `text`."""
    for secret in secrets:
        if not secret:
            continue
        for form in {secret, quote(secret, safe="")}:
            text = text.replace(form, MASK)
    return mask_url(text)


def normalize_url(url: str) -> str:
    """Turn a SQLAlchemy-style URL (`postgresql+psycopg://`) into a libpq one."""
    return _SCHEME.sub("postgresql://", url.strip(), count=1)


def parse_url(url: str) -> dict[str, str]:
    """Parse a libpq URL or keyword string into its parameters; never echo the password."""
    text = normalize_url(url)
    if not text:
        raise ConfigurationError("the database URL is empty: set NEXUS_DATABASE_URL or url=")
    if "://" in text and not text.startswith("postgresql://"):
        scheme = text.split("://", 1)[0]
        raise ConfigurationError(
            f"{scheme + '://'!r} is not a PostgreSQL URL: use postgresql://user@host:5432/dbname"
        )
    try:
        params = conninfo_to_dict(text)
    except psycopg.ProgrammingError as error:
        reason = redact(str(error).splitlines()[0], [_password_guess(text)])
        raise ConfigurationError(
            f"can't parse database URL {mask_url(text)!r}: {reason}; "
            "expected postgresql://user:password@host:5432/dbname"
        ) from None
    return {name: str(value) for name, value in params.items() if value is not None}


def build_conninfo(params: dict[str, str]) -> str:
    """Build a libpq keyword string from parameters."""
    return make_conninfo("", **params)


def _password_guess(text: str) -> str | None:
    match = _URL_PASSWORD.match(text)
    return match.group(2) if match else None
