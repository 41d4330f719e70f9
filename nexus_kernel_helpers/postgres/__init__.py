"""Provisioning: PostgreSQL from the embedded wheel, a Docker container, or a URL."""

from ._database import Database
from ._result import QueryResult
from ._start import current_database, start_database

__all__ = ["Database", "QueryResult", "current_database", "start_database"]
