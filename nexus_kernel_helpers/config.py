"""Settings from the environment and an optional `.env` file.

The environment wins over `.env`; `.env` is read from the current directory (a notebook's
directory) or from the path given. Settings live here and never in notebooks.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import ConfigurationError

__all__ = ["AGENT_MODES", "BACKENDS", "AgentMode", "BackendChoice", "Settings", "load_settings"]

BackendChoice = Literal["auto", "embedded", "docker", "url"]
BACKENDS: tuple[BackendChoice, ...] = ("auto", "embedded", "docker", "url")

# How the agent answers (NEXUS_AGENT): "live" calls the API (and, without a key, replays a
# recorded answer if one matches); "record" is live and saves every exchange as a transcript;
# "replay" never calls the API and answers only from transcripts; "off" never calls it at all.
AgentMode = Literal["live", "record", "replay", "off"]
AGENT_MODES: tuple[AgentMode, ...] = ("live", "record", "replay", "off")

DEFAULT_PG_IMAGE = "postgres:18"


@dataclass(frozen=True)
class Settings:
    """The workbook's configuration, read once and passed explicitly."""

    pg_backend: BackendChoice = "auto"
    database_url: str | None = field(default=None, repr=False)
    pg_image: str = DEFAULT_PG_IMAGE
    data_dir: Path = field(
        default_factory=lambda: Path(tempfile.gettempdir()) / f"nexus-workbook-{os.getuid()}"
    )
    anthropic_api_key: str | None = field(default=None, repr=False)
    anthropic_base_url: str | None = None
    model: str | None = None
    agent_mode: AgentMode = "live"
    transcripts_dir: Path | None = None

    @property
    def has_api_key(self) -> bool:
        """Whether an Anthropic API key is configured (its value is never shown)."""
        return bool(self.anthropic_api_key)


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a `.env` file: `NAME=value` lines, optional `export`, quotes and comments."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ConfigurationError(
                f"can't read {path} line {number}: expected NAME=value; fix or remove that line"
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[name] = value
    return values


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> Settings:
    """Read settings from `environ` (default `os.environ`) over the `.env` file, if any."""
    env_path = env_file if env_file is not None else Path.cwd() / ".env"
    merged: dict[str, str] = read_env_file(env_path) if env_path.is_file() else {}
    merged.update(os.environ if environ is None else environ)

    backend = merged.get("NEXUS_PG_BACKEND", "auto").strip().lower() or "auto"
    if backend not in BACKENDS:
        raise ConfigurationError(
            f"NEXUS_PG_BACKEND={backend!r} is not a backend: use one of {', '.join(BACKENDS)}"
        )
    agent_mode = merged.get("NEXUS_AGENT", "live").strip().lower() or "live"
    if agent_mode not in AGENT_MODES:
        raise ConfigurationError(
            f"NEXUS_AGENT={agent_mode!r} is not an agent mode: use one of {', '.join(AGENT_MODES)}"
        )
    defaults = Settings()
    data_dir = merged.get("NEXUS_DATA_DIR", "").strip()
    transcripts = merged.get("NEXUS_TRANSCRIPTS", "").strip()
    return Settings(
        pg_backend=backend,
        database_url=merged.get("NEXUS_DATABASE_URL", "").strip() or None,
        pg_image=merged.get("NEXUS_PG_IMAGE", "").strip() or DEFAULT_PG_IMAGE,
        data_dir=Path(data_dir).expanduser() if data_dir else defaults.data_dir,
        anthropic_api_key=merged.get("ANTHROPIC_API_KEY", "").strip() or None,
        anthropic_base_url=merged.get("ANTHROPIC_BASE_URL", "").strip() or None,
        model=merged.get("NEXUS_MODEL", "").strip() or None,
        agent_mode=agent_mode,
        transcripts_dir=Path(transcripts).expanduser() if transcripts else None,
    )
