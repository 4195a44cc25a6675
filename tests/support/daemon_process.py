"""The process plumbing the real-daemon fixtures share: start a daemon as our own child in its own
session with a cleared environment, wait until it answers, refuse to keep it if it listens on
anything but loopback, stop it (SIGTERM, SIGKILL after a bound), and kill whatever is left at exit,
also when pytest itself is stopped with SIGTERM (`stop_on_sigterm()`, installed by tests/conftest.py).

What differs between daemons (config files, arguments, the readiness probe) stays in their modules:

    proc = DaemonProcess("qbittorrent-nox", args, base_env(home, tmp), root, root / "qbt.log")
    proc.start(lambda: http_answers(port, "GET", "/api/v2/app/version"), timeout=30.0)
    ...
    proc.stop()
"""
from __future__ import annotations

import atexit
import http.client
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Set

from tests.support.sockets import non_loopback_sockets

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_running: Set["DaemonProcess"] = set()  # killed at exit if a teardown never ran
_children: Set[subprocess.Popen] = set()  # other children (the daemon under test run as a subprocess)


def base_env(home: Path, tmp: Path, **extra: str) -> Dict[str, str]:
    """A cleared environment: PATH, HOME, TMPDIR, LANG and whatever else the daemon needs."""
    env = {"PATH": SYSTEM_PATH, "HOME": str(home), "TMPDIR": str(tmp), "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def http_answers(port: int, method: str, path: str, body: Optional[bytes] = None) -> bool:
    """Whether an HTTP server on 127.0.0.1:`port` answers the request at all (any status)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request(method, path, body=body)
        conn.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        conn.close()


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


class DaemonProcess:
    """One daemon process; `start()` may be called again after `stop()` (a restart, same arguments)."""

    def __init__(
        self, name: str, args: List[str], env: Dict[str, str], cwd: Path, log_path: Path,
        stop_timeout: float = 15.0, extra_logs: Sequence[Path] = (),
    ) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.cwd = cwd
        self.log_path = log_path  # stdout and stderr, appended
        self.stop_timeout = stop_timeout
        self.extra_logs = list(extra_logs)  # log files the daemon writes itself, shown after a failed start
        self._proc: Optional[subprocess.Popen] = None
        self._log_offset = 0

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(
        self, ready: Callable[[], bool], timeout: float, settle_sec: float = 0.0,
        failure_signal: int = signal.SIGTERM,
    ) -> "DaemonProcess":
        """Launch, poll `ready()` (an OSError counts as not ready; a RuntimeError aborts) until it is
        true within `timeout`, then give the daemon up to `settle_sec` to drop non-loopback sockets.
        On failure the process is stopped with `failure_signal` (SIGKILL after the stop bound) and a
        RuntimeError carries the tail of its logs."""
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        _running.add(self)  # before the launch: an interruption between the two must not lose the process
        with open(self.log_path, "ab") as out, open(os.devnull, "rb") as devnull:
            self._proc = subprocess.Popen(
                self.args, env=self.env, cwd=str(self.cwd), stdin=devnull, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True,
            )
        try:
            self._wait_ready(ready, timeout)
            bad = self._non_loopback_sockets()
            settle = time.monotonic() + settle_sec
            while bad and time.monotonic() < settle:
                time.sleep(0.1)
                bad = self._non_loopback_sockets()
            if bad:
                raise RuntimeError("refusing to keep %s with non-loopback sockets: %s" % (self.name, bad))
        except BaseException as exc:
            self.stop(failure_signal)
            if isinstance(exc, RuntimeError):
                raise RuntimeError("%s\n%s" % (exc, self.log_tail())) from None
            raise
        return self

    def _check_alive(self) -> None:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise RuntimeError("%s exited with %s during start" % (self.name, self._proc.returncode))

    def _wait_ready(self, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s did not answer within %.0f s" % (self.name, timeout))

    def _non_loopback_sockets(self) -> List[str]:
        assert self._proc is not None
        try:
            return non_loopback_sockets(self._proc.pid)
        except OSError:  # /proc/PID is gone: it exited
            self._check_alive()
            raise

    def wait(self, timeout: float) -> bool:
        """Whether the process has exited within `timeout` (for daemons asked to shut down)."""
        if self._proc is None:
            return True
        try:
            self._proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Send `sig`, wait up to the stop bound, then SIGKILL; a no-op when it is not running."""
        proc = self._proc
        if proc is None:
            _running.discard(self)  # a launch that failed
            return
        if proc.poll() is None:
            proc.send_signal(sig)  # our own child: its pid cannot be reused before wait()
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=self.stop_timeout)
        self._proc = None
        _running.discard(self)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_tail(self, chars: int = 2000) -> str:
        """The end of what the daemon printed since the last start, then the ends of its own log files."""
        parts = []
        if self.log_path.exists():
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                parts.append(log.read().decode("utf-8", "replace")[-chars:])
        for path in self.extra_logs:
            if path.exists():
                parts.append("%s: %s" % (path.name, path.read_text(encoding="utf-8", errors="replace")[-chars:]))
        return "\n".join(parts)


def track_child(process: subprocess.Popen) -> subprocess.Popen:
    """Have `process` killed at exit (and on SIGTERM to pytest) if the test never stopped it."""
    _children.add(process)
    return process


@atexit.register
def kill_leftovers() -> None:
    """Kill every daemon and tracked child still running (what an interrupted teardown left)."""
    for process in list(_running):
        process.kill()
    for child in list(_children):
        if child.poll() is None:
            child.kill()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        _children.discard(child)


_sigterm_seen: List[int] = []


def stop_on_sigterm() -> None:
    """Make SIGTERM to pytest act as Ctrl-C: a KeyboardInterrupt, so teardowns run and pytest reports
    what it got to (atexit alone would not run: a SIGTERM's default action ends the process at once).
    A second SIGTERM during the teardowns kills what is left and exits."""
    def on_sigterm(signum: int, frame: object) -> None:
        if _sigterm_seen:
            kill_leftovers()
            os._exit(128 + signum)
        _sigterm_seen.append(signum)
        raise KeyboardInterrupt("SIGTERM")

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # left alone when a runner installed its own
        signal.signal(signal.SIGTERM, on_sigterm)
