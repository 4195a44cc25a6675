"""A stand-in for the daemon's side of the status server (the StatusBackend port): canned health,
real Prometheus text, and every trigger, override, temporary limit and clear recorded."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

from application.observers.metrics import MetricsRegistry


class FakeBackend:
    def __init__(self) -> None:
        self.health_answer: Tuple[int, Dict[str, Any]] = (200, {"status": "ok", "state": "idle"})
        self.metrics = MetricsRegistry("0.1.0", "test")
        self.triggers: List[str] = []
        self.overrides: List[Tuple[str, float]] = []
        self.clears = 0
        self.temporary: List[Tuple[str, Any, float, str]] = []
        self.temporary_clears: List[Any] = []
        self.fail: Dict[str, Exception] = {}  # method name -> exception to raise

    def _maybe_fail(self, name: str) -> None:
        if name in self.fail:
            raise self.fail[name]

    def health(self):
        self._maybe_fail("health")
        return self.health_answer

    def metrics_text(self) -> str:
        self._maybe_fail("metrics_text")
        return self.metrics.render()

    def trigger_observation(self, reason: str) -> None:
        self._maybe_fail("trigger_observation")
        self.triggers.append(reason)

    def set_override(self, state: str, minutes: float) -> Dict[str, Any]:
        self._maybe_fail("set_override")
        if state not in ("streaming", "idle"):
            raise ValueError('state must be "streaming" or "idle"')
        if minutes <= 0:
            raise ValueError("minutes must be more than 0")
        self.overrides.append((state, minutes))
        return {"override": {"state": state, "minutes": minutes}}

    def clear_override(self) -> Dict[str, Any]:
        self._maybe_fail("clear_override")
        self.clears += 1
        return {"override": None}

    def set_temporary_limit(self, direction: str, kib: Any, minutes: float, label: str = "") -> Dict[str, Any]:
        self._maybe_fail("set_temporary_limit")
        if direction not in ("upload", "download"):
            raise ValueError("direction must be upload or download")
        self.temporary.append((direction, kib, minutes, label))
        return {"temporary_limits": [{"direction": direction, "kib": kib, "label": label}]}

    def clear_temporary_limit(self, direction: Any = None) -> Dict[str, Any]:
        self.temporary_clears.append(direction)
        return {"temporary_limits": []}

    def history(self, since: float, until: Any, max_points: int) -> Dict[str, Any]:
        return {"since": since, "until": until, "states": [], "limits": [], "samples": []}
