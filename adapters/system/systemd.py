"""sd_notify with the standard library: one datagram per message to $NOTIFY_SOCKET."""
from __future__ import annotations

import os
import socket
import time
from typing import Mapping, Optional


class SystemdNotifier:
    """Tells systemd about readiness, status, reloads and liveness. Does nothing outside systemd."""

    def __init__(self, environ: Optional[Mapping[str, str]] = None) -> None:
        environ = os.environ if environ is None else environ
        self._address = self._socket_address(environ.get("NOTIFY_SOCKET", ""))
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        watchdog_for_us = usec.isdigit() and (not pid or pid == str(os.getpid()))
        self.watchdog_interval_sec: Optional[float] = int(usec) / 1e6 if watchdog_for_us and int(usec) > 0 else None
        self._socket: Optional[socket.socket] = None

    @staticmethod
    def _socket_address(value: str) -> Optional[str]:
        if not value or not (value.startswith("/") or value.startswith("@")):
            return None
        # a leading "@" names a socket in the abstract namespace
        return "\0" + value[1:] if value.startswith("@") else value

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *fields: str) -> bool:
        if self._address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            self._socket.sendto("\n".join(fields).encode("utf-8"), self._address)
            return True
        except OSError:
            return False  # systemd gone or the socket full: never a reason to stop working

    def ready(self, status: str) -> None:
        self.send("READY=1", "STATUS=" + status)

    def status(self, status: str) -> None:
        self.send("STATUS=" + status)

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def reloading(self) -> None:
        self.send("RELOADING=1", "MONOTONIC_USEC=%d" % (time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000))

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
