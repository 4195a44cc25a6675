"""What the fixtures check about a daemon they start: that it listens on loopback only."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List

_LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1 as /proc/net shows them


def non_loopback_sockets(pid: int) -> List[str]:
    """inet sockets of `pid` bound to anything but 127.0.0.1 or ::1 (unbound ones are fine)."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    bad = []
    for proto in ("tcp", "udp", "tcp6", "udp6", "raw", "raw6"):
        try:
            rows = Path("/proc/net/" + proto).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) < 10 or cols[9] not in inodes:
                continue
            addr, port = cols[1].split(":")
            if int(port, 16) == 0 and int(addr, 16) == 0:
                continue
            if addr in _LOOPBACK:
                continue
            bad.append("%s %s:%d" % (proto, addr, int(port, 16)))
    return bad
