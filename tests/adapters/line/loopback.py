"""Known traffic over loopback, and the kernel's own count of it (the reference the meters are held to)."""
from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Tuple


def lo_counters() -> Tuple[int, int]:
    """(received, transmitted) bytes of `lo`, straight from /proc/net/dev."""
    for line in Path("/proc/net/dev").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name.strip() == "lo":
            fields = rest.split()
            return int(fields[0]), int(fields[8])
    raise AssertionError("no lo in /proc/net/dev")


def send_over_loopback(total: int) -> None:
    """Moves `total` bytes through a TCP connection on 127.0.0.1 and waits until all arrived."""
    listener = socket.create_server(("127.0.0.1", 0))
    received = []

    def drain() -> None:
        conn, _ = listener.accept()
        with conn:
            count = 0
            while count < total:
                chunk = conn.recv(1 << 16)
                if not chunk:
                    break
                count += len(chunk)
            received.append(count)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    with socket.create_connection(listener.getsockname(), timeout=10) as sender:
        block = b"x" * (1 << 16)
        left = total
        while left > 0:
            sender.sendall(block[: min(left, len(block))])
            left -= min(left, len(block))
    reader.join(timeout=10)
    listener.close()
    assert received == [total]
