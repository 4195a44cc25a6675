"""Small JSON files under the state directory, for what must survive a restart: the manual
override, and what plex-helper switched on in qBittorrent's alternative speed mode."""
from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Mapping, Optional

from domain.overrides import Override
from domain.state import StreamState

OVERRIDE_FILE = "override.json"
ALTERNATIVE_MODE_FILE = "alternative_mode.json"


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


class JsonStateFile:
    """One JSON object in a file, written atomically. Failures are logged, never raised: what it
    keeps still works until exit."""

    def __init__(self, path: str, logger: Optional[logging.Logger] = None) -> None:
        self.path = path
        self._logger = logger or logging.getLogger("plex_helper")

    def load(self) -> Optional[Dict[str, Any]]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                raw = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self._logger.warning("ignoring %s: %s", self.path, exc.__class__.__name__)
            return None
        if not isinstance(raw, dict):
            self._logger.warning("ignoring %s: not a JSON object", self.path)
            return None
        return raw

    def save(self, data: Optional[Mapping[str, Any]]) -> None:
        try:
            if data is None:
                if os.path.exists(self.path):
                    os.remove(self.path)
                return
            directory = os.path.dirname(self.path)
            os.makedirs(directory, mode=0o700, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".state-", dir=directory)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(dict(data), handle)
            os.replace(temporary, self.path)
        except OSError as exc:
            self._logger.warning("could not save %s: %s", self.path, exc.strerror or exc)


class OverrideStore:
    def __init__(self, directory: str, wall_clock: Callable[[], float] = time.time, logger: Optional[logging.Logger] = None) -> None:
        self._file = JsonStateFile(os.path.join(directory, OVERRIDE_FILE), logger)
        self.path = self._file.path
        self._wall_clock = wall_clock
        self._logger = logger or logging.getLogger("plex_helper")

    def load(self) -> Optional[Override]:
        raw = self._file.load()
        if raw is None:
            return None
        try:
            override = Override(StreamState(raw["state"]), float(raw["until"]))
        except (ValueError, KeyError, TypeError) as exc:
            self._logger.warning("ignoring the saved override in %s: %s", self.path, exc.__class__.__name__)
            return None
        if not override.active(self._wall_clock()):
            self.save(None)
            return None
        return override

    def save(self, override: Optional[Override]) -> None:
        self._file.save(None if override is None else {"state": override.state.value, "until": override.until})
