"""The measured client, in its own process: the daemon's Container built from a config file, then
`DaemonRunner.run_once()` in a loop; one JSON line of what it cost.

    python3 -c "import sys; from bench.poll_worker import main; sys.exit(main(sys.argv[1:]))" \\
        --config CFG --polls 1000 [--warmup 10] [--virtual-clock] [--poll-interval 10] [--floor]

Imported rather than run as a script: a script is compiled on every start (never cached), and that
compile's peak would show up in the worker's peak RSS. Only os and sys at the top, for the same reason.
"""
from __future__ import annotations

import os
import sys

from bench.common import FLOOR_IMPORT, ROOT, minor_faults, status_kb


def worker_polls(args) -> int:
    """Build the daemon as cli.run_daemon does, then run_once() `--polls` times; print JSON.

    Protocol on stdin/stdout: after the warm-up polls the worker prints "ready" and waits for a
    line on stdin (the parent resets the servers' counters meanwhile), then runs the measured
    polls and prints one JSON line.
    """
    import json
    import time

    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from application.config.load import load_settings, permission_warnings
    from application.container import Container
    from adapters.system.logging import configure_logging
    from application.reload import ConfigReloader  # noqa: F401 - the daemon imports it too (memory)

    # As cli.run_daemon: logging, the JSON config through marshmallow, the container.
    logger = configure_logging(False)  # INFO to stderr (the parent discards it)
    settings = load_settings(args.config)
    for warning in permission_warnings(args.config):
        logger.warning("%s", warning)
    overrides = {}
    clock = None
    if args.virtual_clock:
        class VirtualClock:
            now = 1000.0

            def __call__(self) -> float:
                return self.now

        clock = VirtualClock()
        overrides["clock"] = clock
    hwm_imports = status_kb("VmHWM")
    container = Container(settings=settings, dry_run=False, **overrides)
    runner = container.runner()
    hwm_built = status_kb("VmHWM")

    first_error = []

    def poll(n: int):
        errors = 0
        report = None
        for _ in range(n):
            if clock is not None:
                clock.now += args.poll_interval
            report = runner.run_once()
            # every server and client (the single-value fields describe the first of each only)
            failed = [r.error for r in (*getattr(report, "servers", ()), *getattr(report, "clients", ()))
                      if r.error is not None] or [e for e in (report.source_error, report.limiter_error) if e is not None]
            if failed:
                errors += 1
                if not first_error:
                    first_error.append(str(failed[0]))
        return errors, report

    _, _ = poll(1)
    hwm_first = status_kb("VmHWM")
    warm_errors, _ = poll(max(args.warmup - 1, 0))
    hwm_warm = status_kb("VmHWM")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    process_time, perf_counter = time.process_time, time.perf_counter
    t0, f0 = os.times(), minor_faults()
    c0, w0 = process_time(), perf_counter()
    errors, report = poll(args.polls)
    cpu, wall = process_time() - c0, perf_counter() - w0
    t1, f1 = os.times(), minor_faults()
    result = {
        "polls": args.polls,
        "cpu_s": cpu,
        "wall_s": wall,
        "user_s": t1.user - t0.user,
        "system_s": t1.system - t0.system,
        "minor_faults": f1 - f0,
        "errors": errors,
        "warmup_errors": warm_errors,
        "first_error": first_error[0] if first_error else None,
        "state": report.after.state.value if report and report.after.state else None,
        "desired_bytes": report.desired.bytes_per_sec if report and report.desired else None,
        "remote_sessions": len(report.remote_sessions) if report else None,
        "sessions_seen": len(report.sessions) if report else None,
        "vmhwm_kb": status_kb("VmHWM"),
        "vmhwm_stages_kb": {"imports+config": hwm_imports, "container+runner": hwm_built, "first poll": hwm_first,
                            "warm-up": hwm_warm},
        "vmrss_kb": status_kb("VmRSS"),
        "modules": len(sys.modules),
        "client_targets_kib": {c.name: (c.target.kib_per_sec if getattr(c, "target", None) is not None else None)
                               for c in getattr(report, "clients", ())} if report else None,
        "servers_read": len(getattr(report, "servers", ())) if report else None,
    }
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


def worker_floor(_args) -> int:
    """The bare import of the dependencies (the memory floor), for a manual comparison; the parent
    runs `python3 -c` directly."""
    exec(FLOOR_IMPORT)
    print(status_kb("VmHWM"))
    return 0


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="the bench's poll worker (run by python3 -m bench.run)")
    p.add_argument("--config", help="the daemon's config file")
    p.add_argument("--polls", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--poll-interval", type=float, default=10.0)
    p.add_argument("--reconcile", type=float, default=60.0)
    p.add_argument("--virtual-clock", action="store_true")
    p.add_argument("--floor", action="store_true", help="only the bare import of the dependencies")
    args = p.parse_args(argv)
    if args.floor:
        return worker_floor(args)
    if not args.config:
        p.error("--config is required")
    return worker_polls(args)
