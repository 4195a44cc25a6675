"""Requests per poll: 1,000 polls on a virtual clock, streaming and idle; Plex must see exactly one
request a poll, qBittorrent no write, no login, and reads only at the reconcile interval."""
from __future__ import annotations

from bench.common import STREAMING_KBPS

DETAIL_KEYS = ("requests",)


def run(bench) -> None:
    polls = bench.args.polls
    interval, reconcile = 10.0, 60.0
    bench.log("requests per poll: %d polls, virtual clock %g s/poll, reconcile %g s" % (polls, interval, reconcile))
    results = {}
    expect = {}
    for label, sessions, state, limit in (("streaming, 10 sessions", 10, "streaming", STREAMING_KBPS * 1024),
                                          ("idle, 0 sessions", 0, "idle", 0)):
        r = bench.run_worker(sessions, polls, warmup=10, virtual_clock=True, poll_interval=interval,
                            reconcile=reconcile)
        r["qbt_limit_after"] = bench.qbt.upload_limit()
        results[label] = r
        expect[label] = (state, limit)
    bench.details["requests"] = {"polls": polls, "virtual_poll_interval_sec": interval,
                                "reconcile_interval_sec": reconcile, "runs": results}
    # every reconcile_interval of (virtual) time, one read: polls * interval / reconcile
    expected_reads = polls * interval / reconcile
    for label, r in results.items():
        plex_total = sum(r["plex_requests"].values())
        plex_sessions = r["plex_requests"].get("/status/sessions", 0)
        q = r["qbt"]
        ok_plex = plex_total == polls and plex_sessions == polls
        ok_q = q["writes"] == 0 and q["logins"] == 0 and abs(q["reads"] - expected_reads) <= 1
        state, limit = expect[label]
        ok_state = r["state"] == state and r["desired_bytes"] == limit and r["qbt_limit_after"] == limit
        measured = "Plex %.3f/poll (%d/%d); qBt writes %d, logins %d, reads %d (1 per %.1f polls); %s, limit %d B/s" % (
            plex_total / polls, plex_total, polls, q["writes"], q["logins"], q["reads"],
            polls / q["reads"] if q["reads"] else float("inf"), r["state"], r["qbt_limit_after"])
        bench.row("requests per poll [%s]" % label, measured,
                 "Plex 1/poll; 0 writes; reads %.0f±1 (1 per %g s)" % (expected_reads, reconcile),
                 ok_plex and ok_q and ok_state and not r["errors"])
