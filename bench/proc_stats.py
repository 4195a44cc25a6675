"""Reading another process from /proc: its CPU clock, per-thread run time and context switches, memory."""
from __future__ import annotations

import os

CPUCLOCK_SCHED = 2  # linux: a process's CPU clock id is ((~pid) << 3) | CPUCLOCK_SCHED


def read_text(path: str) -> str:
    with open(path) as f:
        return f.read()


def process_snapshot(pid: int) -> dict:
    """CPU, memory and per-thread counters of a process, read as close together as possible."""
    import time

    snap = {"t": time.monotonic()}
    try:
        snap["cpu_ns"] = time.clock_gettime_ns(((~pid) << 3) | CPUCLOCK_SCHED)
    except OSError:
        snap["cpu_ns"] = None
    fields = read_text("/proc/%d/stat" % pid).rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    snap["utime_s"] = int(fields[11]) / tick
    snap["stime_s"] = int(fields[12]) / tick
    snap["minflt"] = int(fields[7])
    status = read_text("/proc/%d/status" % pid)
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            snap[key] = int(value.split()[0])
    tasks = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s" % (pid, tid)
        try:
            run_ns = int(read_text(base + "/schedstat").split()[0])
            vol = invol = 0
            for line in read_text(base + "/status").splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    vol = int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    invol = int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue  # the thread ended meanwhile
        tasks[int(tid)] = {"run_ns": run_ns, "voluntary": vol, "involuntary": invol}
    snap["tasks"] = tasks
    return snap


def snapshot_delta(pid: int, a: dict, b: dict, polls: int) -> dict:
    """Per-poll figures between two snapshots of `pid` spanning `polls` polls."""
    out = {"polls": polls, "seconds": b["t"] - a["t"]}
    if a.get("cpu_ns") is not None and b.get("cpu_ns") is not None:
        out["cpu_ms_per_poll"] = (b["cpu_ns"] - a["cpu_ns"]) / 1e6 / polls
    ticks_s = (b["utime_s"] + b["stime_s"]) - (a["utime_s"] + a["stime_s"])
    out["ticks_cpu_ms_per_poll"] = ticks_s * 1000 / polls  # 10 ms resolution: a cross-check only
    out["user_ms_per_poll"] = (b["utime_s"] - a["utime_s"]) * 1000 / polls
    out["system_ms_per_poll"] = (b["stime_s"] - a["stime_s"]) * 1000 / polls
    out["minor_faults_per_poll"] = (b["minflt"] - a["minflt"]) / polls
    threads = []
    wakeups = 0
    for tid in sorted(set(a["tasks"]) | set(b["tasks"])):
        ta, tb = a["tasks"].get(tid), b["tasks"].get(tid)
        if tb is None:
            continue  # ended in the window (its time is in the process clock, not here)
        ta = ta or {"run_ns": 0, "voluntary": 0, "involuntary": 0}
        switches = (tb["voluntary"] - ta["voluntary"]) + (tb["involuntary"] - ta["involuntary"])
        wakeups += switches
        threads.append({"tid": tid, "main": tid == pid, "new_in_window": tid not in a["tasks"],
                        "cpu_ms_per_poll": (tb["run_ns"] - ta["run_ns"]) / 1e6 / polls,
                        "switches_per_poll": switches / polls,
                        "voluntary_per_poll": (tb["voluntary"] - ta["voluntary"]) / polls})
    out["threads"] = threads
    out["context_switches_per_poll"] = wakeups / polls
    main = [t for t in threads if t["main"]]
    out["main_thread_cpu_ms_per_poll"] = main[0]["cpu_ms_per_poll"] if main else None
    out["other_threads_cpu_ms_per_poll"] = sum(t["cpu_ms_per_poll"] for t in threads if not t["main"])
    out["other_threads_switches_per_poll"] = sum(t["switches_per_poll"] for t in threads if not t["main"])
    out["vmrss_kb"] = b.get("VmRSS")
    out["vmhwm_kb"] = b.get("VmHWM")
    out["threads_alive"] = b.get("Threads")
    return out
