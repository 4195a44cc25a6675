"""Stopping pytest stops the daemons the tests started: Ctrl-C (SIGINT) and SIGTERM alike.

A child pytest runs a test that starts a real transmission-daemon and then waits; it is signalled
while it waits, and the daemon must be gone soon after the child exits.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
HOLDING_TEST = '''
import os
import threading
from pathlib import Path


def test_holds_a_daemon(transmission_factory):
    daemon = transmission_factory()
    Path(os.environ["DAEMON_PID_FILE"]).write_text(str(daemon.pid))
    threading.Event().wait(120)  # the parent signals us meanwhile
'''

pytestmark = [pytest.mark.real_daemons,
              pytest.mark.skipif(shutil.which("transmission-daemon") is None,
                                 reason="transmission-daemon is not installed")]


def alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie waiting for its parent counts as gone)."""
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signalled_run_leaves_no_daemon_behind(tmp_path: Path, sig: int) -> None:
    (tmp_path / "test_holding.py").write_text(HOLDING_TEST)
    pid_file = tmp_path / "daemon.pid"
    env = dict(os.environ, PYTHONPATH=str(ROOT), DAEMON_PID_FILE=str(pid_file))
    # the project's conftest as a plugin: its fixtures and its SIGTERM handling, nothing else of tests/
    child = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_holding.py")],
        cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    daemon = 0
    try:
        assert wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=60), \
            "the child never started transmission-daemon"
        daemon = int(pid_file.read_text())
        assert alive(daemon)
        child.send_signal(sig)
        output, _ = child.communicate(timeout=60)
        assert wait_until(lambda: not alive(daemon), timeout=10), "transmission-daemon outlived pytest:\n" + output
        assert "Interrupted" in output or "KeyboardInterrupt" in output, output
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
        if daemon and alive(daemon) and b"transmission" in Path("/proc/%d/cmdline" % daemon).read_bytes():
            os.kill(daemon, signal.SIGKILL)  # never leave one behind, even when the test failed
