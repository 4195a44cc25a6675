"""The status server's listening socket: a `ThreadingHTTPServer` with its connections capped.

Each connection holds a thread, so their number is capped in total, and one client address may
hold only a share of them (so that one client cannot take every slot). A connection over a cap
gets a one-shot 503 written from the accept loop without blocking it, and is closed.
"""
from __future__ import annotations

import http.server
import logging
import math
import socket
import threading
import time
from collections import Counter
from typing import Any, Dict, Optional

_REFUSAL_BODY = b'{"error": "too many connections to the status server"}\n'
# Written from the accept loop, where no handler (and no thread) exists for the connection.
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nConnection: close\r\nRetry-After: 1\r\n\r\n" % len(_REFUSAL_BODY)
) + _REFUSAL_BODY


class CappedHTTPServer(http.server.ThreadingHTTPServer):
    """Serves each connection in a daemon thread, at most `max_connections` of them, at most
    `max_connections_per_address` from one client address."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False  # stop() must be prompt: open connections are shut down instead

    def __init__(self, server_address: Any, handler_class: Any, *, max_connections: int,
                 max_connections_per_address: int, logger: logging.Logger) -> None:
        self.max_connections = max_connections
        self.max_connections_per_address = max_connections_per_address
        self.logger = logger
        self._connections: Dict[socket.socket, str] = {}  # open connection -> client address
        self._per_address: Counter = Counter()
        self._connections_lock = threading.Lock()
        self._last_refusal_log = -math.inf
        super().__init__(server_address, handler_class)

    def process_request(self, request: Any, client_address: Any) -> None:
        address = str(client_address[0]) if isinstance(client_address, tuple) and client_address else "?"
        with self._connections_lock:
            if len(self._connections) >= self.max_connections:
                refusal: Optional[str] = "%d connections already open" % len(self._connections)
            elif self._per_address[address] >= self.max_connections_per_address:
                refusal = "%d connections already open from %s" % (self._per_address[address], address)
            else:
                refusal = None
                self._connections[request] = address
                self._per_address[address] += 1
        if refusal is not None:
            self._refuse(request, refusal)
            return
        try:
            super().process_request(request, client_address)
        except Exception:  # noqa: BLE001 - e.g. no thread could be started
            self._forget(request)
            self.shutdown_request(request)
            self.logger.warning("status server: could not serve a connection", exc_info=True)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def _forget(self, request: Any) -> None:
        with self._connections_lock:
            address = self._connections.pop(request, None)
            if address is not None:
                self._per_address[address] -= 1
                if self._per_address[address] <= 0:
                    del self._per_address[address]

    def _refuse(self, request: socket.socket, reason: str) -> None:
        try:
            request.setblocking(False)
            request.send(_REFUSAL)
        except OSError:
            pass
        self.shutdown_request(request)
        now = time.monotonic()
        if now - self._last_refusal_log >= 60:  # a flood gives one line a minute, not one per connection
            self._last_refusal_log = now
            self.logger.warning("status server: refusing connections, %s", reason)

    def close_all_connections(self) -> None:
        """Shuts every open connection down: a handler waiting for its client wakes up and ends."""
        with self._connections_lock:
            open_now = list(self._connections)
        for request in open_now:
            try:
                request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """An exception escaped a handler (a client that vanished mid-request): log it, quietly."""
        self.logger.debug("status server: connection ended with an error", exc_info=True)


__all__ = ["CappedHTTPServer"]
