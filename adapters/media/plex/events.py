"""Plex's Server-Sent Events stream as a trigger: `on_playback()` runs for every playback message.

Events carry no location or bandwidth, so the caller uses them only to re-read /status/sessions
sooner than the next poll (and debounces). Polling stays the source of truth: this listener is
best-effort, reconnects quietly, and gives up for good only when the server does not offer events.
Only a complete, valid event (a JSON message, pings included) proves the stream works: bytes alone
do not, so a server sending junk is retried ever more slowly, not every second for ever.
The token travels in the X-Plex-Token header only; no log line or exception carries it.
"""
from __future__ import annotations

import json
import logging
import re
import socket
import threading
from typing import Any, Callable, Dict, Optional

import urllib3
from urllib3 import exceptions as u3

from adapters.transport.http import describe_transport_error, make_pool
from adapters.media.plex.source import plex_endpoint

EVENTS_PATH = "/:/eventsource/notifications"
MAX_LINE_BYTES = 1024 * 1024  # a real event is a few hundred bytes; more means this is no event stream
_NOT_OFFERED = (404, 405, 410)  # the server (or a proxy in front of it) has no such endpoint
_LINE_END = re.compile(rb"\r\n|\r|\n")


class _NotOffered(Exception):
    """The server answered, but not with an event stream: stop trying."""


class _Rejected(Exception):
    """401/403: the token is refused."""


class _Retry(ValueError):
    """An answer worth retrying (5xx, an odd status), or a stream that broke the SSE rules."""


def _shut_down(response: Any) -> None:
    """Shut the stream's socket, which wakes a read blocked on it in another thread.

    http.client drops `connection.sock` when the answer says "Connection: close" (as SSE answers
    often do), but the body's file object still holds the socket. The plain socket's shutdown is
    used even for TLS: SSLSocket.shutdown would also drop its SSL object under the reader's feet.
    """
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if sock is None:
        sock = getattr(getattr(getattr(getattr(response, "_fp", None), "fp", None), "raw", None), "_sock", None)
    if isinstance(sock, socket.socket):
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except (OSError, ValueError):  # already closed
            pass


class SseParser:
    """Incremental text/event-stream parser (the WHATWG rules this use needs: event, data, comments).

    feed() takes bytes as they arrive, split anywhere, and returns the completed (event, data) pairs.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []
        self._data_bytes = 0  # a server that never ends an event must not grow this for months

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        self._buffer += chunk
        events: list[tuple[str, str]] = []
        while True:
            end = _LINE_END.search(self._buffer)
            # A CR as the last byte may be the first half of a CRLF split across reads: wait.
            if end is None or (end.group() == b"\r" and end.end() == len(self._buffer)):
                break
            line, self._buffer = self._buffer[: end.start()], self._buffer[end.end():]
            event = self._line(line.decode("utf-8", "replace"))
            if event is not None:
                events.append(event)
        if len(self._buffer) > MAX_LINE_BYTES:
            raise _Retry("an event stream line over %d bytes" % MAX_LINE_BYTES)
        return events

    def _line(self, line: str) -> Optional[tuple[str, str]]:
        if not line:  # a blank line dispatches the event gathered so far
            event, data = self._event or "message", self._data
            self._event, self._data, self._data_bytes = "", [], 0
            return (event, "\n".join(data)) if data else None
        if line.startswith(":"):  # a comment (keep-alive)
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data_bytes += len(value) + 1
            if self._data_bytes > MAX_LINE_BYTES:
                raise _Retry("an event over %d bytes" % MAX_LINE_BYTES)
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None  # id and retry are of no use here: missed events are covered by polling


def _json_message(data: str) -> Optional[Dict[str, Any]]:
    """The event's data as a JSON object, or None for anything else."""
    try:
        message = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return message if isinstance(message, dict) else None


def is_playback_message(data: str) -> bool:
    """True for a `playing` notification, whatever its state; pings and other types are False.

    Accepts the documented `{"NotificationContainer": {...}}` and the bare container, and a
    PlaySessionStateNotification that is a list or a single object.
    """
    message = _json_message(data)
    return message is not None and _is_playback(message)


def _is_playback(message: Dict[str, Any]) -> bool:
    container = message.get("NotificationContainer", message)
    if not isinstance(container, dict) or container.get("type", "playing") != "playing":
        return False
    notes = container.get("PlaySessionStateNotification")
    return isinstance(notes, dict) or (isinstance(notes, list) and len(notes) > 0)


class PlexEventListener:
    """Listens to Plex's event stream in a daemon thread; see the module docstring."""

    def __init__(
        self,
        base_url: str,
        token: str,
        on_playback: Callable[[], None],
        timeout_sec: float = 10.0,
        verify_tls: bool = True,
        ca_file: str | None = None,
        client_identifier: str = "plex-helper",
        product_version: str = "0",
        backoff_initial_sec: float = 1.0,
        backoff_max_sec: float = 60.0,
        logger: logging.Logger | None = None,
    ) -> None:
        # The same URL cleaning, token check and X-Plex-* headers as polling: both requests
        # identify the same client and validate input the same way.
        self.url, headers = plex_endpoint(base_url, token, client_identifier, product_version)
        self._headers: Dict[str, str] = dict(headers, Accept="text/event-stream", **{"Cache-Control": "no-cache"})
        self._on_playback = on_playback
        self._timeout_sec = timeout_sec
        # Plex pings about every 10 s: this long without a byte means a dead (half-open) connection.
        self.idle_timeout_sec = max(30.0, 3 * timeout_sec)
        self._backoff_initial = max(0.0, backoff_initial_sec)
        self._backoff_max = max(self._backoff_initial, backoff_max_sec)
        self._log = logger or logging.getLogger("plex_helper.plex_events")
        self._pool: urllib3.PoolManager = make_pool(timeout_sec, verify_tls, ca_file)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._response: Any = None  # the open stream, so stop() can cut a blocked read short
        self._thread: Optional[threading.Thread] = None
        self._proven = False  # the current connection delivered a valid event (resets the backoff)
        self.available: Optional[bool] = None
        self.connected = False

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="plex-events", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop listening and join the thread (idempotent). A read in progress is cut short by
        shutting the socket; a connect in progress ends at the connect timeout (the thread is a
        daemon, so the join gives up after `timeout`)."""
        self._stop.set()
        with self._lock:
            thread, response = self._thread, self._response
        if response is not None:
            _shut_down(response)  # closing it is the reading thread's job
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._pool.clear()

    # -- the thread --------------------------------------------------------------------------------
    def _run(self) -> None:
        delay = self._backoff_initial
        outage_logged = rejection_logged = False
        while not self._stop.is_set():
            self._proven = False
            try:
                self._listen()
                failure = "the stream ended"
            except _NotOffered as exc:
                self.available = False
                self._log.info("Plex does not offer the event stream at %s (%s); relying on polling every "
                               "poll interval", self.url, exc)
                return
            except _Rejected as exc:
                if not rejection_logged:
                    self._log.warning("Plex rejected the token for the event stream (%s); polling will report "
                                      "it; retrying every %g s", exc, self._backoff_max)
                    rejection_logged = True
                delay, failure = self._backoff_max, str(exc)
            except _Retry as exc:
                failure = str(exc)
            except (u3.HTTPError, OSError) as exc:
                failure = describe_transport_error(exc)
            except Exception as exc:  # noqa: BLE001 - a bug here must not end the listener
                self._log.warning("Plex event listener error (%s); reconnecting", type(exc).__name__, exc_info=True)
                failure = type(exc).__name__
            if self._proven:  # a working connection ends an outage: start over quick and quiet
                delay, outage_logged, rejection_logged = self._backoff_initial, False, False
            was_connected, self.connected = self.connected, False
            if self._stop.is_set():
                return
            if was_connected and not outage_logged:
                self._log.info("Plex event stream lost; reconnecting")
                outage_logged = True
            self._log.debug("Plex event stream: %s; next attempt in %g s", failure, delay)
            if self._stop.wait(delay):
                return
            delay = min(max(delay * 2, 0.05), self._backoff_max)

    def _listen(self) -> None:
        """One connection, until the stream ends; raises on failures."""
        response = self._pool.request(
            "GET", self.url + EVENTS_PATH + "?filters=playing", headers=self._headers, redirect=False,
            preload_content=False, timeout=urllib3.Timeout(connect=self._timeout_sec, read=self.idle_timeout_sec),
        )
        with self._lock:
            self._response = response
        try:
            if self._stop.is_set():  # stop() came while we connected: it could not shut this one
                return
            status = response.status
            content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if status in (401, 403):
                raise _Rejected("Plex answered %d" % status)
            if status in _NOT_OFFERED or 300 <= status < 400:
                raise _NotOffered("it answered %d" % status)
            if status != 200:
                raise _Retry("Plex answered %d" % status)
            if content_type != "text/event-stream":
                raise _NotOffered("it answered with %s" % (content_type or "no content type"))
            self.available = self.connected = True
            self._log.debug("Plex event stream connected at %s", self.url)
            self._read(response)
        finally:
            with self._lock:
                self._response = None
            _shut_down(response)  # never reused: a stream is never at a clean request boundary
            response.close()
            response.release_conn()

    def _read(self, response: Any) -> None:
        parser = SseParser()
        while not self._stop.is_set():
            chunk = response.read1(65536)  # whatever has arrived, unlike read(n), which waits for n
            if not chunk:
                return
            for event, data in parser.feed(chunk):
                message = _json_message(data)
                if message is None:  # junk proves nothing about the stream
                    continue
                if not self._proven:
                    self._proven = True
                    self._log.debug("Plex event stream: events arrive")
                if event != "ping" and _is_playback(message):
                    self._notify()

    def _notify(self) -> None:
        try:
            self._on_playback()
        except Exception as exc:  # noqa: BLE001 - the caller's bug must not end the listener
            self._log.warning("Plex event handler failed (%s)", type(exc).__name__, exc_info=True)
