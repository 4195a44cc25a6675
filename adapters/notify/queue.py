"""Notifications and their delivery: one worker thread sends them to every target, off the polling loop.

`NotificationDispatcher` queues notifications without blocking and delivers them in the background;
a failed delivery is a WARNING, never an error for the daemon. The targets themselves (ntfy,
Telegram, webhooks) are in `adapters.notify.senders`; they meet the dispatcher here, in `Target`,
`Notification` and `NotificationError`. Log lines are built from a target's secret-free name and
`NotificationError` texts, and still pass through `redact` with every target's `secrets()`.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Deque, List, Mapping, Optional, Protocol, Sequence, Tuple

import urllib3

from adapters.transport.http import make_pool

log = logging.getLogger("plex_helper.notifiers")


class NotificationError(Exception):
    """A delivery failed; the text names the target (secret-free) and the reason in plain words."""


@dataclass(frozen=True)
class Notification:
    """Something worth telling the user: an event name, a short message, JSON-able extra fields."""

    event: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # a read-only copy: the caller's dict may change after notify() while the worker reads it
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))


class Target(Protocol):
    """One notification destination."""

    def send(self, notification: Notification, pool: urllib3.PoolManager, timeout_sec: float) -> None:
        """Deliver, or raise NotificationError."""

    def describe(self) -> str:
        """A secret-free name for logs, such as 'telegram chat 12345'."""

    # Optional: `secrets() -> Tuple[str, ...]`, strings the dispatcher blanks from its log lines
    # (belt and braces: messages are built without them anyway). The targets in adapters.notify.senders have it.
    # Optional: `wants(notification) -> bool`, False to skip it (adapters.notify.events, a target's `events`).


def redact(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret of 3 characters or more (longest first) replaced by ***."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


class NotificationDispatcher:
    """Delivers notifications to every target from one daemon thread; notify() never blocks.

    When `queue_size` notifications are waiting, the oldest is dropped for the new one (the latest
    state is the one worth telling), with one WARNING per overflow. Failures are WARNINGs; a target
    that is down never holds up the daemon, only the notifications behind it.
    """

    def __init__(
        self,
        targets: Sequence[Target],
        timeout_sec: float = 10.0,
        queue_size: int = 100,
        logger: Optional[logging.Logger] = None,
    ) -> None:
        self._targets = list(targets)
        self._timeout = float(timeout_sec)
        self._max = max(int(queue_size), 1)
        self._log = logger or log
        self._pool = make_pool(self._timeout)
        self._secrets = tuple(s for t in self._targets for s in _secrets_of(t))
        self._pending: Deque[Notification] = collections.deque()
        self._cond = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        self._stopping = False
        self._deadline: Optional[float] = None
        self._overflowing = False
        self.sent = 0  # deliveries (one per target per notification) that succeeded
        self.failed = 0  # deliveries that failed
        self.dropped = 0  # notifications never sent: queue overflow, notify after stop, unsent at stop

    @property
    def targets(self) -> List[Target]:
        return list(self._targets)

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def start(self) -> None:
        """Start the worker thread (once; a no-op when it runs or after stop)."""
        with self._cond:
            if self._thread is not None or self._stopping:
                return
            self._thread = threading.Thread(target=self._run, name="notifications", daemon=True)
            self._thread.start()

    def notify(self, notification: Notification) -> None:
        """Queue a notification for every target; returns at once."""
        warn = False
        with self._cond:
            if self._stopping:
                self.dropped += 1
                stopped = True
            else:
                stopped = False
                if len(self._pending) >= self._max:
                    self._pending.popleft()
                    self.dropped += 1
                    warn, self._overflowing = not self._overflowing, True
                self._pending.append(notification)
                self._cond.notify()
        if stopped:
            self._log.debug("notification %s not sent: notifications are stopped", notification.event)
        elif warn:
            self._log.warning(
                "notification queue full (%d waiting, targets slow or down): dropping the oldest; "
                "further drops are not logged until it drains",
                self._max,
            )

    def stop(self, timeout_sec: float = 2.0) -> None:
        """Send what can still be sent within timeout_sec, then end the worker. Never raises."""
        with self._cond:
            self._stopping = True
            self._deadline = time.monotonic() + max(timeout_sec, 0.0)
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(timeout_sec, 0.0) + 0.5)
        with self._cond:
            unsent = len(self._pending)
            self._pending.clear()
            self.dropped += unsent
            alive = thread is not None and thread.is_alive()
        if unsent:
            self._log.warning("%d notification(s) not sent before stopping", unsent)
        if not alive:
            self._pool.clear()

    # ---------------------------------------------------------------- worker

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if not self._pending or self._past_deadline():
                    return
                notification = self._pending.popleft()
                if not self._pending:
                    self._overflowing = False
            try:
                self._deliver(notification)
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any bug
                self._log.warning("notification %s not delivered: unexpected error (%s)", notification.event, type(exc).__name__)

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _send_timeout(self) -> float:
        """The per-request timeout; while stopping, no more than what is left of stop()'s wait."""
        with self._cond:
            deadline = self._deadline
        if deadline is None:
            return self._timeout
        return max(min(self._timeout, deadline - time.monotonic()), 0.05)

    def _deliver(self, notification: Notification) -> None:
        for target in self._targets:
            if self._past_deadline():
                return
            if not _wants(target, notification):  # its `events` leave this one out
                continue
            name = _safe_describe(target)
            try:
                target.send(notification, self._pool, self._send_timeout())
            except NotificationError as exc:
                self._failed(name, str(exc), notification)
            except Exception as exc:  # noqa: BLE001 - a notification is never fatal
                # the type only: an unexpected exception's text could hold a URL with a token
                self._failed(name, "%s: unexpected error (%s)" % (name, type(exc).__name__), notification)
            else:
                with self._cond:
                    self.sent += 1
                self._log.debug("notification %s sent to %s", notification.event, name)

    def _failed(self, name: str, reason: str, notification: Notification) -> None:
        with self._cond:
            self.failed += 1
        prefix = name + ": "
        reason = reason[len(prefix):] if reason.startswith(prefix) else reason
        # the name is secret-free by construction; the reason is redacted on its own, so that a short
        # secret (a path such as /12) cannot garble the name (http://127.0.0.1)
        self._log.warning("notification to %s failed: %s", name, redact(reason, self._secrets))
        self._log.debug("the failed notification was a %s", notification.event)


def _wants(target: Any, notification: Notification) -> bool:
    wants = getattr(target, "wants", None)
    return True if wants is None else bool(wants(notification))


def _secrets_of(target: Any) -> Tuple[str, ...]:
    try:
        return tuple(s for s in target.secrets() if isinstance(s, str) and s)
    except Exception:  # noqa: BLE001 - a target without secrets()
        return ()


def _safe_describe(target: Any) -> str:
    try:
        return str(target.describe())
    except Exception:  # noqa: BLE001
        return type(target).__name__
