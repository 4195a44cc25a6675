"""Requests per poll with three servers and the three real torrent daemons, counted on the wire."""
from __future__ import annotations

from bench.sides import write_list_config
from bench.worker_runs import run_poll_worker

SESSIONS = 10
DETAIL_KEYS = ("clients",)


class ClientRequests:
    def __init__(self, bench, sides) -> None:
        self.b, self.s, self.args = bench, sides, bench.args

    def run(self) -> None:
        polls = max(200, self.args.polls // 2 if not self.args.quick else 200)
        interval, reconcile = 10.0, 60.0
        servers, clients = self.s.three_by_three()
        variants = [("streaming", SESSIONS, {}), ("idle, idle_upload_kbps 0", 0, {}),
                    ("idle, own limits (idle_upload_kbps unset)", 0, {"idle_upload_kbps": None})]
        self.b.log("clients: requests per poll, 3 servers + 3 clients, %d polls on a virtual clock (%g s a poll, "
                   "reconcile every %g s)" % (polls, interval, reconcile))
        expected_reads = polls * interval / reconcile
        results = {}
        for label, n, fields in variants:
            cfg = write_list_config(self.b, servers, clients, reconcile_interval_sec=reconcile, **fields)
            self.s.set_sessions(n)
            marks = {}
            proxies = self.s.client_proxies()

            def reset():
                self.b.plex.reset_counters()
                for name in ("jellyfin", "jellyfin2"):
                    marks[name] = self.s.server(name).mark()
                for proxy in proxies.values():
                    proxy.reset()

            r = run_poll_worker(self.b, cfg, polls, warmup=10, virtual_clock=True, poll_interval=interval,
                                on_ready=reset)
            per_server = {"plex": {"sessions": self.b.plex.request_count.get("/status/sessions", 0),
                                   "other": sum(self.b.plex.request_count.values())
                                   - self.b.plex.request_count.get("/status/sessions", 0)}}
            for name in ("jellyfin", "jellyfin2"):
                seen = self.s.server(name).since(marks[name])
                sessions = sum(1 for _, p in seen if p.endswith("/Sessions"))
                per_server[name] = {"sessions": sessions, "other": len(seen) - sessions}
            per_client = {name: proxy.snapshot() for name, proxy in proxies.items()}
            results[label] = {"worker": {k: r[k] for k in ("polls", "errors", "warmup_errors", "first_error", "state",
                                                           "client_targets_kib")},
                              "servers": per_server, "clients": per_client, "expected_reads": expected_reads}
        self.b.details["clients"] = {"polls": polls, "virtual_poll_interval_sec": interval,
                                     "reconcile_interval_sec": reconcile, "runs": results,
                                     "counted": "servers: at the stand-ins; clients: on the wire, at a counting proxy "
                                                "in front of each (JSON-RPC method of every request)"}
        for label, res in results.items():
            srv = res["servers"]
            cl = res["clients"]
            ok_servers = all(v["sessions"] == polls and v["other"] == 0 for v in srv.values())
            ok_writes = all(c["writes"] == 0 and c["logins"] == 0 and c["session"] == 0 for c in cl.values())
            ok_reads = all(abs(c["reads"] - expected_reads) <= 1 for c in cl.values())
            own = "own limits" in label
            measured = "servers %s per poll; writes %s; logins+handshakes %s; reads %s in %d reconcile intervals; %s" % (
                " / ".join("%s %.3f" % (k, v["sessions"] / polls) for k, v in srv.items()),
                " / ".join("%s %d" % (k, c["writes"]) for k, c in cl.items()),
                " / ".join("%d" % (c["logins"] + c["session"]) for c in cl.values()),
                " / ".join("%s %d" % (k, c["reads"]) for k, c in cl.items()), round(expected_reads),
                res["worker"]["state"])
            if res["worker"]["errors"]:
                measured += "; %d errors: %s" % (res["worker"]["errors"], res["worker"]["first_error"])
            self.b.row("requests, 3 servers + 3 clients [%s]" % label, measured,
                       "1/server/poll; 0 writes; %s" % ("reads: (reference)" if own else "1 read/client/%g s (%.0f±1)"
                                                        % (reconcile, expected_reads)),
                       ok_servers and ok_writes and (own or ok_reads) and not res["worker"]["errors"])


def run(bench) -> None:
    ClientRequests(bench, bench.sides()).run()
