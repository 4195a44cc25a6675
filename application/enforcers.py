"""How a limit is put into qBittorrent: as its global limit, or through its alternative speed mode."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Protocol

from domain.policies import UploadLimit
from domain.ports import UploadLimiter
from domain.state import StreamState


class AlternativeSpeedControl(Protocol):
    """qBittorrent's alternative speed mode (the turtle button). Raises UploadLimiterError."""

    def alternative_mode(self) -> bool: ...
    def set_alternative_mode(self, on: bool) -> None: ...
    def alternative_upload_limit(self) -> int: ...
    def set_alternative_upload_limit(self, bytes_per_sec: int) -> None: ...


class StateMemory(Protocol):
    """A small dict kept across restarts (a JSON file under the state directory)."""

    def load(self) -> Optional[Dict[str, Any]]: ...
    def save(self, data: Optional[Mapping[str, Any]]) -> None: ...


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

    def adopt(self, previous: object) -> None:
        """Take over what the enforcer this one replaces (on reload) had changed."""
        ...


class GlobalLimitEnforcer:
    """Sets the global upload limit; compares in whole KiB, as qBittorrent stores it."""

    def __init__(self, limiter: UploadLimiter) -> None:
        self._limiter = limiter
        self._lowered = False  # may have set something other than the idle limit

    def adopt(self, previous: object) -> None:
        """Take over what an enforcer replaced on reload had changed, so it is still undone."""
        if isinstance(previous, GlobalLimitEnforcer):
            self._lowered = previous._lowered

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
    """While streaming: alternative limit = target, alternative mode on. When idle: what plex-helper
    changed is put back (the mode switched off only if it switched it on, the user's own alternative
    limit restored), so a user's or the scheduler's use of the mode is left as it was."""

    def __init__(self, control: AlternativeSpeedControl, memory: Optional[StateMemory] = None) -> None:
        self._control = control
        # kept on disk, so that after a crash or kill -9 the next start still undoes it
        self._memory = memory
        remembered = (memory.load() if memory is not None else None) or {}
        self._switched_on = remembered.get("switched_on") is True
        original = remembered.get("original_limit")
        self._original_limit: Optional[int] = original if isinstance(original, int) and original >= 0 else None

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
            limit = UploadLimit.from_bytes(self._control.alternative_upload_limit())
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
        current = self._control.alternative_upload_limit()
        if UploadLimit.from_bytes(current) != target:
            if self._original_limit is None:
                self._original_limit = current
                self._remember()  # before the write: a lost answer may still have changed it
            self._control.set_alternative_upload_limit(target.bytes_per_sec)
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
            self._control.set_alternative_upload_limit(self._original_limit)
            done.append("alternative upload limit restored to %s" % UploadLimit.from_bytes(self._original_limit))
            self._original_limit = None
        if done:
            self._remember()
        return done

    def release(self, idle: UploadLimit) -> Optional[str]:
        return "; ".join(self._undo()) or None
