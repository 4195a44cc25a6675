"""The LimitEnforcer port's adapters: the two ways a limit is put into a download client, on top of
its capability ports (domain/ports.py): as its global limit, or through its alternative speed mode.
Each remembers what it changed in a StateMemory (adapters/system/state_files.py), so it is undone even
after a crash."""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from domain.policies import UploadLimit
from domain.ports import AlternativeSpeedMode, StateMemory, UploadLimitControl
from domain.state import StreamState


# The largest limit qBittorrent (libtorrent: a 32-bit int of bytes/s) accepts; above it wraps or
# reads as unlimited, so a remembered value past it is never written back.
MAX_CLIENT_LIMIT_BYTES = 2**31 - 1


def _valid_limit(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_CLIENT_LIMIT_BYTES


def _recall(memory: Optional[StateMemory], fields: Mapping[str, Callable[[object], bool]], logger: logging.Logger,
            unknown: str) -> Tuple[Optional[Dict[str, Any]], bool]:
    """(the remembered record, damaged): fields checked by type and range like config; a file that
    is there but cannot be trusted is reported as damaged with what the user can do (`unknown`)."""
    if memory is None:
        return None, False
    try:
        raw = memory.load()
    except ValueError as exc:  # UnreadableStateFile: empty, truncated, binary, a directory
        logger.warning("%s cannot be read (%s): %s", getattr(memory, "path", "the state file"), exc, unknown)
        return None, True
    if raw is None:
        return None, False
    wrong = sorted(name for name, valid in fields.items() if not valid(raw.get(name)))
    if wrong:
        logger.warning(
            "%s holds an invalid %s: %s", getattr(memory, "path", "the state file"), ", ".join(wrong), unknown
        )
        return None, True
    return raw, False


class GlobalLimitEnforcer:
    """Sets the global upload limit; compares in whole KiB, as qBittorrent stores it.

    Remembers in `memory` (a file under state_dir) that it lowered the limit, before the write, so
    a start after a crash or kill -9 still restores it: at exit, or once Plex is idle."""

    def __init__(self, limiter: UploadLimitControl, memory: Optional[StateMemory] = None,
                 logger: Optional[logging.Logger] = None, own_idle: bool = False) -> None:
        self._limiter = limiter
        self._memory = memory
        # no idle limit configured: idle is the user's own limit, restored as found and else left alone
        self._own_idle = own_idle
        self._logger = logger or logging.getLogger("plex_helper")
        self._seen: Optional[int] = None  # the limit qBittorrent held at the last read
        record, damaged = _recall(
            memory,
            {"lowered_to": _valid_limit, "found_before": lambda v: v is None or _valid_limit(v)},
            logger or logging.getLogger("plex_helper"),
            "plex-helper may have lowered qBittorrent's upload limit before; it restores the idle limit "
            "once Plex is idle or at exit",
        )
        # may have set something other than the idle limit (also after a crash: see memory)
        self._lowered = record is not None or damaged
        self._found_before: Optional[int] = record.get("found_before") if record else None
        self._lowered_to: int = record["lowered_to"] if record else 0
        if damaged:
            self._remember()

    def _remember(self) -> None:
        if self._memory is not None:
            record = {"lowered_to": self._lowered_to, "found_before": self._found_before}
            self._memory.save(record if self._lowered else None)

    def adopt(self, previous: object) -> None:
        """Take over what an enforcer replaced on reload had changed, so it is still undone."""
        if isinstance(previous, GlobalLimitEnforcer):
            self._lowered = previous._lowered
            self._found_before = previous._found_before
            self._lowered_to = previous._lowered_to
            self._remember()

    def differs(self, state: StreamState, target: UploadLimit) -> Optional[str]:
        if self._own_idle and state is StreamState.IDLE:
            # the user's own limit: nothing to read or change, unless plex-helper lowered it
            return "plex-helper's throttle" if self._lowered else None
        self._seen = self._limiter.read_upload_limit().bytes_per_sec
        found = UploadLimit.from_bytes(self._seen)
        return None if found == target else str(found)

    def apply(self, state: StreamState, target: UploadLimit, idle: UploadLimit) -> Optional[UploadLimit]:
        """Returns what was written when that is not `target` (the user's own limit, restored)."""
        if self._own_idle and state is StreamState.IDLE:
            return self._restore_own()
        if target != idle:
            if not self._lowered:
                self._found_before = self._seen
            self._lowered, self._lowered_to = True, target.bytes_per_sec
            self._remember()  # before the write: a lost answer may still have changed it
        self._limiter.write_upload_limit(target)
        if target == idle:
            self._forget()
        return None

    def _restore_own(self) -> UploadLimit:
        """Put back the limit found before plex-helper first lowered it."""
        own = self._found_before
        if own is None:  # a record from before this was kept, or a damaged one: never leave it throttled
            self._logger.warning("the upload limit from before plex-helper lowered it is unknown; setting unlimited")
            own = 0
        self._limiter.write_upload_limit(UploadLimit.from_bytes(own))
        self._forget()
        return UploadLimit.from_bytes(own)

    def confirmed(self, target: UploadLimit, idle: UploadLimit) -> None:
        if target == idle:
            self._forget()
        elif not self._lowered:
            self._lowered, self._lowered_to = True, target.bytes_per_sec
            self._remember()

    def _forget(self) -> None:
        was = self._lowered
        self._lowered, self._found_before = False, None
        if was:
            self._remember()

    def release(self, idle: UploadLimit) -> Optional[str]:
        if not self._lowered:
            return None
        if self._own_idle:
            return "upload limit restored to %s, as plex-helper found it" % self._restore_own()
        self._limiter.write_upload_limit(idle)
        self._forget()
        return "upload limit restored to %s" % idle


class AlternativeModeEnforcer:
    """While streaming: alternative limit = target, alternative mode on. When idle: what plex-helper
    changed is put back (the mode switched off only if it switched it on, the user's own alternative
    limit restored), so a user's or the scheduler's use of the mode is left as it was."""

    def __init__(self, control: AlternativeSpeedMode, memory: Optional[StateMemory] = None,
                 logger: Optional[logging.Logger] = None) -> None:
        self._control = control
        # kept on disk, so that after a crash or kill -9 the next start still undoes it
        self._memory = memory
        record, damaged = _recall(
            memory,
            {"switched_on": lambda v: isinstance(v, bool), "original_limit": lambda v: v is None or _valid_limit(v)},
            logger or logging.getLogger("plex_helper"),
            "plex-helper may have switched qBittorrent's alternative speed mode on before; it switches it off "
            "once Plex is idle or at exit. The alternative upload limit from before is unknown: check it in "
            "qBittorrent's speed settings",
        )
        # a damaged record was written because something was changed: assume the mode was ours
        self._switched_on = damaged or (record is not None and record["switched_on"])
        self._original_limit: Optional[int] = record.get("original_limit") if record else None
        if damaged:
            self._remember()
    def _remember(self) -> None:
        if self._memory is not None:
            changed = self._switched_on or self._original_limit is not None
            self._memory.save(
                {"switched_on": self._switched_on, "original_limit": self._original_limit} if changed else None
            )

    def adopt(self, previous: object) -> None:
        """Take over what an enforcer replaced on reload had changed, so it is still undone."""
        if isinstance(previous, AlternativeModeEnforcer):
            self._switched_on = previous._switched_on
            self._original_limit = previous._original_limit
            self._remember()

    def differs(self, state: StreamState, target: UploadLimit) -> Optional[str]:
        mode_on = self._control.alternative_mode()
        if state is StreamState.STREAMING:
            limit = self._control.read_alternative_upload_limit()
            if mode_on and limit == target:
                return None
            return "alternative mode %s, alternative limit %s" % ("on" if mode_on else "off", limit)
        if mode_on and self._switched_on:
            return "alternative mode on"
        if self._original_limit is not None:
            return "alternative limit still plex-helper's"
        return None

    def apply(self, state: StreamState, target: UploadLimit, idle: UploadLimit) -> None:
        if state is not StreamState.STREAMING:
            self._undo()
            return
        current = self._control.read_alternative_upload_limit().bytes_per_sec
        if UploadLimit.from_bytes(current) != target:
            if self._original_limit is None:
                self._original_limit = current
                self._remember()  # before the write: a lost answer may still have changed it
            self._control.write_alternative_upload_limit(target)
        if not self._control.alternative_mode():
            self._switched_on = True
            self._remember()
            self._control.set_alternative_mode(True)

    def confirmed(self, target: UploadLimit, idle: UploadLimit) -> None:
        pass  # a mode found already on was not switched on by us

    def _undo(self) -> List[str]:
        done = []
        if self._switched_on:
            self._control.set_alternative_mode(False)
            self._switched_on = False
            done.append("alternative speed mode switched off")
        if self._original_limit is not None:
            self._control.write_alternative_upload_limit(UploadLimit.from_bytes(self._original_limit))
            done.append("alternative upload limit restored to %s" % UploadLimit.from_bytes(self._original_limit))
            self._original_limit = None
        if done:
            self._remember()
        return done

    def release(self, idle: UploadLimit) -> Optional[str]:
        return "; ".join(self._undo()) or None


class _DownloadLimitAsUpload:
    """A download-only client (SABnzbd, NZBGet) seen by the global-limit enforcer: its download limit
    takes the place of the upload limit."""

    def __init__(self, adapter: Any) -> None:
        self._adapter = adapter

    def read_upload_limit(self) -> UploadLimit:
        return self._adapter.read_download_limit()

    def write_upload_limit(self, limit: UploadLimit) -> None:
        self._adapter.write_download_limit(limit)


def download_limit_of(adapter: Any) -> Any:
    return _DownloadLimitAsUpload(adapter)
