"""Jellyfin's and Emby's WebSocket push channel as a trigger: `trigger(reason)` runs when playback
may have changed, so the caller re-reads /Sessions at once instead of at the next poll.

After connecting, the listener subscribes with SessionsStart ("0,1500": no initial delay, at most
one Sessions message per 1.5 s). The server then sends a Sessions message on every playback start,
stop and pause, and on progress reports too; so the listener triggers only when what plays changed
(which sessions play which item, paused or not), plus once per connection for what it may have
missed. PlaybackStart / PlaybackStopped messages, where a server sends them, trigger as well.
ForceKeepAlive is answered with KeepAlive at half the period it names, and a ping goes out when the
line is quiet, so a dead connection is noticed.

Polling stays the source of truth: the listener reconnects with exponential backoff, which only a
complete, valid message (a JSON object with a MessageType) resets, so a server that sends junk or
breaks the protocol (adapters/transport/bounded_websocket_frames.py bounds what it may send) is
retried ever more slowly. A server without the endpoint is noted once at INFO, then polled.

A push channel can also be up and say nothing: Jellyfin 10.10 sends no Sessions messages to a socket
opened with an API key. The listener cannot see playback by itself, so the application tells it what
each poll saw (`note_poll`); playback polled while no Sessions message came for a few keep-alive
periods after SessionsStart makes the listener `silent` (one WARNING), until a Sessions message comes.
`describe_health()` says it in a few words for the status page.

The API key travels in the query string (a WebSocket has nothing else every proxy passes; Jellyfin
also gets the Authorization header): URLs are logged through url_for_log, which drops the query,
and websocket errors never carry the URL.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Dict, FrozenSet, Optional, Tuple
from urllib.parse import urlencode

from adapters.media.jellyfin.silence import SilenceWatch
from adapters.media.jellyfin.source import ServerKind, check_api_key, server_base_url
from adapters.transport.bounded_websocket import open_websocket, url_for_log
from adapters.transport.bounded_websocket_frames import (
    BoundedWebSocket, HandshakeRefused, WebSocketError, WebSocketLimits, WebSocketTimeout,
)

SUBSCRIBE = json.dumps({"MessageType": "SessionsStart", "Data": "0,1500"})
UNSUBSCRIBE = json.dumps({"MessageType": "SessionsStop", "Data": ""})
KEEP_ALIVE = json.dumps({"MessageType": "KeepAlive"})
MAX_MESSAGE_BYTES = 8 * 1024 * 1024  # a Sessions message is the /Sessions list: a few KiB per session
_NOT_OFFERED = (404, 405, 410)
_PLAYBACK_MESSAGES = ("PlaybackStart", "PlaybackStopped")

Fingerprint = FrozenSet[Tuple[str, str, bool]]


class _Rejected(Exception):
    pass


class _NotOffered(Exception):
    pass


def playing_fingerprint(data: object) -> Optional[Fingerprint]:
    """What plays, from a Sessions message's Data: (session id, item id, paused) for each session with
    a NowPlayingItem; None when Data is not a list (nothing can be told from it)."""
    if not isinstance(data, list):
        return None
    found = set()
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("NowPlayingItem"), dict):
            continue
        state = entry.get("PlayState")
        paused = isinstance(state, dict) and state.get("IsPaused") is True
        found.add((str(entry.get("Id"))[:64], str(entry["NowPlayingItem"].get("Id"))[:64], paused))
    return frozenset(found)


class JellyfinEventListener:
    """Listens to one Jellyfin or Emby server's push channel in a daemon thread; see the module docstring."""

    def __init__(
        self,
        kind: ServerKind,
        base_url: str,
        api_key: str,
        trigger: Callable[[str], None],
        timeout_sec: float = 10.0,
        verify_tls: bool = True,
        ca_file: Optional[str] = None,
        device_id: str = "plex-helper",
        backoff_initial_sec: float = 1.0,
        backoff_max_sec: float = 60.0,
        keepalive_sec: float = 30.0,
        logger: Optional[logging.Logger] = None,
        clock: Callable[[], float] = time.monotonic,
        limits: Optional[WebSocketLimits] = None,
    ) -> None:
        self.kind = kind
        base = server_base_url(base_url, kind)
        query = {kind.push_key_param: check_api_key(api_key, kind)}
        if kind.push_device_param:
            query[kind.push_device_param] = device_id
        scheme = "wss" if base.startswith("https:") else "ws"
        self._url = scheme + base[base.index(":"):] + kind.push_path + "?" + urlencode(query)
        self.url = url_for_log(self._url)  # the only form that is logged
        self._headers = {k: v for k, v in kind.auth_headers(api_key.strip()).items() if k == "Authorization"}
        self._trigger = trigger
        self._timeout_sec = timeout_sec
        self._verify_tls, self._ca_file = verify_tls, ca_file
        self._backoff_initial = max(0.0, backoff_initial_sec)
        self._backoff_max = max(self._backoff_initial, backoff_max_sec)
        self._keepalive_default = max(0.05, keepalive_sec)
        self._log = logger or logging.getLogger("plex_helper.%s_events" % kind.name)
        self._limits = limits or WebSocketLimits(max_message_bytes=MAX_MESSAGE_BYTES, open_timeout_sec=timeout_sec,
                                                 close_timeout_sec=min(1.0, timeout_sec))
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._ws: Optional[BoundedWebSocket] = None
        self._silence = SilenceWatch(self._keepalive_default)
        self._thread: Optional[threading.Thread] = None
        self._proven = False
        self.available: Optional[bool] = None
        self.connected = False
        self.attempts = 0  # connections tried (for tests and /health)
        self.last_delay = 0.0  # the last backoff waited

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="%s-events" % self.kind.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Unsubscribe, close, and join the thread (idempotent; never raises)."""
        self._stop.set()
        with self._lock:
            thread, ws = self._thread, self._ws
        if ws is not None:
            try:
                ws.send_text(UNSUBSCRIBE)
            except WebSocketError:
                pass
            ws.close()  # also wakes the reading thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # -- a silent channel -------------------------------------------------------------------------
    def note_poll(self, playing: bool, now: float) -> None:
        """What the latest poll of this server saw: `playing` when /Sessions showed playback; `now` on
        the listener's clock (time.monotonic unless another `clock` was given). Cheap; any thread."""
        quiet_for = self._silence.poll_saw(playing, now)
        if quiet_for is not None:
            self._log.warning(
                "%s push channel is connected but sent no Sessions message in %d s while polling shows "
                "playback (likely a server that sends none to a connection opened with an API key, as "
                "Jellyfin 10.10 does); relying on polling", self.kind.label, quiet_for)

    @property
    def silent(self) -> bool:
        """True once polled playback went unannounced on a connected push channel (see `note_poll`),
        until a Sessions message comes."""
        return self._silence.silent

    def describe_health(self) -> str:
        """The push channel in a few words, for the status page and /health."""
        if self.available is False:
            return "push not offered: polling only"
        if self.silent:
            return "push silent: polling only"
        if self.connected:
            return "push connected"
        return "push reconnecting: polling only" if self.attempts else "push starting"

    # -- the thread --------------------------------------------------------------------------------
    def _run(self) -> None:
        delay = self._backoff_initial
        outage_logged = rejection_logged = False
        label = self.kind.label
        while not self._stop.is_set():
            self._proven = False
            try:
                self._listen()
                failure = "the connection ended"
            except _NotOffered as exc:
                self.available = False
                self._log.info("%s does not offer its push channel at %s (%s); relying on polling",
                               label, self.url, exc)
                return
            except _Rejected as exc:
                if not rejection_logged:
                    self._log.warning("%s refused the API key on its push channel (%s); polling will report it; "
                                      "retrying every %g s", label, exc, self._backoff_max)
                    rejection_logged = True
                delay, failure = self._backoff_max, str(exc)
            except WebSocketError as exc:
                failure = str(exc)
            except Exception as exc:  # noqa: BLE001 - a bug here must not end the listener
                self._log.warning("%s push listener error (%s); reconnecting", label, type(exc).__name__, exc_info=True)
                failure = type(exc).__name__
            finally:
                with self._lock:
                    ws, self._ws = self._ws, None
                if ws is not None:
                    ws.close()
            if self._proven:  # a working connection ends an outage: start over quick and quiet
                delay, outage_logged, rejection_logged = self._backoff_initial, False, False
            was_connected, self.connected = self.connected, False
            if self._stop.is_set():
                return
            if was_connected and not outage_logged:
                self._log.info("%s push channel lost; reconnecting", label)
                outage_logged = True
            self._log.debug("%s push channel at %s: %s; next attempt in %g s", label, self.url, failure, delay)
            self.last_delay = delay
            if self._stop.wait(delay):
                return
            delay = min(max(delay * 2, 0.05), self._backoff_max)

    def _listen(self) -> None:
        self.attempts += 1
        self._silence.disconnected()
        try:
            ws = open_websocket(self._url, self._headers, self._limits, self._verify_tls, self._ca_file)
        except HandshakeRefused as exc:
            if exc.status in (401, 403):
                raise _Rejected("it answered %d" % exc.status) from None
            if exc.status in _NOT_OFFERED or (exc.status is not None and 200 <= exc.status < 400):
                raise _NotOffered("it answered %d" % exc.status) from None
            raise
        with self._lock:
            self._ws = ws
        if self._stop.is_set():  # stop() came while we connected: it could not close this one
            return
        ws.send_text(SUBSCRIBE)
        self._silence.subscribed(self._clock())
        self.available = self.connected = True
        self._log.debug("%s push channel connected at %s", self.kind.label, self.url)
        self._read(ws)

    def _read(self, ws: BoundedWebSocket) -> None:
        keepalive = self._keepalive_default
        next_keepalive = time.monotonic() + keepalive
        last_seen: Optional[Fingerprint] = None
        while not self._stop.is_set():
            now = time.monotonic()
            quiet = now - ws.last_frame_at  # our pings make a live server answer, even when idle
            if quiet > 2.5 * keepalive + self._timeout_sec:
                raise WebSocketError("nothing heard for %d s" % quiet)
            if now >= next_keepalive:
                ws.send_text(KEEP_ALIVE)
                ws.ping()
                next_keepalive = now + keepalive
            try:
                raw = ws.recv(timeout=max(0.01, next_keepalive - now))
            except WebSocketTimeout:
                continue
            message = _message(raw)
            if message is None:  # a ping, a pong or junk: proves nothing about the channel
                continue
            if not self._proven:
                self._proven = True
                self._log.debug("%s push channel: messages arrive", self.kind.label)
            kind, data = message.get("MessageType"), message.get("Data")
            if kind == "ForceKeepAlive":
                period = data if isinstance(data, (int, float)) and not isinstance(data, bool) else 60
                keepalive = min(max(float(period) / 2, 0.05), 300.0)
                self._silence.keepalive_is(keepalive)
                ws.send_text(KEEP_ALIVE)
                next_keepalive = time.monotonic() + keepalive
            elif kind == "Sessions":
                if self._silence.heard_sessions():
                    self._log.info("%s push channel sends Sessions messages again", self.kind.label)
                seen = playing_fingerprint(data)
                if seen is None or seen != last_seen:
                    self._notify("%s push Sessions" % self.kind.name)
                last_seen = seen
            elif kind in _PLAYBACK_MESSAGES:
                self._notify("%s push %s" % (self.kind.name, kind))

    def _notify(self, reason: str) -> None:
        try:
            self._trigger(reason)
        except Exception as exc:  # noqa: BLE001 - the caller's bug must not end the listener
            self._log.warning("%s push handler failed (%s)", self.kind.label, type(exc).__name__, exc_info=True)


def _message(raw: object) -> Optional[Dict[str, Any]]:
    """A JSON object with a string MessageType, or None for anything else."""
    if not isinstance(raw, str):
        return None
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if isinstance(message, dict) and isinstance(message.get("MessageType"), str):
        return message
    return None

