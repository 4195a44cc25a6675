"""The idle/streaming state machine with hysteresis. Pure: time comes in as a number."""
from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Optional


class StreamState(enum.Enum):
    IDLE = "idle"
    STREAMING = "streaming"


class TransitionReason(enum.Enum):
    FIRST_OBSERVATION = "first observation"
    THRESHOLD = "threshold reached"
    SOURCE_DOWN = "stream source unreadable for too long"


@dataclass(frozen=True)
class Hysteresis:
    """How many like observations it takes to switch, and how long failures may last."""

    streaming_threshold: int = 2
    idle_threshold: int = 3
    down_restore_after_sec: float = 300.0  # 0 = never

    def __post_init__(self) -> None:
        if self.streaming_threshold < 1 or self.idle_threshold < 1:
            raise ValueError("thresholds must be at least 1")
        if self.down_restore_after_sec < 0:
            raise ValueError("down_restore_after_sec must not be negative")


@dataclass(frozen=True)
class MachineState:
    """Where the machine stands. `state` is None until the first successful observation."""

    state: Optional[StreamState] = None
    contrary_streak: int = 0  # consecutive observations that argue for the other state
    failing_since: Optional[float] = None
    last_reason: Optional[TransitionReason] = None


class StreamingStateMachine:
    """Steps a MachineState by one observation.

    A caller may rely on: the state never changes before `streaming_threshold` (to streaming) or
    `idle_threshold` (to idle) consecutive contrary observations; any such run forces the state;
    the first successful observation decides the state at once; a failed observation changes
    neither state nor counts, unless failures have lasted longer than `down_restore_after_sec`,
    which forces idle so an unreachable source never leaves uploads throttled.
    """

    def __init__(self, hysteresis: Hysteresis) -> None:
        self.hysteresis = hysteresis

    def observe(self, current: MachineState, remote_streams: int) -> MachineState:
        streaming_now = remote_streams > 0
        if current.state is None:
            state = StreamState.STREAMING if streaming_now else StreamState.IDLE
            return MachineState(state=state, last_reason=TransitionReason.FIRST_OBSERVATION)
        argues_for_other = streaming_now != (current.state is StreamState.STREAMING)
        if not argues_for_other:
            return replace(current, contrary_streak=0, failing_since=None)
        streak = current.contrary_streak + 1
        needed = (
            self.hysteresis.streaming_threshold
            if current.state is StreamState.IDLE
            else self.hysteresis.idle_threshold
        )
        if streak >= needed:
            other = StreamState.IDLE if current.state is StreamState.STREAMING else StreamState.STREAMING
            return MachineState(state=other, last_reason=TransitionReason.THRESHOLD)
        return replace(current, contrary_streak=streak, failing_since=None)

    def fail(self, current: MachineState, now: float) -> MachineState:
        since = current.failing_since if current.failing_since is not None else now
        restore_after = self.hysteresis.down_restore_after_sec
        if restore_after > 0 and now - since > restore_after and current.state is not StreamState.IDLE:
            return MachineState(
                state=StreamState.IDLE, failing_since=since, last_reason=TransitionReason.SOURCE_DOWN
            )
        return replace(current, failing_since=since)
