"""Free ports on 127.0.0.1 for the servers and daemons the tests start."""
from __future__ import annotations

import socket
from typing import AbstractSet


def free_port(exclude: AbstractSet[int] = frozenset()) -> int:
    """A port free for TCP and UDP on 127.0.0.1 (a torrent client's port needs both)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            if port in exclude:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port on 127.0.0.1")
