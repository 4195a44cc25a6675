"""pytest fixture: Debian's net-snmp `snmpd` on 127.0.0.1, serving this machine's real IF-MIB.

The agent gets a throwaway directory with a two-line config (`agentAddress udp:127.0.0.1:<port>`,
`rocommunity <community> 127.0.0.1`), read alone (`-C -c <conf>`), runs in the foreground logging to
stdout (`-f -Lo`), keeps its persistent files in the directory (SNMP_PERSISTENT_DIR) and loads no
MIB files (`-m ''`: the tests use numeric OIDs). No AgentX master is configured, and the SMUX
module is left out (`-I -smux`: as root it would listen on TCP *:199), so it opens no socket but
the one UDP port. It is our own child in its own session; the fixture's teardown stops
it, and DaemonProcess kills it at exit when a teardown never ran (an interrupted run).

    from tests.support.snmpd_daemon import snmpd, snmpd_without_ifxtable  # noqa: F401

    def test_x(snmpd):  snmpd.port, snmpd.community, snmpd.host
    snmpd_without_ifxtable: the same with IF-MIB's ifXTable left out (`-I -ifXTable`): no ifName, no
    64-bit counters, as on an old router
"""
from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Optional, Tuple

import pytest

from tests.support.daemon_process import DaemonProcess, base_env
from tests.support.ports import free_port

BINARY = "/usr/sbin/snmpd"
SKIP_REASON = "snmpd is not installed (apt-get install snmpd)"
START_TIMEOUT_SEC = 15.0


def udp_bound(port: int) -> bool:
    """Whether something has bound UDP 127.0.0.1:`port` (snmpd binds before it serves; a request
    sent after the bind waits in the socket's queue, so bound is ready enough)."""
    wanted = "0100007F:%04X" % port
    rows = Path("/proc/net/udp").read_text().splitlines()[1:]
    return any(row.split()[1] == wanted for row in rows if len(row.split()) > 1)


class SnmpdInstance:
    host = "127.0.0.1"

    def __init__(self, root: Path, without: Tuple[str, ...] = ()) -> None:
        self.root = root
        self.without = ("smux",) + tuple(without)  # MIB modules left out (-I -name,...)
        self.community = "plexhelper-" + secrets.token_hex(4)  # not "public": a wrong one must fail
        self.port = 0
        self._process: Optional[DaemonProcess] = None

    def start(self) -> "SnmpdInstance":
        last_error = ""
        for _ in range(3):
            self.port = free_port()
            conf = self.root / "snmpd.conf"
            conf.write_text("agentAddress udp:127.0.0.1:%d\nrocommunity %s 127.0.0.1\ndontLogTCPWrappersConnects yes\n"
                            % (self.port, self.community))
            args = [BINARY, "-f", "-Lo", "-C", "-c", str(conf), "-p", str(self.root / "snmpd.pid"), "-m", "",
                    "-I", "-" + ",".join(self.without)]
            env = base_env(self.root, self.root, SNMP_PERSISTENT_DIR=str(self.root / "persist"), MIBS="")
            self._process = DaemonProcess("snmpd", args, env, self.root, self.root / "snmpd.log")
            try:
                self._process.start(lambda: udp_bound(self.port), timeout=START_TIMEOUT_SEC)
                return self
            except RuntimeError as exc:
                last_error = str(exc)
                if "in use" not in last_error.lower() and "bind" not in last_error.lower():
                    break
        raise RuntimeError(last_error)

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None


@contextlib.contextmanager
def running_snmpd(without: Tuple[str, ...] = ()) -> Iterator[SnmpdInstance]:
    if not Path(BINARY).exists():
        pytest.skip(SKIP_REASON)
    root = Path(tempfile.mkdtemp(prefix="snmpd-"))
    instance = SnmpdInstance(root, without)
    try:
        yield instance.start()
    finally:
        instance.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def snmpd() -> Iterator[SnmpdInstance]:
    with running_snmpd() as instance:
        yield instance


@pytest.fixture(scope="module")
def snmpd_without_ifxtable() -> Iterator[SnmpdInstance]:
    """An agent like an old router's: IF-MIB's ifTable only, no ifName and no 64-bit counters."""
    with running_snmpd(without=("ifXTable",)) as instance:
        yield instance
