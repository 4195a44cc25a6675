"""One server + one client vs three + three (Plex + 2 Jellyfin; qBittorrent + Transmission + Deluge):
CPU per poll, and the memory floor and peak RSS in an isolated interpreter (`python -I`, only
requirements.lock installed, as in the .pyz)."""
from __future__ import annotations

import os

from bench.common import FLOOR_IMPORT, ROOT, median
from bench.sides import write_list_config
from bench.worker_runs import make_isolated_venv, run_poll_worker, vm_hwm_of

README_CPU_FALLBACK = {0: 0.35, 10: 0.47}  # README, Performance: "CPU per poll, 0 / 10 / ... sessions"
SESSIONS = 10
DETAIL_KEYS = ("many",)


def readme_cpu_figures():
    """{sessions: ms} from README's Performance table (the 1 server + 1 client figures of today)."""
    import re

    try:
        with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return dict(README_CPU_FALLBACK), "fallback constants"
    m = re.search(r"\|\s*CPU per poll, 0 / 10 / 100 / 1,000 sessions\s*\|\s*([\d.]+) / ([\d.]+) / ([\d.]+) / ([\d.]+) ms", text)
    if not m:
        return dict(README_CPU_FALLBACK), "fallback constants"
    return {0: float(m.group(1)), 10: float(m.group(2)), 100: float(m.group(3)), 1000: float(m.group(4))}, "README.md"


class ManySides:
    def __init__(self, bench, sides) -> None:
        self.b, self.s, self.args = bench, sides, bench.args

    def run(self) -> None:
        polls, repeats = self.args.polls, self.args.cpu_repeats
        one = write_list_config(self.b, [self.s.plex_entry()], [self.s.qbt_entry(weight=1)])
        servers, clients = self.s.three_by_three()
        three = write_list_config(self.b, servers, clients)
        plan = [("1x1", 0, one), ("1x1", SESSIONS, one), ("3x3", 0, three), ("3x3", SESSIONS, three)]
        self.b.log("many: CPU per poll, 1 server + 1 client vs 3 + 3 (Plex + 2 Jellyfin; qBittorrent + "
                   "Transmission + Deluge), %d polls at zero interval, %d repeats, interleaved" % (polls, repeats))
        runs = {(shape, n): [] for shape, n, _ in plan}
        for _ in range(repeats):  # interleaved: drift from other work falls on every variant alike
            for shape, n, cfg in plan:
                self.s.set_sessions(n)
                r = run_poll_worker(self.b, cfg, polls, warmup=10, poll_interval=0.0)
                if r["errors"] or r["warmup_errors"]:
                    self.b.notes.append("many %s at %d sessions: %d errors (%d in warm-up), first: %s"
                                        % (shape, n, r["errors"], r["warmup_errors"], r["first_error"]))
                runs[(shape, n)].append(r)
        per = {}
        for key, rs in runs.items():
            cpu = sorted(r["cpu_s"] / polls * 1000 for r in rs)
            per[key] = {"best_ms": cpu[0], "median_ms": median(cpu), "runs_ms": cpu,
                        "wall_ms_median": median([r["wall_s"] / polls * 1000 for r in rs]),
                        "state": rs[-1]["state"], "client_targets_kib": rs[-1]["client_targets_kib"],
                        "servers_read": rs[-1]["servers_read"], "errors": sum(r["errors"] for r in rs)}
        readme, readme_source = readme_cpu_figures()
        doc = {"polls": polls, "repeats": repeats, "statistic": "best (minimum CPU) of the repeats, as the "
               "CPU-per-poll section; medians beside", "sessions_per_server": SESSIONS,
               "readme_figures_ms": readme, "readme_source": readme_source,
               "configs": {"1x1": "Plex stand-in + qbittorrent-nox", "3x3": "Plex + 2 Jellyfin stand-ins; "
                           "qbittorrent-nox + transmission-daemon + deluged/deluge-web, weights 2:1:1"},
               "by_shape": {"%s/%d" % k: v for k, v in per.items()}}
        self.b.details["many"] = doc
        for n in (0, SESSIONS):
            one_ms, three_ms = per[("1x1", n)]["best_ms"], per[("3x3", n)]["best_ms"]
            ref = readme.get(n)
            change = (one_ms - ref) / ref if ref else None
            per[("1x1", n)]["vs_readme"] = change
            self.b.row("poll, 1 server + 1 client, %d sessions" % n,
                       "%.3f ms (best of %d; median %.3f) vs README %.2f ms: %+.0f%%"
                       % (one_ms, repeats, per[("1x1", n)]["median_ms"], ref or float("nan"), 100 * (change or 0)),
                       "<= README + 10%% (%.3f ms)" % (ref * 1.1) if ref else "(reference)",
                       None if change is None else change <= 0.10)
            shares = per[("3x3", n)]["client_targets_kib"] or {}
            self.b.row("poll, 3 servers + 3 clients, %d sessions each" % n,
                       "%.3f ms (best of %d; median %.3f) = %.2fx 1+1, +%.3f ms per extra side; %s%s"
                       % (three_ms, repeats, per[("3x3", n)]["median_ms"], three_ms / one_ms, (three_ms - one_ms) / 4,
                          per[("3x3", n)]["state"],
                          ", shares %s KiB/s" % "/".join(str(v) for v in shares.values()) if any(shares.values()) else ""),
                       "(reference)", None)
        self.memory()

    def memory(self) -> None:
        repeats = self.args.mem_repeats
        polls = self.args.polls
        vpy, how, listing = make_isolated_venv(self.b)
        self.b.log("many: memory in an isolated interpreter (%s -I; %s)" % (vpy, how))
        iso = [vm_hwm_of(vpy, FLOOR_IMPORT, True, self.b.tmp) for _ in range(repeats)]
        dev = [vm_hwm_of(self.b.python, FLOOR_IMPORT, False, self.b.tmp) for _ in range(repeats)]
        bare = [vm_hwm_of(vpy, "pass", True, self.b.tmp) for _ in range(repeats)]
        floor_iso = median([h for h, _ in iso]) / 1024
        floor_dev = median([h for h, _ in dev]) / 1024
        bare_mb = median([h for h, _ in bare]) / 1024
        one = write_list_config(self.b, [self.s.plex_entry()], [self.s.qbt_entry(weight=1)])
        servers, clients = self.s.three_by_three()
        three = write_list_config(self.b, servers, clients)
        peaks = {"1x1": [], "3x3": []}
        modules = {}
        stages = {}
        for _ in range(repeats):
            for shape, cfg in (("1x1", one), ("3x3", three)):
                self.s.set_sessions(SESSIONS)
                r = run_poll_worker(self.b, cfg, polls, warmup=10, poll_interval=0.0, python=vpy, isolated=True)
                peaks[shape].append(r["vmhwm_kb"])
                modules[shape] = r["modules"]
                stages[shape] = dict(r["vmhwm_stages_kb"], **{"after %d polls" % polls: r["vmhwm_kb"]})
        peak = {k: median(v) / 1024 for k, v in peaks.items()}
        self.b.details["many"]["memory"] = {
            "isolated_python": vpy + " -I", "installed_with": how, "distributions": listing,
            "floor_import": FLOOR_IMPORT, "floor_isolated_mb": floor_iso, "floor_dev_env_mb": floor_dev,
            "floor_dev_env_python": self.b.python, "python_I_c_pass_mb": bare_mb,
            "floor_modules_isolated": iso[0][1], "floor_modules_dev_env": dev[0][1],
            "daemon_peak_rss_mb": peak, "daemon_peak_runs_kb": peaks, "daemon_modules": modules,
            "daemon_peak_by_stage_kb": stages,
            "ratio_to_isolated_floor": {k: v / floor_iso for k, v in peak.items()},
            "polls": polls, "sessions_per_server": SESSIONS, "repeats": repeats,
        }
        self.b.row("memory floor, isolated (python -I, locked deps only)",
                   "%.1f MB (%d modules); dev env %.1f MB (%d modules); python -I -c pass %.1f MB"
                   % (floor_iso, iso[0][1], floor_dev, dev[0][1], bare_mb), "(reference)", None)
        st = stages["1x1"]
        self.b.row("memory: peak RSS, 1 server + 1 client, isolated, %d polls" % polls,
                   "%.1f MB = %.3fx isolated floor (%d modules; peak after imports+config %.1f, container %.1f, "
                   "1st poll %.1f MB)" % (peak["1x1"], peak["1x1"] / floor_iso, modules["1x1"],
                                          st["imports+config"] / 1024, st["container+runner"] / 1024,
                                          st["first poll"] / 1024),
                   "<= 1.1x floor (%.1f MB)" % (1.1 * floor_iso), peak["1x1"] / floor_iso <= 1.1)
        self.b.row("memory: peak RSS, 3 servers + 3 clients, isolated, %d polls" % polls,
                   "%.1f MB = %.3fx isolated floor (%d modules; +%.1f MB over 1+1)"
                   % (peak["3x3"], peak["3x3"] / floor_iso, modules["3x3"], peak["3x3"] - peak["1x1"]),
                   "(reference)", None)


def run(bench) -> None:
    ManySides(bench, bench.sides()).run()
