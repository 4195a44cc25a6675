"""Reaction: the real daemon (`python -m application`, polling every second) must change the limit at
exactly the N-th poll after playback starts (streaming_threshold N), and within a second of a Plex
playback event when it polls only once a minute."""
from __future__ import annotations

import os

from bench.common import ROOT, session_mix, status_kb, stop_process

DETAIL_KEYS = ("reaction",)


def run(bench) -> None:
    import subprocess

    thresholds = (1, 2)
    trials = bench.args.reaction_trials
    bench.log("reaction: real daemon, poll_interval_sec 1, streaming_threshold %s, %d trials each" % (thresholds, trials))
    out = {}
    for n in thresholds:
        path = bench.write_config(poll_interval_sec=1, streaming_threshold=n, idle_threshold=1,
                                 reconcile_interval_sec=60)
        bench.plex.set_sessions([])
        bench.qbt.set_upload_limit(0)
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("JOURNAL_STREAM", None)
        log_path = os.path.join(bench.tmp, "daemon-%d.log" % n)
        with open(log_path, "wb") as logf:
            proc = subprocess.Popen([bench.python, "-m", "application", "--config", path], cwd=ROOT, env=env,
                                    stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
        trials_out = []
        try:
            _wait_polls(bench, 2, timeout=15)
            for _ in range(trials):
                trials_out.append(_reaction_trial(bench, n))
            if proc.poll() is None:
                bench.daemon_hwm[n] = (status_kb("VmHWM", str(proc.pid)), len(bench.plex.arrivals))
        finally:
            stop_process(proc)
        good = [t for t in trials_out if t.get("polls") is not None]
        polls_seen = sorted({t["polls"] for t in good})
        beyond = sorted(t["beyond_nth_poll_ms"] for t in good)
        med_beyond = beyond[len(beyond) // 2] if beyond else float("nan")
        max_beyond = beyond[-1] if beyond else float("nan")
        flip_to_change = sorted(t["flip_to_change_s"] for t in good)
        out[n] = {"trials": trials_out, "polls_needed": polls_seen, "beyond_ms_median": med_beyond,
                  "beyond_ms_max": max_beyond,
                  "flip_to_change_s_median": flip_to_change[len(flip_to_change) // 2] if flip_to_change else None}
        ok = len(good) == trials and polls_seen == [n] and max_beyond < 50.0
        bench.row("reaction, streaming_threshold %d" % n,
                 "%s poll(s) in %d/%d trials; +%.1f ms median (max %.1f) after poll #%d; flip->limit %.2f s"
                 % ("/".join(map(str, polls_seen)) or "-", len(good), trials, med_beyond, max_beyond, n,
                    out[n]["flip_to_change_s_median"] or float("nan")),
                 "%d poll%s exactly, + < 50 ms" % (n, "" if n == 1 else "s"), ok)
    bench.details["reaction"] = {"poll_interval_sec": 1, "trials": trials,
                                "by_threshold": {str(k): v for k, v in out.items()},
                                "daemon": "%s -m application --config CFG (source tree)" % bench.python}
    _reaction_to_events(bench, trials)


def _reaction_to_events(bench, trials: int) -> None:
    """Plex's event stream: with streaming_threshold 1 the limit must change within 1 s of
    playback starting, although the poll interval is a minute."""
    import subprocess
    import time

    bench.log("reaction to Plex events: poll_interval_sec 60, streaming_threshold 1, %d trials" % trials)
    path = bench.write_config(poll_interval_sec=60, streaming_threshold=1, idle_threshold=1,
                             reconcile_interval_sec=0, plex_events=True)
    bench.plex.set_sessions([])
    bench.qbt.set_upload_limit(0)
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
    seconds = []
    # a fresh daemon per trial: triggered observations are rate-limited (at most 4 per poll
    # interval), and trials seconds apart are no user's playback; each measures a first start
    for trial in range(trials):
        with open(os.path.join(bench.tmp, "daemon-events-%d.log" % trial), "wb") as logf:
            proc = subprocess.Popen([bench.python, "-m", "application", "--config", path], cwd=ROOT, env=env,
                                    stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
        try:
            before = len(bench.plex.arrivals)
            if not bench.plex.wait_for_sse_clients(1, timeout=15):
                raise RuntimeError("the daemon did not open Plex's event stream")
            deadline = time.monotonic() + 15
            while len(bench.plex.arrivals) == before and time.monotonic() < deadline:
                time.sleep(0.01)  # its first poll, at start
            time.sleep(1.1)  # past the minimum gap after that poll
            seconds.append(_event_trial(bench, time))
        finally:
            stop_process(proc)
            bench.plex.drop_sse_clients()  # the next daemon's subscription is the only one
    good = sorted(s for s in seconds if s is not None)
    median = good[len(good) // 2] if good else float("nan")
    bench.details["reaction"]["plex_events"] = {"poll_interval_sec": 60, "streaming_threshold": 1,
                                               "playback_to_limit_s": seconds}
    bench.row("reaction to a Plex playback event (poll interval 60 s)",
             "%.3f s median, max %.3f s, %d/%d trials" % (median, good[-1] if good else float("nan"), len(good), trials),
             "< 1 s", len(good) == trials and good[-1] < 1.0)


def _event_trial(bench, time):
    bench.qbt.proxy.reset()
    bench.plex.set_sessions(session_mix(bench.payloads, 1))
    started = time.monotonic()
    bench.plex.emit_playing_event()
    changed = None
    while time.monotonic() < started + 5:
        with bench.qbt.proxy.lock:
            if bench.qbt.proxy.sets:
                changed = bench.qbt.proxy.sets[0][1] - started
                break
        time.sleep(0.001)
    # back to idle through an event too, ready for the next trial
    bench.qbt.proxy.reset()
    bench.plex.set_sessions([])
    bench.plex.emit_playing_event(state="stopped")
    end = time.monotonic() + 5
    while time.monotonic() < end:
        with bench.qbt.proxy.lock:
            if bench.qbt.proxy.sets:
                break
        time.sleep(0.002)
    time.sleep(0.3)  # past the debounce window
    return changed


def _wait_polls(bench, k: int, timeout: float) -> None:
    import time

    start = len(bench.plex.arrivals)
    deadline = time.monotonic() + timeout
    while len(bench.plex.arrivals) < start + k:
        if time.monotonic() > deadline:
            raise RuntimeError("the daemon did not poll Plex")
        time.sleep(0.005)


def _reaction_trial(bench, n: int):
    import time

    # Flip just after a poll, so no request can straddle the flip.
    _wait_polls(bench, 1, timeout=5)
    time.sleep(0.05)
    bench.qbt.proxy.reset()
    bench.plex.set_sessions(session_mix(bench.payloads, 1))
    t_flip = time.monotonic()
    gen = bench.plex.generation
    deadline = t_flip + n * 1.0 + 5.0
    result = {"polls": None}
    while time.monotonic() < deadline:
        with bench.qbt.proxy.lock:
            sets = list(bench.qbt.proxy.sets)
        if sets:
            arrival, answered, form = sets[0]
            with bench.plex._tlock:
                post = [t for t, g in bench.plex.arrivals if g == gen and t <= arrival]
            result = {
                "polls": len(post),
                "beyond_nth_poll_ms": (answered - post[-1]) * 1000 if post else None,
                "proxy_arrival_after_nth_poll_ms": (arrival - post[-1]) * 1000 if post else None,
                "flip_to_change_s": answered - t_flip,
                "set_form": form,
                "limit_after": bench.qbt.upload_limit(),
            }
            break
        time.sleep(0.001)
    # back to idle (idle_threshold 1) and wait for the limit to be restored
    bench.qbt.proxy.reset()
    bench.plex.set_sessions([])
    t_idle = time.monotonic()
    while time.monotonic() < t_idle + 5:
        with bench.qbt.proxy.lock:
            if bench.qbt.proxy.sets:
                result["restore_s"] = bench.qbt.proxy.sets[0][1] - t_idle
                break
        time.sleep(0.002)
    return result
