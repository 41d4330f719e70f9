"""Nexus Workbook: live PostgreSQL and an AI backend architect inside Jupyter notebooks.

    import nexus_kernel_helpers as nx
    db = nx.start_database()          # embedded, Docker or URL
    db.query("select version()")

In a notebook, `%load_ext nexus_kernel_helpers` adds `%nexus_db` and `%%sql`.
"""

from __future__ import annotations

from typing import Any

from . import sandbox
from .agent import Answer, Nexus
from .config import Settings, load_settings
from .errors import (
    BackendUnavailable,
    ConfigurationError,
    DatabaseError,
    LoadError,
    NexusError,
    QueryError,
    SandboxRefusal,
)
from .exercises import exercise, progress
from .plans import Advice, Comparison, Plan
from .postgres import Database, QueryResult, current_database, start_database

__all__ = [
    "Advice",
    "Answer",
    "BackendUnavailable",
    "Comparison",
    "ConfigurationError",
    "Database",
    "DatabaseError",
    "LoadError",
    "Nexus",
    "NexusError",
    "Plan",
    "QueryError",
    "QueryResult",
    "SandboxRefusal",
    "Settings",
    "current_database",
    "exercise",
    "load_ipython_extension",
    "load_settings",
    "progress",
    "sandbox",
    "start_database",
]

__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """Register the workbook's magics (`%load_ext nexus_kernel_helpers`)."""
    from .magics import NexusMagics

    ipython.register_magics(NexusMagics)
