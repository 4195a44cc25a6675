"""Which notifications a target wants: the `events` a notify entry may list, and what each
notification counts as.

A notification's own event (`state_change`, `side_failing`, ...) is what the application sends; a
target chooses by what it means to a person: streaming started or ended, a media server or a
download client down or up, an override, a temporary limit set or ended. No `events`: all of them.
"""
from __future__ import annotations

from typing import Any, FrozenSet, Iterable, Optional, Tuple

import urllib3

from adapters.notify.queue import Notification

EVENTS: Tuple[str, ...] = (
    "streaming_started", "streaming_ended", "server_down", "server_up", "client_down", "client_up",
    "override", "temporary_limit_set", "temporary_limit_ended",
)


def chosen_event(notification: Notification) -> Tuple[str, ...]:
    """The `events` names `notification` counts as (two when a side's kind was not given)."""
    event, details = notification.event, notification.details
    if event == "state_change":
        return ("streaming_started",) if details.get("state") == "streaming" else ("streaming_ended",)
    if event in ("side_failing", "side_recovered"):
        change = "down" if event == "side_failing" else "up"
        kind = details.get("kind")
        kinds = (kind,) if kind in ("server", "client") else ("server", "client")
        return tuple("%s_%s" % (k, change) for k in kinds)
    return (event,)  # override, temporary_limit_set, temporary_limit_ended and anything new


class SelectedEvents:
    """A target that is handed only the notifications whose event its `events` list names."""

    def __init__(self, target: Any, events: Iterable[str]) -> None:
        self.target = target
        self.events: FrozenSet[str] = frozenset(events)

    def wants(self, notification: Notification) -> bool:
        return any(name in self.events for name in chosen_event(notification))

    def send(self, notification: Notification, pool: urllib3.PoolManager, timeout_sec: float) -> None:
        self.target.send(notification, pool, timeout_sec)

    def describe(self) -> str:
        return self.target.describe()

    def secrets(self) -> Tuple[str, ...]:
        return tuple(self.target.secrets())

    def __repr__(self) -> str:
        return repr(self.target)


def with_events(target: Any, events: Optional[Iterable[str]]) -> Any:
    """`target` itself when every event is wanted, else wrapped to choose."""
    if events is None or set(events) >= set(EVENTS):
        return target
    return SelectedEvents(target, events)
