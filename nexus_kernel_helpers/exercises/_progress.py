"""A learner's progress: which exercises were checked, and which passed.

Kept in `<NEXUS_DATA_DIR>/progress.json`, so it survives kernel restarts and database resets
(resetting the database undoes the work, not the fact that it was done). One file per data
directory: on a JupyterHub every learner has their own. Writes replace the file atomically,
so two kernels checking at once never leave half a file.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from ..config import Settings, load_settings

__all__ = ["ProgressEntry", "ProgressStore", "default_store"]

FILE_NAME = "progress.json"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgressEntry:
    """What is known about one exercise: checks run, whether one passed, and when."""

    exercise_id: str
    attempts: int = 0
    passed: bool = False
    first_passed_at: str | None = None
    last_checked_at: str | None = None


class ProgressStore:
    """Progress entries in a JSON file, or in memory when `path` is None."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._memory: dict[str, ProgressEntry] = {}

    def entries(self) -> dict[str, ProgressEntry]:
        """Every recorded exercise, by id."""
        if self.path is None:
            return dict(self._memory)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            # A damaged file must not break a check: start over, and say so in the log.
            _log.warning("ignoring unreadable progress file %s: %s", self.path, error)
            return {}
        known = set(ProgressEntry.__dataclass_fields__)
        return {
            key: ProgressEntry(**{k: v for k, v in value.items() if k in known})
            for key, value in data.get("exercises", {}).items()
            if isinstance(value, dict) and value.get("exercise_id") == key
        }

    def record(self, exercise_id: str, *, passed: bool) -> ProgressEntry:
        """Count one check of `exercise_id`; remember the first time it passed."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        entries = self.entries()
        entry = entries.get(exercise_id, ProgressEntry(exercise_id))
        entry = replace(
            entry,
            attempts=entry.attempts + 1,
            passed=entry.passed or passed,
            first_passed_at=entry.first_passed_at or (now if passed else None),
            last_checked_at=now,
        )
        entries[exercise_id] = entry
        self._save(entries)
        return entry

    def clear(self) -> None:
        """Forget all progress."""
        self._save({})

    def _save(self, entries: dict[str, ProgressEntry]) -> None:
        if self.path is None:
            self._memory = dict(entries)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"version": 1, "exercises": {key: asdict(e) for key, e in entries.items()}}
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".progress-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(payload, file, indent=2, sort_keys=True)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def default_store(settings: Settings | None = None) -> ProgressStore:
    """The progress file of the configured data directory (NEXUS_DATA_DIR)."""
    config = settings if settings is not None else load_settings()
    return ProgressStore(config.data_dir / FILE_NAME)
