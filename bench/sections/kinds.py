"""A poll per server kind (Plex, Jellyfin, Emby) at 10 sessions, and the reaction to a Jellyfin
playback start pushed on its WebSocket while the daemon polls once a minute: a fresh daemon per trial
(the runner allows 4 triggered observations per poll interval, and a trial needs two), timed from the
push to the moment qBittorrent answered the limit write (the counting proxy's timestamp)."""
from __future__ import annotations

import os

from bench.common import ROOT, median, session_mix
from bench.sides import write_list_config
from bench.worker_runs import run_poll_worker

SESSIONS = 10
DETAIL_KEYS = ("kinds",)


class ServerKinds:
    def __init__(self, bench, sides) -> None:
        self.b, self.s, self.args = bench, sides, bench.args

    def run(self) -> None:
        self.cost_per_kind()
        self.reaction()

    def cost_per_kind(self) -> None:
        import json
        import time

        polls, repeats = self.args.polls, self.args.cpu_repeats
        configs = {
            "plex": write_list_config(self.b, [self.s.plex_entry()], [self.s.qbt_entry(weight=1)]),
            "jellyfin": write_list_config(self.b, [self.s.server_entry("jellyfin")], [self.s.qbt_entry(weight=1)]),
            "emby": write_list_config(self.b, [self.s.server_entry("emby", "emby")], [self.s.qbt_entry(weight=1)]),
        }
        self.b.log("kinds: CPU per poll per server kind at %d sessions (+ qbittorrent-nox), %d polls, %d repeats"
                   % (SESSIONS, polls, repeats))
        runs = {k: [] for k in configs}
        requests = {}
        for _ in range(repeats):
            for kind, cfg in configs.items():
                self.s.set_sessions(SESSIONS)
                marks = {}

                def reset(kind=kind):
                    self.b.plex.reset_counters()
                    if kind != "plex":
                        marks[kind] = self.s.server(kind).mark()

                r = run_poll_worker(self.b, cfg, polls, warmup=10, poll_interval=0.0, on_ready=reset)
                if kind == "plex":
                    requests[kind] = dict(self.b.plex.request_count)
                else:
                    seen = self.s.server(kind).since(marks[kind])
                    counts = {}
                    for _, path in seen:
                        counts[path] = counts.get(path, 0) + 1
                    requests[kind] = counts
                if r["errors"]:
                    self.b.notes.append("kinds %s: %d errors, first: %s" % (kind, r["errors"], r["first_error"]))
                r["requests_per_poll"] = sum(requests[kind].values()) / polls
                runs[kind].append(r)
        plex_body = {"MediaContainer": {"size": SESSIONS, "Metadata": session_mix(self.b.payloads, SESSIONS)}}
        bodies = {"plex": len(json.dumps(plex_body)),
                  "jellyfin": len(json.dumps(self.s.payloads.many_sessions(SESSIONS, now=time.time())))}
        bodies["emby"] = bodies["jellyfin"]
        per = {}
        for kind, rs in runs.items():
            cpu = sorted(r["cpu_s"] / polls * 1000 for r in rs)
            per[kind] = {"best_ms": cpu[0], "median_ms": median(cpu), "runs_ms": cpu, "state": rs[-1]["state"],
                         "remote_sessions": rs[-1]["remote_sessions"], "requests_per_poll": rs[-1]["requests_per_poll"],
                         "requests_by_path": requests[kind], "body_bytes": bodies[kind]}
        self.b.details["kinds"] = {"polls": polls, "repeats": repeats, "sessions": SESSIONS,
                                   "payloads": "Plex: bench.common.session_mix (tests/support/plex_payloads); Jellyfin/Emby: "
                                               "tests/support/jellyfin_payloads.many_sessions",
                                   "client": "qbittorrent-nox behind the counting proxy (0 requests in steady state)",
                                   "cost": per}
        worst = max(v["best_ms"] for v in per.values())
        self.b.row("poll per server kind, %d sessions (+ qBittorrent)" % SESSIONS,
                   "; ".join("%s %.3f ms (median %.3f, %.1f KB body, %.0f remote, %.2f req/poll)"
                             % (k.capitalize() if k != "emby" else "Emby", v["best_ms"], v["median_ms"],
                                v["body_bytes"] / 1024, v["remote_sessions"] or 0, v["requests_per_poll"])
                             for k, v in per.items()),
                   "< 1 ms each", worst < 1.0)

    def reaction(self) -> None:
        import signal
        import subprocess
        import time

        trials = self.args.reaction_trials
        server = self.s.server("jellyfin-push")
        payloads = self.s.payloads
        cfg = write_list_config(self.b, [self.s.server_entry("jellyfin-push", events=True)], [self.s.qbt_entry(weight=1)],
                                poll_interval_sec=60, streaming_threshold=1, idle_threshold=1)
        self.b.log("kinds: reaction to a Jellyfin playback start, poll interval 60 s, %d trials (a fresh daemon each)" % trials)
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "WATCHDOG_USEC")}
        out = []
        hwm = []
        proxy = self.b.qbt.proxy
        for trial in range(trials):
            server.set_sessions([payloads.idle_session(now=time.time())])
            self.b.qbt.set_upload_limit(0)
            mark = server.mark()
            log_path = os.path.join(self.b.tmp, "jellyfin-reaction-%d.log" % trial)
            with open(log_path, "wb") as logf:
                proc = subprocess.Popen([self.b.python, "-m", "application", "--config", cfg], cwd=ROOT, env=env,
                                        stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
            result = {"trial": trial}
            try:
                def wait(cond, timeout, what):
                    deadline = time.monotonic() + timeout
                    while not cond():
                        if proc.poll() is not None:
                            raise RuntimeError("the daemon exited (%s) while waiting for %s" % (proc.returncode, what))
                        if time.monotonic() > deadline:
                            raise RuntimeError("timed out waiting for %s" % what)
                        time.sleep(0.005)

                def sessions_reads():
                    return [t for t, p in server.since(mark) if p.endswith("/Sessions")]

                wait(lambda: sessions_reads() and server.push_client_count() >= 1, 20, "the first poll and the WebSocket")
                # As Jellyfin does after SessionsStart: a Sessions message with what plays now (nothing).
                # It triggers one read (the first message of a connection always does); then wait out
                # the runner's one-second gap between triggered observations.
                reads_before = len(sessions_reads())
                server.push_sessions([payloads.idle_session(now=time.time())])
                wait(lambda: len(sessions_reads()) > reads_before, 5, "the read after the first push")
                time.sleep(1.2)
                proxy.reset()
                reads_before = len(sessions_reads())
                playing = [payloads.direct_play_remote(now=time.time())]
                server.set_sessions(playing)
                pushed = time.monotonic()
                server.push_sessions(playing)
                wait(lambda: proxy.sets, 5, "the new limit")
                with proxy.lock:
                    arrival, answered, form = proxy.sets[0]
                reads = sessions_reads()[reads_before:]
                result.update(push_to_limit_s=answered - pushed, set_form=form,
                              push_to_read_s=(reads[0] - pushed) if reads else None,
                              read_to_limit_answered_s=(answered - reads[0]) if reads else None,
                              limit_after=self.b.qbt.upload_limit())
                try:
                    with open("/proc/%d/status" % proc.pid) as f:
                        hwm.extend(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
                except OSError:
                    pass
            except RuntimeError as exc:
                result["error"] = str(exc)
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            out.append(result)
        good = [t for t in out if "push_to_limit_s" in t]
        times = sorted(t["push_to_limit_s"] for t in good)
        med, worst = median(times), (times[-1] if times else None)
        to_read = median([t["push_to_read_s"] for t in good])
        read_to_limit = median([t["read_to_limit_answered_s"] for t in good])
        self.b.details.setdefault("kinds", {})["jellyfin_reaction"] = {
            "poll_interval_sec": 60, "streaming_threshold": 1, "trials": out,
            "median_s": med, "max_s": worst, "median_push_to_read_s": to_read,
            "median_read_to_limit_s": read_to_limit, "daemon_vmhwm_kb": hwm,
            "daemon": "%s -m application --config CFG (source tree), a fresh daemon per trial" % self.b.python,
            "measured": "from push_sessions() on the stand-in's WebSocket to qBittorrent's answer to setUploadLimit "
                        "(the counting proxy's timestamp)",
        }
        if not good:
            self.b.row("reaction to a Jellyfin playback start (poll interval 60 s)",
                       "no trial succeeded: %s" % out[0].get("error"), "< 1 s", False)
            return
        self.b.row("reaction to a Jellyfin playback start (poll interval 60 s)",
                   "%.3f s median, max %.3f s, %d/%d trials (push->read %.0f ms: the 250 ms debounce; read->limit %.1f ms)"
                   % (med, worst, len(good), trials, (to_read or 0) * 1000, (read_to_limit or 0) * 1000),
                   "< 1 s", len(good) == trials and worst < 1.0)


def run(bench) -> None:
    ServerKinds(bench, bench.sides()).run()
