"""Small JSON files under the state directory, for what must survive a restart: the manual
override, and what the limit enforcers changed in the download clients (the StateMemory port).
Read through adapters/system/regular_file.py (never blocks on a FIFO, never follows a symbolic link
in the file's place), written atomically (a new file renamed over the old, so a link there is
replaced, never written through)."""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Mapping, Optional

from adapters.system.regular_file import UnreadableFile, read_regular_bytes
from domain.limit_plan import Direction
from domain.overrides import MAX_TEMPORARY_KIB, Override, TemporaryLimit, TemporaryLimits
from domain.policies import SpeedLimit
from domain.state import StreamState

OVERRIDE_FILE = "override.json"
TEMPORARY_LIMITS_FILE = "temporary_limits.json"
ALTERNATIVE_MODE_FILE = "alternative_mode.json"
GLOBAL_LIMIT_FILE = "global_limit.json"
MAX_UNTIL_EPOCH = 4102444800.0  # 2100-01-01: an override is minutes or days long


def default_state_dir(environ: Optional[Mapping[str, str]] = None) -> str:
    """systemd's $STATE_DIRECTORY, else the XDG state directory: an absolute $XDG_STATE_HOME, else
    ~/.local/state (on macOS ~/Library/Application Support), with plex-helper under it. Not the cache:
    what is kept here (the limits found in the clients, an override, the history) must survive a
    cleaned cache. adapters/system/state_migration.py moves what earlier versions kept there."""
    environ = os.environ if environ is None else environ
    value = environ.get("STATE_DIRECTORY", "").split(":")[0]  # systemd may list several directories
    if value:
        return os.path.abspath(value)
    base = environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative path is to be ignored
        home = environ.get("HOME") or os.path.expanduser("~")
        base = os.path.join(home, "Library/Application Support" if sys.platform == "darwin" else ".local/state")
    return os.path.join(base, "plex-helper")


# State files are a few hundred bytes; anything bigger is not ours.
MAX_STATE_FILE_BYTES = 64 * 1024


class UnreadableStateFile(ValueError):
    """A state file exists but cannot be used; `str()` says why, in plain words."""


class StateFileNotSaved(OSError):
    """A state file could not be written; `str()` is a complete sentence naming the file."""


class JsonStateFile:
    """One JSON object in a file, written atomically.

    `load` raises UnreadableStateFile for a file that exists but is not a JSON object (empty,
    truncated, binary, a directory): the caller decides what that means, since "ignore it" can
    leave a throttle in place for good. `save` returns whether it worked and warns once per run
    of failures (not at every save).
    """

    def __init__(self, path: str, logger: Optional[logging.Logger] = None) -> None:
        self.path = path
        self._logger = logger or logging.getLogger("plex_helper")
        self._save_failing = False

    def load(self) -> Optional[Dict[str, Any]]:
        try:
            # not followed: a link planted in state_dir must not make plex-helper read (or, through
            # the error, describe) a file elsewhere
            data = read_regular_bytes(self.path, MAX_STATE_FILE_BYTES, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except UnreadableFile as exc:  # a directory, FIFO, device, or a file too large or unreadable
            raise UnreadableStateFile(str(exc)) from None
        if not data.strip():
            raise UnreadableStateFile("it is empty")
        try:
            raw = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError):
            raise UnreadableStateFile("it is not valid JSON (truncated or damaged)") from None
        if not isinstance(raw, dict):
            raise UnreadableStateFile("it is not a JSON object")
        return raw

    def save(self, data: Optional[Mapping[str, Any]]) -> bool:
        try:
            self.write(data)
        except StateFileNotSaved as exc:
            if not self._save_failing:
                self._logger.warning("%s", exc)
            self._save_failing = True
            return False
        if self._save_failing:
            self._logger.info("%s can be written again", self.path)
        self._save_failing = False
        return True

    def write(self, data: Optional[Mapping[str, Any]]) -> None:
        """Write (or, for None, remove) the file; StateFileNotSaved when that is not possible."""
        try:
            if data is None:
                if os.path.lexists(self.path):
                    if os.path.isdir(self.path) and not os.path.islink(self.path):
                        os.rmdir(self.path)
                    else:
                        os.remove(self.path)
                return
            directory = os.path.dirname(self.path)
            os.makedirs(directory, mode=0o700, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".state-", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(dict(data), handle)
                os.replace(temporary, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.remove(temporary)
                raise
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            raise StateFileNotSaved(
                "could not save %s: %s (check that state_dir is writable by plex-helper)"
                % (self.path, getattr(exc, "strerror", None) or type(exc).__name__)
            ) from None


def _valid_until(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and value < MAX_UNTIL_EPOCH)


class OverrideStore:
    """What the user set by hand, kept across a restart: the override (override.json) and the
    temporary limits (temporary_limits.json). Something there that is not valid is ignored with a
    WARNING naming the file; one that has ended is dropped."""

    def __init__(self, directory: str, wall_clock: Callable[[], float] = time.time, logger: Optional[logging.Logger] = None) -> None:
        self._file = JsonStateFile(os.path.join(directory, OVERRIDE_FILE), logger)
        self._temporary = JsonStateFile(os.path.join(directory, TEMPORARY_LIMITS_FILE), logger)
        self.path = self._file.path
        self._wall_clock = wall_clock
        self._logger = logger or logging.getLogger("plex_helper")

    def load(self) -> Optional[Override]:
        try:
            raw = self._file.load()
        except UnreadableStateFile as exc:
            self._logger.warning(
                "ignoring the saved override in %s: %s; no override is in force (set it again if you need it)",
                self.path, exc,
            )
            return None
        if raw is None:
            return None
        state, until = raw.get("state"), raw.get("until")
        valid = state in {s.value for s in StreamState} and _valid_until(until)
        if not valid:
            self._logger.warning(
                "ignoring the saved override in %s: not a valid override (state and until); "
                "no override is in force (set it again if you need it)",
                self.path,
            )
            return None
        override = Override(StreamState(state), float(until))
        if not override.active(self._wall_clock()):
            self._file.save(None)
            return None
        return override

    def save(self, override: Optional[Override]) -> None:
        """Raises StateFileNotSaved: an override the user set must not silently be lost at a restart."""
        self._file.write(None if override is None else {"state": override.state.value, "until": override.until})

    def load_temporary(self) -> Dict[Direction, TemporaryLimit]:
        """The temporary limits still active; an invalid entry is ignored (and said so), the rest kept."""
        path = self._temporary.path
        try:
            raw = self._temporary.load()
        except UnreadableStateFile as exc:
            self._logger.warning("ignoring the saved temporary limits in %s: %s; none is in force", path, exc)
            return {}
        if raw is None:
            return {}
        found: Dict[Direction, TemporaryLimit] = {}
        now = self._wall_clock()
        for key, entry in raw.items():
            limit = _temporary_limit(key, entry)
            if limit is None:
                self._logger.warning("ignoring the saved temporary limit %r in %s: not a valid temporary limit "
                                     "(kib, until, label); set it again if you need it", key[:20], path)
            elif limit.active(now):
                found[limit.direction] = limit
        if len(found) != len(raw):
            self._temporary.save(self._temporary_body(found))  # ended or invalid: gone from the file too
        return found

    def save_temporary(self, limits: TemporaryLimits) -> None:
        """Raises StateFileNotSaved, like `save`: a limit the user set must survive a restart."""
        self._temporary.write(self._temporary_body(limits))

    @staticmethod
    def _temporary_body(limits: TemporaryLimits) -> Optional[Dict[str, Any]]:
        if not limits:
            return None
        return {d.value: {"kib": t.limit.kib_per_sec, "until": t.until, "label": t.label} for d, t in limits.items()}


def _temporary_limit(key: str, entry: Any) -> Optional[TemporaryLimit]:
    if key not in {d.value for d in Direction} or not isinstance(entry, dict):
        return None
    kib, until, label = entry.get("kib"), entry.get("until"), entry.get("label", "")
    if isinstance(kib, bool) or not isinstance(kib, int) or not 0 < kib <= MAX_TEMPORARY_KIB:
        return None
    if not _valid_until(until) or not isinstance(label, str):
        return None
    try:
        return TemporaryLimit(Direction(key), SpeedLimit(kib), float(until), label)
    except ValueError:  # a label too long or not one printable line
        return None
