"""Keeps the manual override in a small JSON file, so that it survives a restart."""
from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from typing import Callable, Mapping, Optional

from domain.overrides import Override
from domain.state import StreamState

FILE_NAME = "override.json"


def default_state_dir(environ: Optional[Mapping[str, str]] = None) -> str:
    """systemd's $STATE_DIRECTORY, else the cache directory the .pyz uses."""
    environ = os.environ if environ is None else environ
    for variable in ("STATE_DIRECTORY", "PLEX_HELPER_CACHE_DIR", "CACHE_DIRECTORY"):
        value = environ.get(variable, "")
        if value:
            return value.split(":")[0]  # systemd may list several directories
    base = environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), "Library/Caches" if sys.platform == "darwin" else ".cache"
    )
    return os.path.join(base, "plex-helper")


class OverrideStore:
    def __init__(self, directory: str, wall_clock: Callable[[], float] = time.time, logger: Optional[logging.Logger] = None) -> None:
        self.path = os.path.join(directory, FILE_NAME)
        self._wall_clock = wall_clock
        self._logger = logger or logging.getLogger("plex_helper")

    def load(self) -> Optional[Override]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                raw = json.load(handle)
            override = Override(StreamState(raw["state"]), float(raw["until"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._logger.warning("ignoring the saved override in %s: %s", self.path, exc.__class__.__name__)
            return None
        if not override.active(self._wall_clock()):
            self.save(None)
            return None
        return override

    def save(self, override: Optional[Override]) -> None:
        """Writes atomically; a failure is logged, never raised (the override still works until exit)."""
        try:
            if override is None:
                if os.path.exists(self.path):
                    os.remove(self.path)
                return
            directory = os.path.dirname(self.path)
            os.makedirs(directory, mode=0o700, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".override-", dir=directory)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"state": override.state.value, "until": override.until}, handle)
            os.replace(temporary, self.path)
        except OSError as exc:
            self._logger.warning("could not save the override to %s: %s", self.path, exc.strerror or exc)
