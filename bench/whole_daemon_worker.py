"""The whole-daemon section's workers, run as a script by bench/sections/whole_daemon.py:

* `--profile-worker`: the extracted .pyz tree in-process (its bootstrap's sys.path isolation, then
  application.cli.main with the section's config), with thin timers around each stage of a poll,
  first paced, then back to back, then under cProfile (kept as text in bench/profiles/);
* `--decode-floor`: json.loads alone of the same answers, paced one a second, then back to back.

A script, not `-c "from bench..."`: the profile must see the .pyz's own sys.path, not the source tree.
"""
from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def profile_worker(args) -> int:
    import collections
    import cProfile
    import io
    import json
    import pstats
    import threading
    import time
    import types

    tree = args.tree
    sys.path.insert(0, tree)
    try:  # the same sys.path the .pyz gives the daemon
        import plex_helper_boot as boot

        boot.isolate_sys_path(tree)
        boot.forget_foreign_modules(tree)
    except (ImportError, AttributeError):
        pass
    if os.path.dirname(os.path.abspath(__file__)) in sys.path:
        sys.path.remove(os.path.dirname(os.path.abspath(__file__)))
    import application.version

    application.version.BUILD = os.path.basename(tree).split("-", 1)[0]
    import application.cli as cli
    import application.loop.runner as runner_mod

    T = time.thread_time_ns
    stages = collections.defaultdict(int)
    calls = collections.Counter()
    patches = []  # (owner, name, original)
    timing = {"on": False}

    def timed(name, fn):
        def timed_call(*a, **k):
            if not timing["on"]:
                return fn(*a, **k)
            t0 = T()
            try:
                return fn(*a, **k)
            finally:
                stages[name] += T() - t0
                calls[name] += 1
        return timed_call

    def patch(owner, attr, name):
        original = getattr(owner, attr, None)
        if original is None:
            missing.append("%s.%s" % (getattr(owner, "__name__", owner), attr))
            return
        patches.append((owner, attr, original))
        setattr(owner, attr, timed(name, original))

    missing = []

    def install_stage_timers():
        import adapters.transport.http
        import adapters.media.plex.source
        import application.observers.reporting
        import application.service
        import domain.throttle

        patch(adapters.media.plex.source.PlexStreamSource, "read_sessions", "read")
        patch(adapters.media.plex.source.PlexStreamSource, "_get", "plex_http")
        try:  # older daemons kept the reading in plex.py
            import adapters.media.plex.sessions as reading
        except ImportError:
            reading = adapters.media.plex.source
        if hasattr(reading, "json"):
            shim = types.SimpleNamespace(**{k: getattr(reading.json, k) for k in dir(reading.json)
                                            if not k.startswith("__")})
            shim.loads = timed("json", reading.json.loads)
            patches.append((reading, "json", reading.json))
            reading.json = shim
        if hasattr(adapters.media.plex.source, "decode_bounded"):  # bounds checked, then json.loads
            patch(adapters.media.plex.source, "decode_bounded", "json")
        patch(adapters.media.plex.source if hasattr(adapters.media.plex.source, "parse_sessions") else reading,
              "parse_sessions", "parse")
        patch(adapters.transport.http.HttpClient, "request", "http_all")
        patch(application.service.ThrottleService, "tick", "tick")
        patch(application.service.ThrottleService, "_enforce", "enforce")
        patch(domain.throttle.Throttle, "step", "step")
        patch(application.observers.reporting.TickLogger, "report", "report_log")
        patch(runner_mod.DaemonRunner, "_sleep", "loop_sleep")

    def remove_stage_timers():
        while patches:
            owner, attr, original = patches.pop()
            setattr(owner, attr, original)

    phases = [("warmup", 5, 0.0), ("paced", args.paced, 1.0), ("back_to_back", args.back_to_back, 0.0),
              ("cprofile", args.profiled, 0.0)]
    state = {"phase": 0, "count": 0, "mark": None}
    results = {}
    profiler = cProfile.Profile(time.thread_time)
    original_run_once = runner_mod.DaemonRunner.run_once
    original_run = runner_mod.DaemonRunner.run
    instance_patches = []

    def thread_cpu():
        """{thread name: CPU ns} of this process's threads (schedstat), by native id."""
        names = {t.native_id: t.name for t in threading.enumerate()}
        out = {}
        for tid in os.listdir("/proc/self/task"):
            try:
                ns = int(_read("/proc/self/task/%s/schedstat" % tid).split()[0])
                status = _read("/proc/self/task/%s/status" % tid)
            except OSError:
                continue
            switches = sum(int(l.split()[1]) for l in status.splitlines() if "ctxt_switches:" in l)
            out[names.get(int(tid), "tid %s" % tid)] = (ns, switches)
        return out

    def mark():
        return {"thread": T(), "process": time.process_time_ns(), "wall": time.monotonic(), "threads": thread_cpu(),
                "stages": dict(stages), "calls": dict(calls)}

    def close_phase(name, start, polls):
        end = mark()
        d = {k: (end["stages"].get(k, 0) - start["stages"].get(k, 0)) / 1e6 / polls for k in end["stages"]}
        main_ms = (end["thread"] - start["thread"]) / 1e6 / polls
        proc_ms = (end["process"] - start["process"]) / 1e6 / polls
        threads = {}
        for tname, (ns, sw) in end["threads"].items():
            ns0, sw0 = start["threads"].get(tname, (0, 0))
            threads[tname] = {"cpu_ms_per_poll": (ns - ns0) / 1e6 / polls, "switches_per_poll": (sw - sw0) / polls}
        res = {"polls": polls, "seconds": end["wall"] - start["wall"], "main_thread_cpu_ms_per_poll": main_ms,
               "process_cpu_ms_per_poll": proc_ms, "stage_ms_per_poll": d, "threads": threads,
               "calls_per_poll": {k: (end["calls"].get(k, 0) - start["calls"].get(k, 0)) / polls for k in end["calls"]}}
        if name != "cprofile":
            g = lambda k: d.get(k, 0.0)  # noqa: E731
            read_other = g("read") - g("plex_http") - g("json") - g("parse")
            tick_other = g("tick") - g("read") - g("step") - g("enforce")
            observers = sum(v for k, v in d.items() if k.startswith("observer:"))
            run_once_other = g("run_once") - g("tick") - g("report_log") - observers
            loop_other = main_ms - g("run_once") - g("loop_sleep")
            parts = {
                "HTTP exchange (Plex)": g("plex_http"),
                "JSON decoding": g("json"),  # the bounds, then json.loads
                "parse_sessions": g("parse"),
                "read_sessions, rest": read_other,
                "domain step (Throttle.step)": g("step"),
                "enforce (client slots)": g("enforce"),
                "tick, rest (report objects)": tick_other,
                "report log (TickLogger)": g("report_log"),
                "observers": observers,
                "run_once, rest (status line, notifier)": run_once_other,
                "loop: sleep/wake path": g("loop_sleep"),
                "loop, rest": loop_other,
                "other threads": proc_ms - main_ms,
            }
            res["parts_ms_per_poll"] = parts
            total = sum(parts.values()) or 1.0
            res["shares_percent"] = {k: 100.0 * v / total for k, v in parts.items()}
        results[name] = res

    def run_once(self, triggered=False):
        phase_name, count, interval = phases[state["phase"]]
        if state["count"] == 0:
            if phase_name in ("paced", "back_to_back"):
                timing["on"] = True
            if phase_name == "cprofile":
                timing["on"] = False
                remove_stage_timers()
                profiler.enable()
            self.interval_sec = interval
            state["mark"] = mark()
        t0 = T()
        try:
            return original_run_once(self, triggered)
        finally:
            if timing["on"]:
                stages["run_once"] += T() - t0
                calls["run_once"] += 1
            state["count"] += 1
            if state["count"] >= count:
                if phase_name == "cprofile":
                    profiler.disable()
                if phase_name != "warmup":
                    close_phase(phase_name, state["mark"], count)
                state["phase"] += 1
                state["count"] = 0
                if state["phase"] >= len(phases):
                    self.request_stop()

    def run(self):
        # observers and the log handler as the daemon has them, each behind a timer
        for i, observer in enumerate(self.observers):
            proxy = types.SimpleNamespace(report=timed("observer:%s" % type(observer).__name__, observer.report))
            self.observers[i] = proxy
            instance_patches.append(type(observer).__name__)
        for handler in self.tick_logger._logger.handlers if hasattr(self.tick_logger, "_logger") else ():
            handler.emit = timed("log_emit", handler.emit)
        self.interval_sec = 0.0
        return original_run(self)

    install_stage_timers()
    runner_mod.DaemonRunner.run_once = run_once
    runner_mod.DaemonRunner.run = run
    argv = ["--config", args.config] + (["--verbose"] if args.verbose else [])
    code = cli.main(argv)

    text = io.StringIO()
    text.write("plex-helper steady-state profile, %d sessions (bench/payloads.py), --config with plex_events true%s\n"
               % (args.sessions, ", --verbose" if args.verbose else ""))
    text.write("made by: python3 -m bench.run --whole-daemon (bench/whole_daemon_worker.py --profile-worker)\n")
    text.write("tree: the extracted .pyz, run in-process by application.cli.main; Python %s\n\n" % sys.version.split()[0])
    for name in ("paced", "back_to_back"):
        r = results.get(name)
        if not r:
            continue
        text.write("== %s: %d polls%s; main thread %.3f ms CPU/poll, whole process %.3f ms\n" % (
            name, r["polls"], " (one a second, as the daemon polls)" if name == "paced" else " (no pause between polls)",
            r["main_thread_cpu_ms_per_poll"], r["process_cpu_ms_per_poll"]))
        for part, ms in sorted(r["parts_ms_per_poll"].items(), key=lambda kv: -kv[1]):
            text.write("   %-42s %8.3f ms  %5.1f%%\n" % (part, ms, r["shares_percent"][part]))
        for tname, t in sorted(r["threads"].items()):
            text.write("   thread %-35s %8.3f ms  %5.2f switches/poll\n" % (tname, t["cpu_ms_per_poll"], t["switches_per_poll"]))
        text.write("\n")
    r = results.get("cprofile")
    if r:
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(45)
        body = stream.getvalue().replace(tree + "/", "").replace(sys.prefix, "<python>")
        text.write("== cProfile, CPU-time timer (time.thread_time), %d back-to-back polls; main thread %.3f ms CPU/poll "
                   "under the profiler (its overhead included: read shares from the timers above)\n" % (
                       r["polls"], r["main_thread_cpu_ms_per_poll"]))
        text.write(body)
    with open(args.out, "w") as f:
        f.write(text.getvalue())
    out = {"exit_code": code, "phases": list(results), "missing_timers": missing, "observers": instance_patches}
    out.update(results)
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


def decode_floor_worker(args) -> int:
    """json.loads of the rotating answers, paced one a second like the daemon, then back to back."""
    import json
    import time

    sys.path.insert(0, ROOT)
    from bench.payloads import realistic_sessions, rotating_bodies

    bodies = rotating_bodies(realistic_sessions(args.sessions))

    def decode(body: bytes) -> float:
        started = time.thread_time()
        tree = json.loads(body)
        del tree
        return (time.thread_time() - started) * 1000

    paced = []
    for index in range(args.paced):
        time.sleep(1.0)
        paced.append(decode(bodies[index % len(bodies)]))
    b2b = [decode(bodies[index % len(bodies)]) for index in range(args.paced)]
    median = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    sys.stdout.write(json.dumps({"paced_ms": median(paced), "back_to_back_ms": median(b2b),
                                 "body_bytes": len(bodies[0])}) + "\n")
    return 0


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile-worker", action="store_true")
    p.add_argument("--decode-floor", action="store_true")
    p.add_argument("--tree")
    p.add_argument("--config")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--paced", type=int, default=15)
    p.add_argument("--back-to-back", type=int, default=300)
    p.add_argument("--profiled", type=int, default=300)
    p.add_argument("--sessions", type=int, default=0)
    p.add_argument("--out")
    args = p.parse_args(argv)
    if args.profile_worker:
        return profile_worker(args)
    if args.decode_floor:
        return decode_floor_worker(args)
    p.error("run it through python3 -m bench.run --whole-daemon")
    return 2


if __name__ == "__main__":
    sys.exit(main())
