"""The Anthropic client: key, model, base URL, and the SDK's errors as one-line `AgentError`s.

The key comes from, in order: `api_key=` given to `Nexus`, `set_key()` (asked with getpass,
kept in this process only), `ANTHROPIC_API_KEY` in the environment, a `.env` file. It is
always passed to the SDK explicitly, so no profile on disk is ever used by surprise. The model
is `NEXUS_MODEL`, else the newest Sonnet the installed SDK lists.
"""

from __future__ import annotations

import getpass
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, get_args
from urllib.parse import urlsplit

from ..config import Settings
from ..postgres._conninfo import redact
from ._errors import AgentError

if TYPE_CHECKING:
    import anthropic

__all__ = [
    "DEFAULT_BASE_URL",
    "agent_error",
    "clear_key",
    "default_model",
    "key_is_set",
    "make_client",
    "newest_model",
    "resolve_key",
    "sdk_models",
    "set_key",
]

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_MAX_RETRIES = 2
_MODEL_ID = re.compile(r"^claude-(?P<family>[a-z]+)-(?P<version>\d+(?:-\d{1,2})*)$")


class _KeyHolder:
    """The key given with `set_key()`: in this process's memory, never on disk or in env."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: str | None = None

    def get(self) -> str | None:
        with self._lock:
            return self._key

    def put(self, key: str | None) -> None:
        with self._lock:
            self._key = key


_held_key = _KeyHolder()


def set_key(key: str | None = None, *, ask: Callable[[str], str] = getpass.getpass) -> None:
    """Keep an Anthropic API key for this kernel (asked with getpass when not given).

    The key stays in this process's memory: not in the environment (child processes would
    inherit it), not in a file, never shown.
    """
    value = key if key is not None else ask("Anthropic API key (kept in this kernel only): ")
    value = value.strip()
    if not value:
        raise AgentError("no key was entered", kind="no_key", fix="run it again and paste the key")
    _held_key.put(value)


def clear_key() -> None:
    """Forget the key given with `set_key()`."""
    _held_key.put(None)


def key_is_set(settings: Settings, explicit: str | None = None) -> bool:
    """Whether some key is available (its value is never shown)."""
    return resolve_key(settings, explicit) is not None


def resolve_key(settings: Settings, explicit: str | None = None) -> str | None:
    """The key to use: explicit, then `set_key()`, then the environment or `.env`."""
    return explicit or _held_key.get() or settings.anthropic_api_key


def sdk_models() -> list[str]:
    """The model ids the installed `anthropic` SDK lists in `anthropic.types.Model`."""
    from anthropic.types import Model

    literal = next(arg for arg in get_args(Model) if get_args(arg))
    return [str(name) for name in get_args(literal)]


def newest_model(family: str = "sonnet", models: list[str] | None = None) -> str:
    """The newest undeprecated model id of `family` (by version number, alias ids only)."""
    from anthropic._data import DEPRECATED_MODELS

    candidates: list[tuple[tuple[int, ...], str]] = []
    for name in sdk_models() if models is None else models:
        match = _MODEL_ID.match(name)
        if match is None or match["family"] != family or name in DEPRECATED_MODELS:
            continue
        # A dated snapshot (claude-x-4-5-20250929) is a pin, not a newer version.
        parts = tuple(int(part) for part in match["version"].split("-"))
        if any(part > 99 for part in parts):
            continue
        candidates.append((parts, name))
    if not candidates:
        raise AgentError(
            f"the installed anthropic SDK lists no {family} model",
            kind="api",
            fix="set NEXUS_MODEL to a model id",
        )
    return max(candidates)[1]


def default_model(settings: Settings) -> str:
    """`NEXUS_MODEL`, else the newest Sonnet the SDK lists."""
    return settings.model or newest_model("sonnet")


def make_client(
    api_key: str,
    *,
    base_url: str | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    timeout_s: float = 120.0,
) -> anthropic.Anthropic:
    """An SDK client with the key passed explicitly (no environment or profile lookup)."""
    import anthropic

    return anthropic.Anthropic(
        api_key=api_key,
        base_url=base_url or None,
        max_retries=max_retries,
        timeout=timeout_s,
    )


def agent_error(  # noqa: PLR0911 - one return per kind of failure
    error: BaseException, *, base_url: str | None, secrets: list[str | None], retries: int
) -> AgentError:
    """An SDK or transport error as a one-line `AgentError` with what to do about it."""
    import anthropic

    where = _host(base_url)
    tried = f" after {retries} {'retry' if retries == 1 else 'retries'}" if retries else ""

    def clean(text: object) -> str:
        return redact(" ".join(str(text).split()), secrets)

    if isinstance(error, anthropic.AuthenticationError):
        return AgentError(
            "The API key was rejected (401 from the Anthropic API)",
            kind="auth",
            fix="check it at console.anthropic.com, then run %nexus_key or set "
            "ANTHROPIC_API_KEY in .env and ask again",
        )
    if isinstance(error, anthropic.PermissionDeniedError):
        return AgentError(
            "this API key may not use the model (403 from the Anthropic API)",
            kind="auth",
            fix="check the key's workspace, or set NEXUS_MODEL to a model it may use",
        )
    if isinstance(error, anthropic.RateLimitError):
        wait = error.response.headers.get("retry-after")
        after = f"; the API asks to wait {clean(wait)} s" if wait else ""
        return AgentError(
            f"the Anthropic API is rate-limiting this key (429){tried}{after}",
            kind="rate_limit",
            fix="wait a little and ask again",
        )
    if isinstance(error, anthropic.APIStatusError) and error.status_code == 200:
        # An `error` event in the middle of a stream: the partial answer is kept.
        kind = error.type or "error"
        message = clean(error.api_message or "no message")
        return AgentError(
            f"the answer stream broke off: {kind} ({message}); what arrived is kept",
            kind="overloaded" if kind == "overloaded_error" else "stream",
            fix="ask again",
        )
    if isinstance(error, anthropic.APIStatusError) and error.status_code == 529:
        return AgentError(
            f"the Anthropic API is overloaded (529){tried}",
            kind="overloaded",
            fix="try again in a minute",
        )
    if isinstance(error, anthropic.APIStatusError):
        message = clean(error.api_message or error.type or "no message")
        return AgentError(
            f"the Anthropic API answered {error.status_code}{tried}: {message}",
            kind="api",
            fix="check NEXUS_MODEL and the question; ask again if it was temporary",
        )
    if isinstance(error, anthropic.APIConnectionError):
        return AgentError(
            f"can't reach the Anthropic API at {where}{tried}: {clean(error)}",
            kind="connection",
            fix="check the network connection (or ANTHROPIC_BASE_URL); "
            "NEXUS_AGENT=replay answers from recorded transcripts without a network",
        )
    return AgentError(
        f"the connection to the Anthropic API at {where} broke: "
        f"{type(error).__name__}: {clean(error)}; what arrived is kept",
        kind="connection",
        fix="check the network connection and ask again",
    )


def _host(base_url: str | None) -> str:
    parts = urlsplit(base_url or DEFAULT_BASE_URL)
    return parts.netloc.rsplit("@", 1)[-1] or (base_url or DEFAULT_BASE_URL)
