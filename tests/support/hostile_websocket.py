"""WebSocket servers that misbehave on purpose, for the push channel's tests: scripts for
WebSocketTestServer (tests/support/jellyfin_server.py), which listens on 127.0.0.1 only.

    with WebSocketTestServer(HostileThenNormal(endless_fragments)) as server:
        listener = JellyfinEventListener(JELLYFIN, "http://127.0.0.1:%d" % server.port, key, trigger)

Each behaviour answers the upgrade (or refuses it), then misbehaves until the client goes away or
the server stops; none runs longer than BEHAVIOUR_LIMIT_SEC.
"""
from __future__ import annotations

import json
import struct
import threading
import time
from typing import Callable, Dict, List

from tests.support.jellyfin_server import Request, ServerSide

Behaviour = Callable[[ServerSide, Request], None]
BEHAVIOUR_LIMIT_SEC = 30.0
SESSIONS = json.dumps({"MessageType": "Sessions", "Data": [
    {"Id": "s1", "NowPlayingItem": {"Id": "i1"}, "PlayState": {"IsPaused": False}}]})


def _until_gone(send: Callable[[], None]) -> None:
    ends = time.monotonic() + BEHAVIOUR_LIMIT_SEC
    while time.monotonic() < ends:
        send()  # raises OSError once the client has gone


def huge_frame_length(conn: ServerSide, request: Request) -> None:
    """A text frame announcing 2 GiB, then its payload for as long as anyone reads it."""
    conn.handshake(request)
    conn.send_raw(struct.pack("!BBQ", 0x81, 127, 2 << 30))
    block = b"x" * 65536
    _until_gone(lambda: conn.send_raw(block))


def endless_fragments(conn: ServerSide, request: Request) -> None:
    """A message started, then continued with 1-byte continuation frames for ever."""
    conn.handshake(request)
    conn.send_frame(0x1, b"{", fin=False)
    batch = conn.frame_bytes(0x0, b" ", fin=False) * 512
    _until_gone(lambda: conn.send_raw(batch))


def ping_flood(conn: ServerSide, request: Request) -> None:
    """Pings, as fast as the socket takes them."""
    conn.handshake(request)
    batch = conn.frame_bytes(0x9, b"are you there") * 64
    _until_gone(lambda: conn.send_raw(batch))


def big_message(conn: ServerSide, request: Request) -> None:
    """A 50 MB Sessions-like message in 1 MiB fragments (each under the cap, the whole over it)."""
    conn.handshake(request)
    chunk = b" " * (1 << 20)
    conn.send_frame(0x1, b'{"MessageType": "Sessions", "Data": "', fin=False)
    for _ in range(50):
        conn.send_frame(0x0, chunk, fin=False)
    conn.send_frame(0x0, b'"}')
    conn.recv_frame()


def big_frame(conn: ServerSide, request: Request) -> None:
    """A 50 MB message in one frame (sent in blocks: the stand-in holds no 50 MB of its own)."""
    conn.handshake(request)
    conn.send_raw(struct.pack("!BBQ", 0x81, 127, 50 * 1000 * 1000))
    block = b" " * 65536
    for _ in range(50 * 1000 * 1000 // len(block)):
        conn.send_raw(block)
    conn.recv_frame()


def unknown_opcode(conn: ServerSide, request: Request) -> None:
    conn.handshake(request)
    conn.send_frame(0x3, b"what is this")
    conn.recv_frame()


def wrong_accept(conn: ServerSide, request: Request) -> None:
    conn.handshake(request, accept="d3JvbmcgYWNjZXB0IGtleQ==")
    conn.recv_frame()


def normal(conn: ServerSide, request: Request) -> None:
    """A working push server: reads SessionsStart, sends a Sessions message, answers until closed."""
    conn.handshake(request)
    conn.recv_frame()
    conn.send_text(SESSIONS)
    while True:
        frame = conn.recv_frame(timeout=BEHAVIOUR_LIMIT_SEC)
        if frame is None or frame.opcode == 0x8:
            return
        if frame.opcode == 0x9:
            conn.send_frame(0xA, frame.payload)


class HostileThenNormal:
    """`behaviour` on the first `hostile_connections` connections, then `normal`. Counts what it saw."""

    def __init__(self, behaviour: Behaviour, hostile_connections: int = 1) -> None:
        self.behaviour = behaviour
        self.hostile_connections = hostile_connections
        self.seen: Dict[str, int] = {"connections": 0}
        self.started: List[float] = []
        self._lock = threading.Lock()

    def __call__(self, conn: ServerSide, request: Request) -> None:
        with self._lock:
            self.seen["connections"] += 1
            self.started.append(time.monotonic())
            hostile = self.seen["connections"] <= self.hostile_connections
        (self.behaviour if hostile else normal)(conn, request)

    @property
    def connections(self) -> int:
        with self._lock:
            return self.seen["connections"]
