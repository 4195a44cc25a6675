"""The LimitEnforcer port's adapter for a client's global limit in one direction (the alternative
speed mode's is in adapters/clients/alternative_mode.py). Enforcers decide nothing: the plan (domain/limit_plan.py) says which limit a
client gets; an enforcer reads what the client holds, writes what it is told, and remembers in a
StateMemory (adapters/system/state_files.py) what it changed and what it found, so that the user's
own limit is put back exactly, even after a crash or kill -9."""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import HeldLimit, LimitControl, StateMemory

# The largest limit qBittorrent (libtorrent: a 32-bit int of bytes/s) accepts; above it wraps or
# reads as unlimited, so a remembered value past it is never written back.
MAX_CLIENT_LIMIT_BYTES = 2**31 - 1

LOG = logging.getLogger("plex_helper")


def valid_limit(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_CLIENT_LIMIT_BYTES


def recall(memory: Optional[StateMemory], fields: Mapping[str, Callable[[object], bool]], logger: logging.Logger,
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


class _MethodsControl:
    """A LimitControl over a client's read_<direction>_limit / write_<direction>_limit methods, for
    adapters without a limit_control of their own: the native value is the limit in bytes/s."""

    def __init__(self, adapter: Any, direction: Direction) -> None:
        self.direction = direction
        self.adapter = adapter

    def read_limit(self) -> HeldLimit:
        limit = getattr(self.adapter, "read_%s_limit" % self.direction.value)()
        return HeldLimit(limit, limit.bytes_per_sec)

    def write_limit(self, limit: SpeedLimit) -> None:
        getattr(self.adapter, "write_%s_limit" % self.direction.value)(limit)

    def restore_limit(self, native: Any) -> None:
        self.write_limit(SpeedLimit.from_bytes(native))


def limit_control_of(adapter: Any, direction: Direction) -> LimitControl:
    """The adapter's own control of `direction` where it has one (exact natives), else its methods."""
    own = getattr(adapter, "limit_control", None)
    if own is not None:
        return own(direction)
    return _MethodsControl(adapter, direction)


def _as_control(control: Any) -> LimitControl:
    if isinstance(control, LimitControl):
        return control
    return _MethodsControl(control, Direction.UPLOAD)  # an upload limiter given bare (tests, the demo)


class GlobalLimitEnforcer:
    """Keeps one direction of a client's global limit. It knows the user's own limit (what it last
    read while it had not changed it, or what it found before it first did) and writes what the
    plan says. Remembers in `memory`, before the write, that it lowered the limit and what it found,
    so a start after a crash or kill -9 still puts it back."""

    def __init__(self, control: Any, memory: Optional[StateMemory] = None,
                 logger: Optional[logging.Logger] = None, own_idle: bool = False, client: str = "the client") -> None:
        self._control = _as_control(control)
        self.direction: Direction = self._control.direction
        self._memory = memory
        self._logger = logger or LOG
        # no idle limit configured: idle is the user's own limit, restored as found and else left alone
        self.own_idle = own_idle
        self._what = "%s limit" % self.direction.value
        record, damaged = recall(
            memory,
            {"lowered_to": valid_limit, "found_before": lambda v: v is None or valid_limit(v)},
            self._logger,
            "plex-helper may have lowered %s's %s before; it puts it back once the servers are idle or "
            "at exit" % (client, self._what),
        )
        self._lowered = record is not None or damaged  # also after a crash: see memory
        self._lowered_to: int = record["lowered_to"] if record else 0
        self._found: Optional[HeldLimit] = None  # the user's own limit from before the first write
        if record is not None and record.get("found_before") is not None:
            native = record["native"] if "native" in record else record["found_before"]
            self._found = HeldLimit(SpeedLimit.from_bytes(record["found_before"]), native)
        self._legacy = record is not None and "native" not in record  # a record of the first versions
        self._seen: Optional[HeldLimit] = None  # what the client held at the last read
        self.held: Optional[SpeedLimit] = None  # what it holds as far as we know (read or written)
        # what plex-helper wrote last and expects the client to hold (not known across a restart: a
        # crash may have come before the write)
        self._written: Optional[SpeedLimit] = None
        if damaged:
            self._remember()

    # ------------------------------------------------------------------ what is known

    @property
    def lowered(self) -> bool:
        return self._lowered

    def own_limit(self) -> Optional[SpeedLimit]:
        """The user's own limit as far as it is known (None: not read yet, or lost with a damaged file)."""
        if self._lowered:
            return self._found.limit if self._found else None
        return self._seen.limit if self._seen else None

    def check(self) -> Optional[str]:
        """Read what the client holds. Returns what it held when that is not what plex-helper last
        wrote (changed behind its back): then that is the user's own limit from now on."""
        seen = self._control.read_limit()
        self._seen = seen
        drift = None
        if self._written is not None and seen.limit != self._written:
            drift = str(seen.limit)
            self._written = None
            if self._lowered:  # the user set a new limit during a throttle: theirs now, put back later
                self._forget()
        self.held = seen.limit
        return drift

    # ------------------------------------------------------------------ what is done

    def put(self, limit: SpeedLimit, throttle: bool) -> None:
        """Write `limit`. A `throttle` is remembered (with the own limit found) and undone later;
        anything else (a configured idle limit) is the limit to keep."""
        if throttle:
            if not self._lowered:
                self._found, self._legacy = self._seen, False
            self._lowered, self._lowered_to = True, limit.bytes_per_sec
            self._remember()  # before the write: a lost answer may still have changed it
        self._control.write_limit(limit)
        self.held = self._written = limit
        if not throttle:
            self._forget()

    def restore_own(self) -> Optional[SpeedLimit]:
        """Put back the limit found before plex-helper first lowered it, exactly as the client gave
        it. Returns it; None when nothing was lowered."""
        if not self._lowered:
            return None
        found = self._found
        if found is None:  # a damaged record: never leave it throttled
            self._logger.warning("the %s from before plex-helper lowered it is unknown; setting unlimited", self._what)
            self._control.write_limit(SpeedLimit(0))
            restored = SpeedLimit(0)
        elif self._legacy:  # a record of the first versions knew bytes only
            self._control.write_limit(found.limit)
            restored = found.limit
        else:
            self._control.restore_limit(found.native)
            restored = found.limit
        self.held, self._written = restored, None
        self._seen = found if found is not None else HeldLimit(restored, 0)
        self._forget()
        return restored

    def release(self, idle: Optional[SpeedLimit]) -> Optional[str]:
        """On exit: undo a throttle. `idle` None: the user's own limit goes back; else that limit."""
        if not self._lowered:
            return None
        if idle is None or self.own_idle:
            return "%s restored to %s, as plex-helper found it" % (self._what, self.restore_own())
        self._control.write_limit(idle)
        self.held = self._written = idle
        self._forget()
        return "%s restored to %s" % (self._what, idle)

    def adopt(self, previous: object) -> None:
        """Take over what an enforcer replaced on reload had changed, so it is still undone."""
        if isinstance(previous, GlobalLimitEnforcer) and previous.direction is self.direction:
            self._lowered, self._lowered_to = previous._lowered, previous._lowered_to
            self._found, self._legacy = previous._found, previous._legacy
            self._remember()

    def _remember(self) -> None:
        if self._memory is None:
            return
        if not self._lowered:
            self._memory.save(None)
            return
        record: Dict[str, Any] = {"lowered_to": self._lowered_to, "found_before": None}
        if self._found is not None:
            record["found_before"] = min(self._found.limit.bytes_per_sec, MAX_CLIENT_LIMIT_BYTES)
            if not self._legacy:
                record["native"] = self._found.native
        self._memory.save(record)

    def _forget(self) -> None:
        was = self._lowered
        self._lowered, self._found, self._legacy = False, None, False
        if was:
            self._remember()
