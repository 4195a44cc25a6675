"""Memory: the poll worker's peak RSS after 1,000 polls against the bare import of the dependencies,
and what the daemon imports beyond them."""
from __future__ import annotations

from bench.common import FLOOR_IMPORT, ROOT

DETAIL_KEYS = ("memory",)


def run(bench) -> None:
    import subprocess

    polls = bench.args.polls
    bench.log("memory: peak RSS after %d polls (10 sessions) vs the bare-import floor" % polls)
    peaks = []
    for _ in range(bench.args.mem_repeats):
        r = bench.run_worker(10, polls, warmup=10, virtual_clock=False, poll_interval=0.0)
        peaks.append(r["vmhwm_kb"])
        modules = r["modules"]
        stages = dict(r["vmhwm_stages_kb"], **{"after %d polls" % polls: r["vmhwm_kb"]})
    floors = []
    code = FLOOR_IMPORT + "; print(open('/proc/self/status').read())"
    for _ in range(bench.args.mem_repeats):
        out = subprocess.run([bench.python, "-c", code], capture_output=True, text=True, check=True, cwd=bench.tmp).stdout
        floors.append(next(int(l.split()[1]) for l in out.splitlines() if l.startswith("VmHWM:")))
    bare = []
    for _ in range(bench.args.mem_repeats):
        out = subprocess.run([bench.python, "-c", "print(open('/proc/self/status').read())"], capture_output=True,
                             text=True, check=True, cwd=bench.tmp).stdout
        bare.append(next(int(l.split()[1]) for l in out.splitlines() if l.startswith("VmHWM:")))
    peak = sorted(peaks)[len(peaks) // 2] / 1024
    floor = sorted(floors)[len(floors) // 2] / 1024
    bare_mb = sorted(bare)[len(bare) // 2] / 1024
    ratio = peak / floor
    bench.details["memory"] = {"daemon_peak_rss_mb": peak, "floor_mb": floor, "python_c_pass_mb": bare_mb,
                              "ratio": ratio, "daemon_runs_kb": peaks, "floor_runs_kb": floors,
                              "daemon_modules_loaded": modules, "daemon_peak_by_stage_kb": stages, "floor_command": "%s -c %r" % (bench.python, FLOOR_IMPORT),
                              "polls": polls}
    bench.row("memory: peak RSS after %d polls" % polls,
             "%.1f MB vs floor %.1f MB = %.3fx (python -c pass: %.1f MB; daemon after imports %.1f, "
             "after 1st poll %.1f)" % (peak, floor, ratio, bare_mb, stages["imports+config"] / 1024,
                                      stages["first poll"] / 1024),
             "<= 1.1x floor", ratio <= 1.1)
    if bench.daemon_hwm:
        bench.details["memory"]["real_daemon_peak_rss_mb"] = {
            "python -m application, streaming_threshold %d" % n: round(kb / 1024, 1)
            for n, (kb, _) in bench.daemon_hwm.items()}
        kb = max(kb for kb, _ in bench.daemon_hwm.values())
        bench.row("memory: real daemon (reaction runs)", "%.1f MB = %.3fx floor" % (kb / 1024, kb / 1024 / floor),
                 "<= 1.1x floor", kb / 1024 / floor <= 1.1)
    bench.details["memory"]["import_profile"] = import_profile(bench)


def import_profile(bench):
    """What the daemon imports beyond the floor: `-X importtime` of the worker's imports."""
    import subprocess

    code = ("import sys; sys.path.insert(0, %r); from application.container import Container; "
            "from application.config.load import load_settings; from adapters.system.logging import configure_logging; "
            "from application.reload import ConfigReloader" % ROOT)
    base = subprocess.run([bench.python, "-X", "importtime", "-c", FLOOR_IMPORT], capture_output=True, text=True,
                          cwd=bench.tmp).stderr
    full = subprocess.run([bench.python, "-X", "importtime", "-c", code], capture_output=True, text=True,
                          cwd=bench.tmp).stderr

    def parse(text):
        mods = {}
        for line in text.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            parts = line[len("import time:"):].split("|")
            mods[parts[2].strip()] = (int(parts[0]), int(parts[1]))
        return mods

    b, f = parse(base), parse(full)
    extra = {m: v for m, v in f.items() if m not in b}
    tops = {}
    for m, (self_us, cum) in extra.items():
        top = m.split(".")[0]
        tops[top] = tops.get(top, 0) + self_us
    ranked = sorted(tops.items(), key=lambda kv: -kv[1])[:25]
    return {"modules_floor": len(b), "modules_daemon": len(f), "extra_modules": len(extra),
            "extra_by_top_package_self_us": ranked}
