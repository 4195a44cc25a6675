"""How a limit is put into qBittorrent: as its global limit, or through its alternative speed mode."""
from __future__ import annotations

from typing import Optional, Protocol

from domain.policies import UploadLimit
from domain.ports import UploadLimiter
from domain.state import StreamState


class AlternativeSpeedControl(Protocol):
    """qBittorrent's alternative speed mode (the turtle button). Raises UploadLimiterError."""

    def alternative_mode(self) -> bool: ...
    def set_alternative_mode(self, on: bool) -> None: ...
    def alternative_upload_limit(self) -> int: ...
    def set_alternative_upload_limit(self, bytes_per_sec: int) -> None: ...


class LimitEnforcer(Protocol):
    """Puts the limit for a state into qBittorrent. Methods raise UploadLimiterError."""

    def differs(self, state: StreamState, target: UploadLimit) -> Optional[str]:
        """None when qBittorrent already holds `target` for `state`; else what it holds instead."""
        ...

    def apply(self, state: StreamState, target: UploadLimit, idle: UploadLimit) -> None: ...

    def confirmed(self, target: UploadLimit, idle: UploadLimit) -> None:
        """qBittorrent was found holding `target` already (no write was needed)."""
        ...

    def release(self, idle: UploadLimit) -> Optional[str]:
        """On exit: undo a throttle plex-helper put in place; says what was restored, or None."""
        ...


class GlobalLimitEnforcer:
    """Sets the global upload limit; compares in whole KiB, as qBittorrent stores it."""

    def __init__(self, limiter: UploadLimiter) -> None:
        self._limiter = limiter
        self._lowered = False  # may have set something other than the idle limit

    def differs(self, state: StreamState, target: UploadLimit) -> Optional[str]:
        found = UploadLimit.from_bytes(self._limiter.current_upload_limit())
        return None if found == target else str(found)

    def apply(self, state: StreamState, target: UploadLimit, idle: UploadLimit) -> None:
        if target != idle:
            self._lowered = True  # before the write: a lost answer may still have changed it
        self._limiter.set_upload_limit(target.bytes_per_sec)
        if target == idle:
            self._lowered = False

    def confirmed(self, target: UploadLimit, idle: UploadLimit) -> None:
        self._lowered = target != idle

    def release(self, idle: UploadLimit) -> Optional[str]:
        if not self._lowered:
            return None
        self._limiter.set_upload_limit(idle.bytes_per_sec)
        self._lowered = False
        return "upload limit restored to %s" % idle


class AlternativeModeEnforcer:
    """While streaming: alternative limit = target, alternative mode on. When idle: mode off again,
    but only if plex-helper switched it on (a user's or the scheduler's choice is left alone)."""

    def __init__(self, control: AlternativeSpeedControl) -> None:
        self._control = control
        self._switched_on = False

    def differs(self, state: StreamState, target: UploadLimit) -> Optional[str]:
        mode_on = self._control.alternative_mode()
        if state is StreamState.STREAMING:
            limit = UploadLimit.from_bytes(self._control.alternative_upload_limit())
            if mode_on and limit == target:
                return None
            return "alternative mode %s, alternative limit %s" % ("on" if mode_on else "off", limit)
        if mode_on and self._switched_on:
            return "alternative mode on"
        return None

    def apply(self, state: StreamState, target: UploadLimit, idle: UploadLimit) -> None:
        if state is StreamState.STREAMING:
            if UploadLimit.from_bytes(self._control.alternative_upload_limit()) != target:
                self._control.set_alternative_upload_limit(target.bytes_per_sec)
            if not self._control.alternative_mode():
                self._switched_on = True
                self._control.set_alternative_mode(True)
        elif self._switched_on:
            self._control.set_alternative_mode(False)
            self._switched_on = False

    def confirmed(self, target: UploadLimit, idle: UploadLimit) -> None:
        pass  # a mode found already on was not switched on by us

    def release(self, idle: UploadLimit) -> Optional[str]:
        if not self._switched_on:
            return None
        self._control.set_alternative_mode(False)
        self._switched_on = False
        return "alternative speed mode switched off"
