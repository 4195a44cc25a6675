"""The LimitEnforcer for a client's alternative ("turtle") speed mode: while streaming the alternative
upload limit is the plan's and the mode is on; when idle, only what plex-helper changed is put back.
Remembered in a StateMemory like the global-limit enforcer (adapters/clients/enforcers.py)."""
from __future__ import annotations

import logging
from typing import List, Optional

from adapters.clients.enforcers import LOG, recall, valid_limit
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import AlternativeSpeedMode, StateMemory


class AlternativeModeEnforcer:
    """While streaming: alternative upload limit = the plan's, alternative mode on. When idle: what
    plex-helper changed is put back (the mode switched off only if it switched it on, the user's own
    alternative limit restored), so a user's or the scheduler's use of the mode is left as it was.
    The user's own limit, for the plan, is the alternative limit when the user has the mode on, else
    the client's normal upload limit (the mode replaces it)."""

    direction = Direction.UPLOAD
    own_idle = True

    def __init__(self, control: AlternativeSpeedMode, memory: Optional[StateMemory] = None,
                 logger: Optional[logging.Logger] = None, client: str = "the client") -> None:
        self._control = control
        self._memory = memory  # kept on disk, so that after a crash or kill -9 the next start still undoes it
        record, damaged = recall(
            memory,
            {"switched_on": lambda v: isinstance(v, bool), "original_limit": lambda v: v is None or valid_limit(v)},
            logger or LOG,
            "plex-helper may have switched %s's alternative speed mode on before; it switches it off "
            "once the servers are idle or at exit. The alternative upload limit from before is unknown: check "
            "it in the client's speed settings" % client,
        )
        # a damaged record was written because something was changed: assume the mode was ours
        self._switched_on = damaged or (record is not None and record["switched_on"])
        self._original_limit: Optional[int] = record.get("original_limit") if record else None
        self._own: Optional[SpeedLimit] = None
        self.held: Optional[SpeedLimit] = None  # the alternative limit in force, while the mode is ours
        if damaged:
            self._remember()

    @property
    def lowered(self) -> bool:
        return self._switched_on or self._original_limit is not None

    def own_limit(self) -> Optional[SpeedLimit]:
        return self._own

    def check(self) -> Optional[str]:
        mode_on = self._control.alternative_mode()
        limit = self._control.read_alternative_upload_limit()
        if mode_on and not self._switched_on:  # the user's (or the scheduler's) turtle: their limit now
            self._own = limit
        elif not self.lowered or self._own is None:
            read_own = getattr(self._control, "read_upload_limit", None)
            self._own = read_own() if read_own is not None else None
        now = limit if mode_on else None
        drift = None
        if self.lowered and self.held is not None and now != self.held:
            drift = "alternative mode %s, alternative limit %s" % ("on" if mode_on else "off", limit)
        self.held = now if self.lowered else None
        return drift

    def put(self, limit: SpeedLimit, throttle: bool) -> None:
        current = self._control.read_alternative_upload_limit().bytes_per_sec
        if SpeedLimit.from_bytes(current) != limit:
            if self._original_limit is None:
                self._original_limit = current
                self._remember()  # before the write: a lost answer may still have changed it
            self._control.write_alternative_upload_limit(limit)
        if not self._control.alternative_mode():
            self._switched_on = True
            self._remember()
            self._control.set_alternative_mode(True)
        self.held = limit

    def restore_own(self) -> Optional[SpeedLimit]:
        done = self._undo()
        self.held = None
        return self._own if done else None

    def _undo(self) -> List[str]:
        done = []
        if self._switched_on:
            self._control.set_alternative_mode(False)
            self._switched_on = False
            done.append("alternative speed mode switched off")
        if self._original_limit is not None:
            self._control.write_alternative_upload_limit(SpeedLimit.from_bytes(self._original_limit))
            done.append("alternative upload limit restored to %s" % SpeedLimit.from_bytes(self._original_limit))
            self._original_limit = None
        if done:
            self._remember()
        return done

    def release(self, idle: Optional[SpeedLimit]) -> Optional[str]:
        self.held = None
        return "; ".join(self._undo()) or None

    def adopt(self, previous: object) -> None:
        """Take over what an enforcer replaced on reload had changed, so it is still undone."""
        if isinstance(previous, AlternativeModeEnforcer):
            self._switched_on = previous._switched_on
            self._original_limit = previous._original_limit
            self._remember()

    def _remember(self) -> None:
        if self._memory is not None:
            self._memory.save(
                {"switched_on": self._switched_on, "original_limit": self._original_limit} if self.lowered else None
            )
