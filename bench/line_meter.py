"""What the line meter adds to a poll: CPU per reading, and per tracker step.

    python -m bench.line_meter [--reads 300] [--pause-ms 0]

Each meter reads its test server on 127.0.0.1 (the IGD stand-in in a child process, keeping its
connections alive or closing each one as miniupnpd does; Debian's snmpd, a child process;
/proc/net/dev), `--reads` times after a few warm-up reads (the first SNMP reading imports pysnmp
and walks the interface table; the first UPnP one fetches the description). Back to back by
default; `--pause-ms` idles between readings (not counted), as a daemon polling every few seconds
does: caches go cold and a reading costs more than back to back. CPU is the calling thread's own
clock (time.thread_time), so the stand-in's server threads do not count; both meters do all their
work in the calling thread (SNMP on its own UDP socket, UPnP on one kept-alive http.client
connection). The tracker step (LineTracker.budgets: a reading, the clients' rates from stand-ins,
step_line) is timed the same way on the host meter. How many polls the budget takes to settle after
a step in other traffic: bench/line_settling.py.
Medians and 95th percentiles, in ms.
"""
from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import sys
import time
from typing import Any, Callable, Iterator, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

BUDGET_MS = 0.3  # what a reading may cost per poll
BOUND_SEC = 600  # a stand-in child ends by itself after this, should the bench be killed


def cpu_ms(action: Callable[[], object], reads: int, warm_up: int = 5, pause_sec: float = 0.0) -> List[float]:
    for _ in range(warm_up):
        action()
    times = []
    for _ in range(reads):
        if pause_sec:
            time.sleep(pause_sec)
        started = time.thread_time()
        action()
        times.append((time.thread_time() - started) * 1000)
    return times


def line(name: str, times: List[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    verdict = "within" if statistics.median(times) <= BUDGET_MS else "OVER"
    return "%-34s median %.3f ms  p95 %.3f ms  (%s %.1f ms)" % (name, statistics.median(times), p95, verdict, BUDGET_MS)


def _serve_igd(locations: "multiprocessing.Queue[str]", stop: Any, avm: bool, keep_alive: bool) -> None:
    from tests.support.igd_server import IgdStandIn

    with IgdStandIn(avm=avm, keep_alive=keep_alive) as igd:
        locations.put(igd.location)
        stop.wait(BOUND_SEC)


@contextlib.contextmanager
def igd_in_a_child(avm: bool, keep_alive: bool) -> Iterator[str]:
    """The IGD stand-in in a process of its own (as the router is a box of its own, and as snmpd
    runs): its server threads then share neither the GIL nor the caches with the meter being
    measured. Yields the description URL."""
    context = multiprocessing.get_context("spawn")
    locations, stop = context.Queue(), context.Event()
    child = context.Process(target=_serve_igd, args=(locations, stop, avm, keep_alive), daemon=True)
    child.start()
    try:
        yield locations.get(timeout=30)
    finally:
        stop.set()
        child.join(10)
        if child.is_alive():
            child.kill()


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--pause-ms", type=float, default=0.0, help="idle between readings (not counted)")
    options = parser.parse_args(argv)
    reads, pause = options.reads, options.pause_ms / 1000
    from adapters.line import HostInterfaceMeter, SnmpLineMeter, UpnpLineMeter
    from application.line_tracker import LineTracker
    from domain.limit_plan import Direction
    from domain.policies import SpeedLimit
    from domain.sessions import PlaybackSession
    from tests.support.snmpd_daemon import running_snmpd

    print("CPU per reading, %d readings (thread CPU)%s" % (reads, ", %g ms apart" % options.pause_ms if pause else ""))
    both, upload = (Direction.UPLOAD, Direction.DOWNLOAD), (Direction.UPLOAD,)
    # the upload-only lines: the common configuration (only line_upload_kbps set), one request
    for avm, keep_alive, directions in ((False, True, both), (False, True, upload), (True, True, both),
                                        (False, False, both), (False, False, upload), (True, False, both)):
        with igd_in_a_child(avm, keep_alive) as location:
            meter = UpnpLineMeter(location, timeout_sec=2.0, directions=directions)
            name = "upnp (%s, %s%s)" % ("AVM 64-bit" if avm else "IGD 32-bit", "kept" if keep_alive else "closed",
                                        ", up only" if directions == upload else "")
            print(line(name, cpu_ms(meter.read_counters, reads, pause_sec=pause)))
            meter.close()
    try:
        with running_snmpd() as agent:
            meter = SnmpLineMeter(agent.host, agent.community, "lo", port=agent.port)
            print(line("snmp (snmpd, lo)", cpu_ms(meter.read_counters, reads, pause_sec=pause)))
            meter.close()
    except BaseException as exc:  # no snmpd or no pysnmp here: say so, measure the rest
        if isinstance(exc, KeyboardInterrupt):
            raise
        print("%-34s skipped: %s" % ("snmp", exc))
    host = HostInterfaceMeter("lo")
    print(line("host (/proc/net/dev, lo)", cpu_ms(host.read_counters, reads, pause_sec=pause)))

    class Rates:
        def current_upload_rate(self) -> SpeedLimit:
            return SpeedLimit(100)

        def current_download_rate(self) -> SpeedLimit:
            return SpeedLimit(100)

    class Slot:
        name, rates = "qbittorrent", Rates()

    tracker = LineTracker(host, {Direction.UPLOAD: 5000, Direction.DOWNLOAD: 50000}, 0.1, "host lo")
    stream = PlaybackSession(state="playing", local=False, location="wan", user="u", player="p", bandwidth_kbps=8000)
    fixed = {Direction.UPLOAD: SpeedLimit(5000), Direction.DOWNLOAD: None}
    print(line("tracker step (host meter)", cpu_ms(lambda: tracker.budgets(True, fixed, [stream], [Slot()]), reads,
                                                        pause_sec=pause)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
