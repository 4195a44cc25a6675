"""This host's own interface as the line meter: the byte counters in /proc/net/dev.

Right when plex-helper runs on the router itself, or on a machine all the traffic passes (a
bridge); on an ordinary server it sees only that server's traffic, not the other devices'.
"""
from __future__ import annotations

import os
from typing import Dict, Tuple

from domain.line.counters import LineCounters
from domain.ports import FailureKind, LineMeterError

PROC_NET_DEV = "/proc/net/dev"
MAX_BYTES = 1024 * 1024  # a machine with thousands of interfaces stays far below this
# the kernel keeps 64-bit counters on 64-bit machines; a 32-bit kernel's drivers wrap at 4 GiB
_WIDE_MACHINES = ("x86_64", "aarch64", "arm64", "ppc64", "ppc64le", "s390x", "riscv64", "mips64", "loongarch64")


def parse_proc_net_dev(text: str) -> Dict[str, Tuple[int, int]]:
    """{interface: (bytes received, bytes transmitted)} from the text of /proc/net/dev.

    Lines that are not `name: 16 numbers` are skipped (the two header lines, and whatever a future
    kernel adds); a name cannot contain a colon, so the first colon ends it.
    """
    found: Dict[str, Tuple[int, int]] = {}
    for line in text.splitlines():
        name, colon, rest = line.partition(":")
        name = name.strip()
        fields = rest.split()
        if not colon or not name or len(fields) < 16 or not all(f.isascii() and f.isdigit() for f in fields[:16]):
            continue
        found[name] = (int(fields[0]), int(fields[8]))
    return found


def kernel_counter_bits() -> int:
    return 64 if os.uname().machine in _WIDE_MACHINES else 32


class HostInterfaceMeter:
    """Reads one interface's counters; transmitted = sent (upload), received = received (download).
    `wrap_bits` 0: the kernel's width (64 on 64-bit machines, widened when a value shows it)."""

    def __init__(self, interface: str, path: str = PROC_NET_DEV, wrap_bits: int = 0) -> None:
        self.interface = interface
        self.path = path
        self.wrap_bits = wrap_bits or kernel_counter_bits()

    def read_counters(self) -> LineCounters:
        try:
            with open(self.path, "rb") as handle:
                data = handle.read(MAX_BYTES)
        except OSError as exc:
            raise LineMeterError(FailureKind.UNREACHABLE, "%s could not be read (%s): is this Linux?" % (
                self.path, exc.strerror or type(exc).__name__)) from None
        table = parse_proc_net_dev(data.decode("ascii", "replace"))
        if self.interface not in table:
            present = ", ".join(sorted(table)) or "none"
            raise LineMeterError(FailureKind.UNREACHABLE, "the interface %r is not in %s; this machine has: %s" % (
                self.interface, self.path, present))
        received, sent = table[self.interface]
        limit = 2 ** self.wrap_bits
        if sent >= limit or received >= limit:  # wider than we thought: a 64-bit kernel we did not know
            self.wrap_bits = 64
            limit = 2 ** 64
        if sent >= limit or received >= limit:
            raise LineMeterError(FailureKind.MALFORMED, "%s shows a counter of %s wider than 64 bits" % (
                self.path, self.interface))
        return LineCounters(sent, received, self.wrap_bits, self.wrap_bits)

    def describe(self) -> str:
        self.read_counters()  # for `--check`: a missing interface says so here already
        return "this host's interface %s (%s, %d-bit counters)" % (self.interface, self.path, self.wrap_bits)

    def close(self) -> None:
        pass
