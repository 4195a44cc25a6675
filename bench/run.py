#!/usr/bin/env python3
"""plex-helper benchmark (issue 6): every figure in one run, side by side.

    python3 bench/run.py --json bench/results.json          # the full figures
    python3 bench/run.py --quick                             # fewer iterations, same figures

Standard library plus the project only (tests/support is project code). What runs where:

* The test Plex server (tests/support/plex_server.py) and qBittorrent run in/next to this process:
  the real qbittorrent-nox (tests/support/qbittorrent_nox.py) when it is installed, else the fake
  (tests/support/fake_qbittorrent.py); the output says which. qBittorrent is reached through a small
  counting proxy in this process, so requests can be counted and `setUploadLimit` timestamped
  whichever qBittorrent answers.
* The measured client is always another process, so that the servers' threads never show up in
  its CPU time or memory: a worker mode of this file (`--worker polls`) that builds the application
  Container from Settings pointing at the local servers (the real PlexStreamSource and
  QBittorrentUploadLimiter) and calls `DaemonRunner.run_once()`; for the reaction figure, the real
  daemon (`python3 -m application --config ...`) with a one-second poll interval.

Figures: requests per poll, CPU per poll (0, 10, 100, 1000 sessions), reaction (streaming_threshold
1 and 2), memory (peak RSS vs. a bare import of the dependencies), start-up (.pyz warm and cold,
virtualenv, `python3 -c pass`) and the size of the .pyz. Times are medians; no figure is asserted by
any test.

Sections for many servers and clients (each alone with `--only NAME`; with `--json` a partial run
replaces only its own rows and details in the file):

* many (issue 12, bench/multi.py): a poll with 1 server + 1 client vs Plex + 2 Jellyfin and
  qBittorrent + Transmission + Deluge; the memory floor and the peak RSS in `python -I` with only
  requirements.lock installed.
* kinds (issue 13, bench/multi.py): a poll per server kind (Plex, Jellyfin, Emby) at 10 sessions;
  the reaction to a Jellyfin playback start pushed on its WebSocket, at a 60 s poll interval.
* clients (issue 14, bench/multi.py): requests per poll with three servers and the three real
  torrent daemons, counted on the wire.
* history (issue 15, bench/history_cost.py): the history's CPU per poll and its memory at rest.
"""
from __future__ import annotations

# Only os and sys at the top: the worker's peak RSS is one of the figures, so it must not pay for
# what only the parent needs.
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYZ = os.path.join(ROOT, "dist", "plex-helper.pyz")
FLOOR_IMPORT = "import dependency_injector.containers, marshmallow, urllib3"
PLEX_TOKEN = "bench-plex-token-5c1e"
QBT_USER, QBT_PASS = "admin", "bench-qbt-pass-123"
STREAMING_KBPS = 500


def _stop_process(proc) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 15 s."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _status_kb(field: str, pid: str = "self") -> int:
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _minor_faults() -> int:
    """Minor page faults of this process so far (/proc/self/stat, field 10)."""
    with open("/proc/self/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


# =============================================================================================
# Worker: the measured client, in its own process
# =============================================================================================

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
    hwm_imports = _status_kb("VmHWM")
    container = Container(settings=settings, dry_run=False, **overrides)
    runner = container.runner()
    hwm_built = _status_kb("VmHWM")

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
    hwm_first = _status_kb("VmHWM")
    warm_errors, _ = poll(max(args.warmup - 1, 0))
    hwm_warm = _status_kb("VmHWM")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    process_time, perf_counter = time.process_time, time.perf_counter
    t0, f0 = os.times(), _minor_faults()
    c0, w0 = process_time(), perf_counter()
    errors, report = poll(args.polls)
    cpu, wall = process_time() - c0, perf_counter() - w0
    t1, f1 = os.times(), _minor_faults()
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
        "vmhwm_kb": _status_kb("VmHWM"),
        "vmhwm_stages_kb": {"imports+config": hwm_imports, "container+runner": hwm_built, "first poll": hwm_first,
                            "warm-up": hwm_warm},
        "vmrss_kb": _status_kb("VmRSS"),
        "modules": len(sys.modules),
        "client_targets_kib": {c.name: (c.target.kib_per_sec if getattr(c, "target", None) is not None else None)
                               for c in getattr(report, "clients", ())} if report else None,
        "servers_read": len(getattr(report, "servers", ())) if report else None,
    }
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


def worker_floor(_args) -> int:
    """Not used by the parent (it runs `python3 -c` directly); kept for manual comparison."""
    exec(FLOOR_IMPORT)
    print(_status_kb("VmHWM"))
    return 0


# =============================================================================================
# Parent: servers, proxy, measurements, table
# =============================================================================================

def _import_support():
    """tests/support, without requiring pytest (it only decorates fixtures there)."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    try:
        import pytest  # noqa: F401
    except ImportError:
        import types

        stub = types.ModuleType("pytest")
        stub.fixture = lambda *a, **k: (a[0] if a and callable(a[0]) else (lambda f: f))  # type: ignore[attr-defined]

        def skip(reason: str = "") -> None:
            raise RuntimeError(reason)

        stub.skip = skip  # type: ignore[attr-defined]
        stub.TempPathFactory = object  # type: ignore[attr-defined]
        sys.modules["pytest"] = stub
    from tests.support import fake_qbittorrent, plex_payloads, plex_server, qbittorrent_nox

    return plex_server, plex_payloads, fake_qbittorrent, qbittorrent_nox


def _make_plex_server(plex_server_module):
    """The test Plex server, plus an arrival timestamp and payload generation per sessions request."""
    import threading
    import time

    base = plex_server_module.PlexTestServer

    class TimedPlexServer(base):  # type: ignore[misc, valid-type]
        def __init__(self, *a, **k):
            self.generation = 0
            self.arrivals = []  # (monotonic time, generation) of every /status/sessions request
            self._tlock = threading.Lock()
            super().__init__(*a, **k)

        def set_sessions(self, items):
            super().set_sessions(items)
            with self._tlock:
                self.generation += 1
                self.rotation = None

        def set_rotation(self, bodies):
            """Answer /status/sessions with these JSON bodies in turn, one per request, as a real
            server's answers change from poll to poll (viewOffset, transcode progress): a client
            that skipped unchanged answers must not look faster here than it is."""
            with self._tlock:
                self.rotation = [bytes(b) for b in bodies]
                self.rotation_index = 0

        def _handle(self, h):
            if h.path.split("?", 1)[0] == plex_server_module.SESSIONS_PATH:
                with self._tlock:
                    self.arrivals.append((time.monotonic(), self.generation))
                    if len(self.arrivals) > 100000:
                        del self.arrivals[:50000]
                    rotation = getattr(self, "rotation", None)
                    if rotation:
                        body = rotation[self.rotation_index % len(rotation)]
                        self.rotation_index += 1
                        with self._lock:
                            self._response = (200, "application/json", body)
            return super()._handle(h)

    return TimedPlexServer(token=PLEX_TOKEN)


def qbt_label(method: str, path: str, body, status: int) -> str:
    """qBittorrent's endpoint, without /api/v2/ and the query."""
    endpoint = path.split("?", 1)[0]
    return endpoint[len("/api/v2/"):] if endpoint.startswith("/api/v2/") else endpoint


def qbt_category(endpoint: str) -> str:
    """"write", "login" or "read" for a qBittorrent endpoint."""
    if endpoint.startswith("transfer/set") or endpoint == "app/setPreferences":
        return "write"
    if endpoint.startswith("auth/"):
        return "login"
    return "read"


class CountingProxy:
    """An HTTP proxy in front of a download client that counts requests per (method, label) and
    timestamps every limit write (arrival, and when the client's answer came back).

    By default it speaks qBittorrent (label: the endpoint; a limit write: setUploadLimit); bench/multi.py
    passes `label`, `category` and `is_limit_set` for Transmission's and Deluge's JSON-RPC."""

    def __init__(self, upstream_port: int, label=None, category=None, is_limit_set=None) -> None:
        import collections
        import http.client
        import socket
        import threading
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.upstream_port = upstream_port
        self.label = label or qbt_label
        self.category = category or qbt_category
        self.is_limit_set = is_limit_set or (lambda endpoint: endpoint == "transfer/setUploadLimit")
        self.counts = collections.Counter()
        self.sets = []  # (arrival, answered, limit form value)
        self.lock = threading.Lock()
        proxy = self
        hop = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "content-length"}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *a) -> None:
                pass

            def _upstream(self, fresh: bool = False):
                conn = getattr(self, "_conn", None)
                if conn is None or fresh:
                    if conn is not None:
                        conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
                    conn.connect()
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._conn = conn
                return conn

            def _forward(self) -> None:
                arrival = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                # As a reverse proxy does: qBittorrent checks that Host names its own port, and
                # that Referer/Origin match Host (CSRF), so both are rewritten to the upstream.
                here = self.headers.get("Host", "")
                there = "127.0.0.1:%d" % proxy.upstream_port
                headers = {}
                for k, v in self.headers.items():
                    lk = k.lower()
                    if lk in hop:
                        continue
                    if lk == "host":
                        v = there
                    elif lk in ("referer", "origin") and here:
                        v = v.replace("//" + here, "//" + there, 1)
                    headers[k] = v
                if body is not None:
                    headers["Content-Length"] = str(len(body))
                for attempt in (0, 1):
                    try:
                        conn = self._upstream(fresh=attempt == 1)
                        conn.request(self.command, self.path, body=body, headers=headers)
                        resp = conn.getresponse()
                        data = resp.read()
                        break
                    except (OSError, http.client.HTTPException):
                        if attempt == 1:
                            self.send_error(502)
                            return
                answered = time.monotonic()
                endpoint = proxy.label(self.command, self.path, body, resp.status)
                with proxy.lock:
                    proxy.counts[(self.command, endpoint)] += 1
                    if proxy.is_limit_set(endpoint):
                        proxy.sets.append((arrival, answered, (body or b"").decode("latin-1")))
                self.send_response_only(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in hop:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="qbt-counting-proxy")
        self._thread.start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.sets.clear()

    def snapshot(self):
        import collections

        with self.lock:
            counts = dict(self.counts)
        by_category = collections.Counter()
        for (_, endpoint), n in counts.items():
            by_category[self.category(endpoint)] += n
        # "session": handshakes that are neither a read nor a write (Transmission's 409, Deluge's web.connect)
        return {"reads": by_category["read"], "writes": by_category["write"], "logins": by_category["login"],
                "session": by_category["session"],
                "by_endpoint": {"%s %s" % k: v for k, v in sorted(counts.items())}}

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class QBittorrent:
    """The real qbittorrent-nox if installed (and not refused), else the fake; behind the proxy."""

    def __init__(self, want: str, fake_module, nox_module, tmp: str) -> None:
        import shutil
        from pathlib import Path

        self.kind = ""
        self.note = ""
        self._nox = None
        self._fake = None
        if want in ("auto", "nox") and shutil.which(nox_module.BINARY):
            try:
                root = Path(tmp) / "qbt"
                root.mkdir()
                opts = nox_module.QbtOptions(username=QBT_USER, password=QBT_PASS, max_fail=0)
                self._nox = nox_module.QbtInstance(root, opts).start()
                self.kind = "qbittorrent-nox (real)"
                port = self._nox.port
            except Exception as exc:  # noqa: BLE001 - reported, then the fake is used
                self.note = "qbittorrent-nox failed to start (%s); " % str(exc).splitlines()[0]
                self._nox = None
        elif want == "nox":
            raise SystemExit("--qbt nox: qbittorrent-nox is not installed")
        if self._nox is None:
            self._fake = fake_module.FakeQBittorrent(username=QBT_USER, password=QBT_PASS, max_fail=0).start()
            self.kind = "FakeQBittorrent (tests/support)"
            if want != "fake":
                self.note += "qbittorrent-nox is not installed or failed: using the fake qBittorrent"
            port = self._fake.port
        self.proxy = CountingProxy(port)
        self.url = self.proxy.url
        self.version = self._version()

    def _request(self, method: str, endpoint: str, body: str = ""):
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.upstream_port, timeout=10)
        try:
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if method == "POST" else {}
            if getattr(self, "_sid", None):
                headers["Cookie"] = self._sid
            conn.request(method, "/api/v2/" + endpoint, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read().decode("utf-8", "replace")
            for k, v in resp.getheaders():
                if k.lower() == "set-cookie":
                    self._sid = v.split(";", 1)[0]
            return resp.status, data
        finally:
            conn.close()

    def _version(self) -> str:
        from urllib.parse import urlencode

        self._request("POST", "auth/login", urlencode({"username": QBT_USER, "password": QBT_PASS}))
        status, body = self._request("GET", "app/version")
        return body.strip() if status == 200 else "?"

    def upload_limit(self) -> int:
        """Read directly (not through the proxy, so it is never counted)."""
        status, body = self._request("GET", "transfer/uploadLimit")
        return int(body.strip()) if status == 200 else -1

    def set_upload_limit(self, value: int) -> None:
        self._request("POST", "transfer/setUploadLimit", "limit=%d" % value)

    def stop(self) -> None:
        self.proxy.stop()
        if self._nox is not None:
            self._nox.stop()
        if self._fake is not None:
            self._fake.stop()


def session_mix(payloads, n: int):
    """n realistic sessions: 60 % remote movies, 20 % LAN tracks, 20 % relayed episodes."""
    items = []
    for i in range(n):
        kind = i % 5
        if kind in (0, 1, 2):
            items.append(payloads.remote_movie(user="friend%d" % i, address="203.0.113.%d" % (i % 250 + 1)))
        elif kind == 3:
            items.append(payloads.lan_track(user="owner%d" % i))
        else:
            items.append(payloads.relayed_episode(user="relay%d" % i))
    return items


class Bench:
    def __init__(self, args) -> None:
        self.args = args
        self.python = sys.executable
        self.rows = []  # (figure, measured, target, ok or None)
        self.details = {}
        self.notes = []
        self.daemon_hwm = {}  # streaming_threshold -> (VmHWM kB of the real daemon, Plex polls so far)
        self.section = None  # the section running now: rows are tagged with it
        self.section_runs = {}  # section -> when it ran, how long it took

    # ------------------------------------------------------------------ helpers
    def log(self, msg: str) -> None:
        sys.stderr.write("[bench] %s\n" % msg)
        sys.stderr.flush()

    def row(self, figure: str, measured: str, target: str, ok) -> None:
        self.rows.append({"figure": figure, "measured": measured, "target": target,
                          "result": "n/a" if ok is None else ("PASS" if ok else "FAIL"),
                          "section": getattr(self, "section", None)})

    def run_worker(self, sessions: int, polls: int, warmup: int, virtual_clock: bool = False,
                   poll_interval: float = 10.0, reconcile: float = 60.0):
        """Set the Plex sessions, start a worker, reset counters after its warm-up, collect JSON."""
        import json
        import subprocess

        self.plex.set_sessions(session_mix(self.payloads, sessions))
        config = self.write_config(reconcile_interval_sec=reconcile, streaming_threshold=2, idle_threshold=3)
        # Imported, not run as a script: a script is compiled on every start (never cached), and that
        # compile's peak would show up in the worker's peak RSS.
        cmd = [self.python, "-c", "import sys; from bench.run import main; sys.exit(main(sys.argv[1:]))",
               "--worker", "polls", "--config", config,
               "--polls", str(polls), "--warmup", str(warmup),
               "--poll-interval", str(poll_interval), "--reconcile", str(reconcile)]
        if virtual_clock:
            cmd.append("--virtual-clock")
        err_path = os.path.join(self.tmp, "worker.err")
        with open(err_path, "w") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                    text=True, cwd=ROOT)
        try:
            line = proc.stdout.readline()
            if line.strip() != "ready":
                proc.kill()
                proc.wait()
                with open(err_path) as err:
                    raise RuntimeError("worker did not get ready: %r %s" % (line, err.read()[-800:]))
            self.plex.reset_counters()
            self.qbt.proxy.reset()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            out = proc.stdout.readline()
            proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        result = json.loads(out)
        result["plex_requests"] = dict(self.plex.request_count)
        result["plex_connections"] = self.plex.connection_count
        result["qbt"] = self.qbt.proxy.snapshot()
        if result["errors"] or result["warmup_errors"]:
            self.notes.append("worker at %d sessions saw %d errors (%d in warm-up), first: %s"
                              % (sessions, result["errors"], result["warmup_errors"], result["first_error"]))
        return result

    def write_config(self, **fields) -> str:
        """A daemon config (mode 600) for the local servers; fields override the defaults."""
        import json
        import tempfile

        cfg = {
            "plex_url": self.plex.url, "plex_token": PLEX_TOKEN,
            "qbittorrent_url": self.qbt.url, "qbittorrent_username": QBT_USER, "qbittorrent_password": QBT_PASS,
            "poll_interval_sec": 1, "streaming_upload_kbps": STREAMING_KBPS, "idle_upload_kbps": 0,
        }
        cfg.update(fields)
        fd, path = tempfile.mkstemp(prefix="bench-cfg-", suffix=".json", dir=self.tmp)
        with os.fdopen(fd, "w") as f:
            json.dump(cfg, f)
        os.chmod(path, 0o600)
        return path

    # ------------------------------------------------------------------ figures
    def machine(self):
        import platform

        model = "?"
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.lower().startswith(("model name", "hardware", "cpu model")):
                        model = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        mem_mb = None
        try:
            mem_mb = round(_status_kb_meminfo() / 1024)
        except Exception:  # noqa: BLE001
            pass
        return {
            "cpu_model": model,
            "cores": os.cpu_count(),
            "memory_mb": mem_mb,
            "python": platform.python_version(),
            "python_executable": self.python,
            "os": platform.platform(),
            "qbittorrent": "%s %s" % (self.qbt.kind, self.qbt.version),
        }

    def fig_requests(self) -> None:
        polls = self.args.polls
        interval, reconcile = 10.0, 60.0
        self.log("requests per poll: %d polls, virtual clock %g s/poll, reconcile %g s" % (polls, interval, reconcile))
        results = {}
        expect = {}
        for label, sessions, state, limit in (("streaming, 10 sessions", 10, "streaming", STREAMING_KBPS * 1024),
                                              ("idle, 0 sessions", 0, "idle", 0)):
            r = self.run_worker(sessions, polls, warmup=10, virtual_clock=True, poll_interval=interval,
                                reconcile=reconcile)
            r["qbt_limit_after"] = self.qbt.upload_limit()
            results[label] = r
            expect[label] = (state, limit)
        self.details["requests"] = {"polls": polls, "virtual_poll_interval_sec": interval,
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
            self.row("requests per poll [%s]" % label, measured,
                     "Plex 1/poll; 0 writes; reads %.0f±1 (1 per %g s)" % (expected_reads, reconcile),
                     ok_plex and ok_q and ok_state and not r["errors"])

    def fig_cpu(self) -> None:
        polls = self.args.polls
        counts = (0, 10, 100, 1000)
        self.log("CPU per poll: %d polls at zero interval, sessions %s (client in a subprocess)" % (polls, counts))
        per = {}
        raw = {}
        for n in counts:
            runs = []
            for _ in range(self.args.cpu_repeats):
                r = self.run_worker(n, polls, warmup=10, virtual_clock=False, poll_interval=0.0, reconcile=60.0)
                runs.append(r)
            # Best of the repeats: other work on the machine can only add CPU time (cache misses,
            # migrations), never take it away, so the minimum is the least disturbed figure.
            runs.sort(key=lambda r: r["cpu_s"])
            best = runs[0]
            raw[n] = runs
            per[n] = best["cpu_s"] / polls * 1000.0
            self.log("  %4d sessions: %.3f ms CPU/poll (user %.3f, system %.3f), %.3f ms wall/poll, %.1f page faults/poll"
                     % (n, per[n], best["user_s"] / polls * 1000, best["system_s"] / polls * 1000,
                        best["wall_s"] / polls * 1000, best["minor_faults"] / polls))
        slope_low = (per[100] - per[0]) / 100
        slope_high = (per[1000] - per[100]) / 900
        slope_all = (per[1000] - per[0]) / 1000
        linear_ratio = slope_high / slope_low if slope_low > 0 else float("inf")
        predicted_10 = per[0] + 10 * slope_all
        self.details["cpu"] = {
            "polls": polls, "repeats": self.args.cpu_repeats,
            "ms_per_poll": {str(n): per[n] for n in counts},
            "statistic": "best (minimum CPU) of %d runs" % self.args.cpu_repeats,
            "median_ms_per_poll": {str(n): raw[n][len(raw[n]) // 2]["cpu_s"] / polls * 1000 for n in counts},
            "wall_ms_per_poll": {str(n): raw[n][0]["wall_s"] / polls * 1000 for n in counts},
            "system_ms_per_poll": {str(n): raw[n][0]["system_s"] / polls * 1000 for n in counts},
            "minor_faults_per_poll": {str(n): raw[n][0]["minor_faults"] / polls for n in counts},
            "per_session_us": {"0-100": slope_low * 1000, "100-1000": slope_high * 1000, "0-1000": slope_all * 1000},
            "slope_ratio_high_over_low": linear_ratio,
            "predicted_ms_at_10_from_line": predicted_10,
            "runs": {str(n): raw[n] for n in counts},
        }
        best_of = "best of %d" % self.args.cpu_repeats
        self.row("CPU per poll, 0 sessions", "%.3f ms (%s)" % (per[0], best_of), "(baseline)", None)
        self.row("CPU per poll, 10 sessions", "%.3f ms" % per[10], "< 1 ms", per[10] < 1.0)
        self.row("CPU per poll, 100 sessions", "%.3f ms" % per[100], "(linearity point)", None)
        self.row("CPU per poll, 1000 sessions", "%.3f ms (of which system %.3f ms: %.0f page faults/poll)" % (
            per[1000], raw[1000][0]["system_s"] / polls * 1000, raw[1000][0]["minor_faults"] / polls),
            "linear in sessions", None)
        self.row("CPU linearity", "%.1f us/session (0-100) vs %.1f us/session (100-1000): ratio %.2f; "
                 "line predicts %.3f ms at 10" % (slope_low * 1000, slope_high * 1000, linear_ratio, predicted_10),
                 "slope ratio 0.67-1.5", 0.67 <= linear_ratio <= 1.5)

    def fig_reaction(self) -> None:
        import subprocess

        thresholds = (1, 2)
        trials = self.args.reaction_trials
        self.log("reaction: real daemon, poll_interval_sec 1, streaming_threshold %s, %d trials each" % (thresholds, trials))
        out = {}
        for n in thresholds:
            path = self.write_config(poll_interval_sec=1, streaming_threshold=n, idle_threshold=1,
                                     reconcile_interval_sec=60)
            self.plex.set_sessions([])
            self.qbt.set_upload_limit(0)
            env = dict(os.environ)
            env.pop("NOTIFY_SOCKET", None)
            env.pop("JOURNAL_STREAM", None)
            log_path = os.path.join(self.tmp, "daemon-%d.log" % n)
            with open(log_path, "wb") as logf:
                proc = subprocess.Popen([self.python, "-m", "application", "--config", path], cwd=ROOT, env=env,
                                        stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
            trials_out = []
            try:
                self._wait_polls(2, timeout=15)
                for _ in range(trials):
                    trials_out.append(self._reaction_trial(n))
                if proc.poll() is None:
                    self.daemon_hwm[n] = (_status_kb("VmHWM", str(proc.pid)), len(self.plex.arrivals))
            finally:
                _stop_process(proc)
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
            self.row("reaction, streaming_threshold %d" % n,
                     "%s poll(s) in %d/%d trials; +%.1f ms median (max %.1f) after poll #%d; flip->limit %.2f s"
                     % ("/".join(map(str, polls_seen)) or "-", len(good), trials, med_beyond, max_beyond, n,
                        out[n]["flip_to_change_s_median"] or float("nan")),
                     "%d poll%s exactly, + < 50 ms" % (n, "" if n == 1 else "s"), ok)
        self.details["reaction"] = {"poll_interval_sec": 1, "trials": trials,
                                    "by_threshold": {str(k): v for k, v in out.items()},
                                    "daemon": "%s -m application --config CFG (source tree)" % self.python}
        self._reaction_to_events(trials)

    def _reaction_to_events(self, trials: int) -> None:
        """Plex's event stream: with streaming_threshold 1 the limit must change within 1 s of
        playback starting, although the poll interval is a minute."""
        import subprocess
        import time

        self.log("reaction to Plex events: poll_interval_sec 60, streaming_threshold 1, %d trials" % trials)
        path = self.write_config(poll_interval_sec=60, streaming_threshold=1, idle_threshold=1,
                                 reconcile_interval_sec=0, plex_events=True)
        self.plex.set_sessions([])
        self.qbt.set_upload_limit(0)
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
        seconds = []
        # a fresh daemon per trial: triggered observations are rate-limited (at most 4 per poll
        # interval), and trials seconds apart are no user's playback; each measures a first start
        for trial in range(trials):
            with open(os.path.join(self.tmp, "daemon-events-%d.log" % trial), "wb") as logf:
                proc = subprocess.Popen([self.python, "-m", "application", "--config", path], cwd=ROOT, env=env,
                                        stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
            try:
                before = len(self.plex.arrivals)
                if not self.plex.wait_for_sse_clients(1, timeout=15):
                    raise RuntimeError("the daemon did not open Plex's event stream")
                deadline = time.monotonic() + 15
                while len(self.plex.arrivals) == before and time.monotonic() < deadline:
                    time.sleep(0.01)  # its first poll, at start
                time.sleep(1.1)  # past the minimum gap after that poll
                seconds.append(self._event_trial(time))
            finally:
                _stop_process(proc)
                self.plex.drop_sse_clients()  # the next daemon's subscription is the only one
        good = sorted(s for s in seconds if s is not None)
        median = good[len(good) // 2] if good else float("nan")
        self.details["reaction"]["plex_events"] = {"poll_interval_sec": 60, "streaming_threshold": 1,
                                                   "playback_to_limit_s": seconds}
        self.row("reaction to a Plex playback event (poll interval 60 s)",
                 "%.3f s median, max %.3f s, %d/%d trials" % (median, good[-1] if good else float("nan"), len(good), trials),
                 "< 1 s", len(good) == trials and good[-1] < 1.0)

    def _event_trial(self, time):
        self.qbt.proxy.reset()
        self.plex.set_sessions(session_mix(self.payloads, 1))
        started = time.monotonic()
        self.plex.emit_playing_event()
        changed = None
        while time.monotonic() < started + 5:
            with self.qbt.proxy.lock:
                if self.qbt.proxy.sets:
                    changed = self.qbt.proxy.sets[0][1] - started
                    break
            time.sleep(0.001)
        # back to idle through an event too, ready for the next trial
        self.qbt.proxy.reset()
        self.plex.set_sessions([])
        self.plex.emit_playing_event(state="stopped")
        end = time.monotonic() + 5
        while time.monotonic() < end:
            with self.qbt.proxy.lock:
                if self.qbt.proxy.sets:
                    break
            time.sleep(0.002)
        time.sleep(0.3)  # past the debounce window
        return changed

    def _wait_polls(self, k: int, timeout: float) -> None:
        import time

        start = len(self.plex.arrivals)
        deadline = time.monotonic() + timeout
        while len(self.plex.arrivals) < start + k:
            if time.monotonic() > deadline:
                raise RuntimeError("the daemon did not poll Plex")
            time.sleep(0.005)

    def _reaction_trial(self, n: int):
        import time

        # Flip just after a poll, so no request can straddle the flip.
        self._wait_polls(1, timeout=5)
        time.sleep(0.05)
        self.qbt.proxy.reset()
        self.plex.set_sessions(session_mix(self.payloads, 1))
        t_flip = time.monotonic()
        gen = self.plex.generation
        deadline = t_flip + n * 1.0 + 5.0
        result = {"polls": None}
        while time.monotonic() < deadline:
            with self.qbt.proxy.lock:
                sets = list(self.qbt.proxy.sets)
            if sets:
                arrival, answered, form = sets[0]
                with self.plex._tlock:
                    post = [t for t, g in self.plex.arrivals if g == gen and t <= arrival]
                result = {
                    "polls": len(post),
                    "beyond_nth_poll_ms": (answered - post[-1]) * 1000 if post else None,
                    "proxy_arrival_after_nth_poll_ms": (arrival - post[-1]) * 1000 if post else None,
                    "flip_to_change_s": answered - t_flip,
                    "set_form": form,
                    "limit_after": self.qbt.upload_limit(),
                }
                break
            time.sleep(0.001)
        # back to idle (idle_threshold 1) and wait for the limit to be restored
        self.qbt.proxy.reset()
        self.plex.set_sessions([])
        t_idle = time.monotonic()
        while time.monotonic() < t_idle + 5:
            with self.qbt.proxy.lock:
                if self.qbt.proxy.sets:
                    result["restore_s"] = self.qbt.proxy.sets[0][1] - t_idle
                    break
            time.sleep(0.002)
        return result

    def fig_memory(self) -> None:
        import subprocess

        polls = self.args.polls
        self.log("memory: peak RSS after %d polls (10 sessions) vs the bare-import floor" % polls)
        peaks = []
        for _ in range(self.args.mem_repeats):
            r = self.run_worker(10, polls, warmup=10, virtual_clock=False, poll_interval=0.0)
            peaks.append(r["vmhwm_kb"])
            modules = r["modules"]
            stages = dict(r["vmhwm_stages_kb"], **{"after %d polls" % polls: r["vmhwm_kb"]})
        floors = []
        code = FLOOR_IMPORT + "; print(open('/proc/self/status').read())"
        for _ in range(self.args.mem_repeats):
            out = subprocess.run([self.python, "-c", code], capture_output=True, text=True, check=True, cwd=self.tmp).stdout
            floors.append(next(int(l.split()[1]) for l in out.splitlines() if l.startswith("VmHWM:")))
        bare = []
        for _ in range(self.args.mem_repeats):
            out = subprocess.run([self.python, "-c", "print(open('/proc/self/status').read())"], capture_output=True,
                                 text=True, check=True, cwd=self.tmp).stdout
            bare.append(next(int(l.split()[1]) for l in out.splitlines() if l.startswith("VmHWM:")))
        peak = sorted(peaks)[len(peaks) // 2] / 1024
        floor = sorted(floors)[len(floors) // 2] / 1024
        bare_mb = sorted(bare)[len(bare) // 2] / 1024
        ratio = peak / floor
        self.details["memory"] = {"daemon_peak_rss_mb": peak, "floor_mb": floor, "python_c_pass_mb": bare_mb,
                                  "ratio": ratio, "daemon_runs_kb": peaks, "floor_runs_kb": floors,
                                  "daemon_modules_loaded": modules, "daemon_peak_by_stage_kb": stages, "floor_command": "%s -c %r" % (self.python, FLOOR_IMPORT),
                                  "polls": polls}
        self.row("memory: peak RSS after %d polls" % polls,
                 "%.1f MB vs floor %.1f MB = %.3fx (python -c pass: %.1f MB; daemon after imports %.1f, "
                 "after 1st poll %.1f)" % (peak, floor, ratio, bare_mb, stages["imports+config"] / 1024,
                                          stages["first poll"] / 1024),
                 "<= 1.1x floor", ratio <= 1.1)
        if self.daemon_hwm:
            self.details["memory"]["real_daemon_peak_rss_mb"] = {
                "python -m application, streaming_threshold %d" % n: round(kb / 1024, 1)
                for n, (kb, _) in self.daemon_hwm.items()}
            kb = max(kb for kb, _ in self.daemon_hwm.values())
            self.row("memory: real daemon (reaction runs)", "%.1f MB = %.3fx floor" % (kb / 1024, kb / 1024 / floor),
                     "<= 1.1x floor", kb / 1024 / floor <= 1.1)
        self.details["memory"]["import_profile"] = self.import_profile()

    def import_profile(self):
        """What the daemon imports beyond the floor: `-X importtime` of the worker's imports."""
        import subprocess

        code = ("import sys; sys.path.insert(0, %r); from application.container import Container; "
                "from application.config.load import load_settings; from adapters.system.logging import configure_logging; "
                "from application.reload import ConfigReloader" % ROOT)
        base = subprocess.run([self.python, "-X", "importtime", "-c", FLOOR_IMPORT], capture_output=True, text=True,
                              cwd=self.tmp).stderr
        full = subprocess.run([self.python, "-X", "importtime", "-c", code], capture_output=True, text=True,
                              cwd=self.tmp).stderr

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

    def fig_startup(self) -> None:
        import shutil
        import subprocess
        import tempfile
        import time

        runs = self.args.startup_runs
        self.log("start-up: median of %d interleaved runs each" % runs)

        def once(cmd, env=None, fresh_cache: bool = False):
            e = dict(env or os.environ)
            if fresh_cache:
                e["PLEX_HELPER_CACHE_DIR"] = tempfile.mkdtemp(prefix="cold-", dir=self.tmp)
            t0 = time.perf_counter()
            p = subprocess.run(cmd, env=e, capture_output=True, cwd=self.tmp)
            elapsed = time.perf_counter() - t0
            if p.returncode != 0:
                raise RuntimeError("%s failed: %s" % (cmd, p.stderr.decode()[-500:]))
            if fresh_cache:
                shutil.rmtree(e["PLEX_HELPER_CACHE_DIR"], ignore_errors=True)
            return elapsed, p.stdout.decode().strip()

        venv_cmd = self.make_venv()
        vpy = os.path.join(self.tmp, "venv", "bin", "python") if venv_cmd else None
        pyz = self.ensure_pyz()
        warm_env = dict(os.environ, PLEX_HELPER_CACHE_DIR=os.path.join(self.tmp, "warm-cache"))
        if pyz:
            subprocess.run([self.python, pyz, "--version"], env=warm_env, capture_output=True, check=True)
        # (key, label, command, env, fresh cache); interleaved rounds would be fairer against drift,
        # but every command is run `runs` times back to back after one untimed run.
        plan = [("pass", "python3 -c pass", [self.python, "-c", "pass"], None, False)]
        if vpy:
            plan.append(("pass_venv", "venv python -c pass", [vpy, "-c", "pass"], None, False))
            plan.append(("venv", "virtualenv: plex-helper --version", venv_cmd, None, False))
        if pyz:
            plan.append(("warm", ".pyz --version, warm cache (python3)", [self.python, pyz, "--version"], warm_env, False))
            if vpy:
                plan.append(("warm_venvpy", ".pyz --version, warm cache (venv python)", [vpy, pyz, "--version"],
                             warm_env, False))
            plan.append(("cold", ".pyz --version, cold cache (python3)", [self.python, pyz, "--version"], None, True))
        # Interleaved: each round runs every command once, so load from other work on the machine
        # (it drifts over seconds) falls on all of them alike; one untimed round first.
        times = {key: [] for key, *_ in plan}
        outputs = {}
        for round_no in range(runs + 1):
            for key, label, cmd, env, fresh in plan:
                elapsed, outputs[key] = once(cmd, env, fresh)
                if round_no:
                    times[key].append(elapsed)
        res = {}
        for key, label, cmd, env, fresh in plan:
            t = sorted(times[key])
            res[key] = {"label": label, "median_ms": t[len(t) // 2] * 1000, "min_ms": t[0] * 1000,
                        "max_ms": t[-1] * 1000, "command": " ".join(cmd), "output": outputs[key]}
        site_hooks = self.site_hooks()
        self.details["startup"] = {"runs": runs, "results": res, "site_pth_with_imports": site_hooks}
        venv_ms = res["venv"]["median_ms"] if "venv" in res else None
        for key, r in res.items():
            target, ok = "(reference)", None
            measured = "%.1f ms" % r["median_ms"]
            if venv_ms and key in ("warm", "warm_venvpy", "cold"):
                ratio = r["median_ms"] / venv_ms
                self.details["startup"]["%s_over_venv" % key] = ratio
                measured = "%.1f ms = %.2fx virtualenv" % (r["median_ms"], ratio)
                if key in ("warm", "warm_venvpy"):
                    target, ok = "<= 1.2x virtualenv", ratio <= 1.2
            self.row("start-up: %s" % r["label"], measured, target, ok)
        if "venv" not in res:
            self.row("start-up: virtualenv", "not measured (%s)" % self.details.get("venv_error", "?"), "", None)
        if site_hooks and "pass_venv" in res:
            self.notes.append(
                "python3 runs import lines from %s at every start (%.1f ms for -c pass vs %.1f ms in a venv of the "
                "same interpreter); a venv skips them, a .pyz run by python3 cannot: the '(venv python)' row is "
                "the like-for-like comparison" % (", ".join(os.path.basename(h) for h in site_hooks),
                                                 res["pass"]["median_ms"], res["pass_venv"]["median_ms"]))

    def site_hooks(self):
        """.pth files in the interpreter's site-packages that run `import` lines at start-up."""
        import site

        hooks = []
        for d in site.getsitepackages() + [site.getusersitepackages()]:
            try:
                names = sorted(os.listdir(d))
            except OSError:
                continue
            for name in names:
                if name.endswith(".pth"):
                    try:
                        with open(os.path.join(d, name), errors="replace") as f:
                            if any(l.startswith(("import ", "import\t")) for l in f):
                                hooks.append(os.path.join(d, name))
                    except OSError:
                        pass
        return hooks

    def make_venv(self):
        import glob
        import shutil
        import subprocess

        venv = os.path.join(self.tmp, "venv")
        try:
            subprocess.run([self.python, "-m", "venv", venv], check=True, capture_output=True)
            vpy = os.path.join(venv, "bin", "python")
            # The pinned wheels the build cached (build/wheels), else the lock file from PyPI.
            wheels = glob.glob(os.path.join(ROOT, "build", "wheels", "pure", "*.whl"))
            native = glob.glob(os.path.join(ROOT, "build", "wheels", "linux-*-glibc", "*.whl"))
            pip = [vpy, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps"]
            import platform

            native = [w for w in native if platform.machine() in w]
            if wheels and native:
                subprocess.run(pip + ["--no-index"] + wheels + native, check=True, capture_output=True)
                how = "wheels from build/wheels (pinned, offline)"
            else:
                subprocess.run([vpy, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--require-hashes",
                                "-r", os.path.join(ROOT, "requirements.lock")], check=True, capture_output=True)
                how = "requirements.lock from PyPI"
            # The project itself, from a copy (an in-tree build would leave build/ and egg-info behind).
            src = os.path.join(self.tmp, "src")
            os.mkdir(src)
            for name in ("pyproject.toml", "README.md"):
                shutil.copy(os.path.join(ROOT, name), src)
            for pkg in ("domain", "adapters", "application"):
                shutil.copytree(os.path.join(ROOT, pkg), os.path.join(src, pkg),
                                ignore=shutil.ignore_patterns("__pycache__"))
            p = subprocess.run(pip + ["--no-build-isolation", src], capture_output=True)
            if p.returncode != 0:
                subprocess.run(pip + [src], check=True, capture_output=True)
            self.details["venv"] = {"path": venv, "dependencies": how}
            return [os.path.join(venv, "bin", "plex-helper"), "--version"]
        except (subprocess.CalledProcessError, OSError) as exc:
            err = getattr(exc, "stderr", b"") or b""
            self.details["venv_error"] = "%s %s" % (exc, err.decode("utf-8", "replace")[-300:])
            self.log("virtualenv failed: %s" % self.details["venv_error"])
            return None

    def ensure_pyz(self):
        """dist/plex-helper.pyz; with --rebuild (or when it is missing) a fresh build from the
        working tree into the bench's temp dir, so dist/ is never touched."""
        import subprocess

        if getattr(self, "_pyz", None):
            return self._pyz
        builder = os.path.join(ROOT, "build_zipapp.py")
        pyz = PYZ
        if (self.args.rebuild or not os.path.exists(PYZ)) and os.path.exists(builder):
            out_dir = os.path.join(self.tmp, "dist")
            self.log("building the .pyz: python3 build_zipapp.py --dist %s" % out_dir)
            p = subprocess.run([self.python, builder, "--dist", out_dir], cwd=ROOT, capture_output=True, text=True)
            if p.returncode != 0:
                self.notes.append("build_zipapp.py failed: %s" % p.stderr[-300:])
            pyz = os.path.join(out_dir, "plex-helper.pyz")
        if not os.path.exists(pyz):
            self.notes.append("no .pyz: dist/plex-helper.pyz is missing and could not be built")
            return None
        self._pyz = pyz
        return pyz

    def fig_whole_daemon(self) -> None:
        """The built .pyz as a user runs it, per poll over a window, and a profile (bench/whole_daemon.py)."""
        from bench.whole_daemon import WholeDaemon

        WholeDaemon(self).run()

    def sides(self):
        """The extra servers and clients of bench/multi.py (Jellyfin/Emby stand-ins, Transmission,
        Deluge), started on first use and stopped at the end of the run."""
        if getattr(self, "_sides", None) is None:
            from bench.multi import Sides

            self._sides = Sides(self)
        return self._sides

    def fig_many(self) -> None:
        """Issue 12: a poll with 1 server + 1 client vs 3 + 3; the memory floor in `python -I`."""
        from bench.multi import ManySides

        ManySides(self, self.sides()).run()

    def fig_kinds(self) -> None:
        """Issue 13: a poll per server kind; the reaction to a Jellyfin playback start."""
        from bench.multi import ServerKinds

        ServerKinds(self, self.sides()).run()

    def fig_clients(self) -> None:
        """Issue 14: requests per poll with qBittorrent + Transmission + Deluge."""
        from bench.multi import ClientRequests

        ClientRequests(self, self.sides()).run()

    def fig_history(self) -> None:
        """Issue 15: what the history costs per poll and at rest."""
        from bench.history_cost import HistoryCost

        HistoryCost(self, self.sides()).run()

    def fig_size(self) -> None:
        import subprocess
        import time

        pyz = self.ensure_pyz()
        if not pyz:
            self.row("size of the .pyz", "missing", "< 6 MB", False)
            return
        size = os.path.getsize(pyz)
        version = subprocess.run([self.python, pyz, "--version"], capture_output=True, text=True,
                                 env=dict(os.environ, PLEX_HELPER_CACHE_DIR=os.path.join(self.tmp, "warm-cache"))).stdout.strip()
        self.details["size"] = {"bytes": size, "path": "dist/plex-helper.pyz" if pyz == PYZ else "fresh build (--rebuild)",
                                "version": version,
                                "mtime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(pyz)))}
        self.row("size of the .pyz", "%d bytes (%.2f MB) [%s]" % (size, size / 2 ** 20, version),
                 "< 6 MB", size < 6 * 2 ** 20)

    # ------------------------------------------------------------------ main
    def run(self) -> int:
        import json
        import shutil
        import tempfile
        import time

        self.tmp = tempfile.mkdtemp(prefix="plex-helper-bench-")
        t_start = time.monotonic()
        plex_server, self.payloads, fake_q, nox = _import_support()
        self.plex = _make_plex_server(plex_server).start()
        self.qbt = QBittorrent(self.args.qbt, fake_q, nox, self.tmp)
        try:
            if self.qbt.note:
                self.notes.append(self.qbt.note)
            self.details["machine"] = self.machine()
            self.log("qBittorrent: %s; Plex: test server at %s" % (self.details["machine"]["qbittorrent"], self.plex.url))
            figures = self.figures()
            only = self.args.only.split(",") if self.args.only else list(figures)
            unknown = [name for name in only if name not in figures]
            if unknown:
                raise SystemExit("--only: unknown section(s) %s; choose from %s" % (", ".join(unknown), ", ".join(figures)))
            for name in only:
                self.section = name
                started = time.monotonic()
                try:
                    figures[name]()
                except Exception as exc:  # noqa: BLE001 - one broken figure must not hide the others
                    import traceback

                    traceback.print_exc()
                    self.row(name, "ERROR: %s" % exc, "", False)
                self.section_runs[name] = {"elapsed_sec": round(time.monotonic() - started, 1),
                                           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quick": self.args.quick}
                self.log("section %s: %.0f s" % (name, time.monotonic() - started))
            self.section = None
        finally:
            if getattr(self, "_sides", None) is not None:
                self._sides.stop()
            self.qbt.stop()
            self.plex.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)
        elapsed = time.monotonic() - t_start
        text = self.table(elapsed)
        print(text)
        if self.args.json:
            command = " ".join(["python3", "bench/run.py"] + sys.argv[1:])
            for run in self.section_runs.values():
                run["command"] = command
            doc = {"command": command,
                   "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "elapsed_sec": round(elapsed, 1),
                   "quick": self.args.quick, "machine": self.details.get("machine"), "table": self.rows,
                   "notes": self.notes, "details": {k: v for k, v in self.details.items() if k != "machine"},
                   "sections": self.section_runs}
            if self.args.only:
                doc = self.merged(doc)
            os.makedirs(os.path.dirname(os.path.abspath(self.args.json)), exist_ok=True)
            with open(self.args.json, "w") as f:
                json.dump(doc, f, indent=2, sort_keys=False, default=str)
                f.write("\n")
            self.log("wrote %s" % self.args.json)
        return 0 if all(r["result"] != "FAIL" for r in self.rows) else 1

    def figures(self):
        return {"requests": self.fig_requests, "cpu": self.fig_cpu, "reaction": self.fig_reaction,
                "memory": self.fig_memory, "startup": self.fig_startup, "size": self.fig_size,
                "whole_daemon": self.fig_whole_daemon, "many": self.fig_many, "kinds": self.fig_kinds,
                "clients": self.fig_clients, "history": self.fig_history}

    # which details keys each section writes (a partial run replaces only these)
    DETAIL_KEYS = {"requests": ("requests",), "cpu": ("cpu",), "reaction": ("reaction",),
                   "memory": ("memory",), "startup": ("startup", "venv", "venv_error"), "size": ("size",),
                   "whole_daemon": ("whole_daemon",), "many": ("many",), "kinds": ("kinds",),
                   "clients": ("clients",), "history": ("history",)}

    def merged(self, doc):
        """A run of some sections (--only) into the existing JSON file: the rows and details of the
        sections run replace theirs, everything else is kept as it was (the top-level command and
        date stay those of the last full run; `sections` says when each section last ran)."""
        import json

        try:
            with open(self.args.json) as f:
                old = json.load(f)
        except (OSError, ValueError):
            return doc
        ran = set(doc["sections"])
        # rows of sections not run now stay; old rows without a section tag belong to the first seven
        kept = [r for r in old.get("table", []) if r.get("section") not in ran]
        details = dict(old.get("details", {}))
        for name in ran:
            for key in self.DETAIL_KEYS.get(name, (name,)):
                details.pop(key, None)
        details.update(doc["details"])
        sections = dict(old.get("sections", {}))
        sections.update(doc["sections"])
        notes = [n for n in old.get("notes", []) if n not in doc["notes"]] + doc["notes"]
        merged = dict(old)
        merged.update({"table": kept + doc["table"], "details": details, "sections": sections, "notes": notes})
        merged.setdefault("machine", doc["machine"])
        return merged

    def table(self, elapsed: float) -> str:
        m = self.details.get("machine", {})
        lines = [
            "plex-helper benchmark%s  (%.0f s)" % (" --quick" if self.args.quick else "", elapsed),
            "machine: %s, %s cores, %s MB RAM; Python %s; %s" % (m.get("cpu_model"), m.get("cores"),
                                                                m.get("memory_mb"), m.get("python"), m.get("os")),
            "servers: test Plex server (tests/support) + %s behind a counting proxy; clients in subprocesses"
            % m.get("qbittorrent"),
            "",
        ]
        w1 = max(len(r["figure"]) for r in self.rows) if self.rows else 10
        w2 = max(len(r["measured"]) for r in self.rows) if self.rows else 10
        w3 = max(len(r["target"]) for r in self.rows) if self.rows else 10
        fmt = "%%-%ds | %%-%ds | %%-%ds | %%s" % (w1, w2, w3)
        lines.append(fmt % ("figure", "measured", "target", "result"))
        lines.append("-" * (w1 + w2 + w3 + 16))
        for r in self.rows:
            lines.append(fmt % (r["figure"], r["measured"], r["target"], r["result"]))
        for note in self.notes:
            lines.append("note: %s" % note)
        prof = self.details.get("memory", {}).get("import_profile")
        if prof and self.details["memory"]["ratio"] > 1.1:
            lines.append("memory: the daemon loads %d modules, the floor %d; extra by package (self import us): %s"
                         % (prof["modules_daemon"], prof["modules_floor"],
                            ", ".join("%s %d" % kv for kv in prof["extra_by_top_package_self_us"][:12])))
        return "\n".join(lines)


def _status_kb_meminfo() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    return 0


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="plex-helper benchmark (issue 6): all figures in one run.")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--quick", action="store_true", help="fewer iterations (100 polls, 5 start-ups, 2 trials)")
    p.add_argument("--qbt", choices=("auto", "nox", "fake"), default="auto",
                   help="qBittorrent to drive: the real qbittorrent-nox (auto: if installed) or the fake")
    p.add_argument("--only", help="comma-separated subset: requests,cpu,reaction,memory,startup,size,whole_daemon,"
                                  "many (issue 12: 1+1 vs 3+3, memory floor in python -I), kinds (13: a poll per "
                                  "server kind, Jellyfin push reaction), clients (14: requests with three clients), "
                                  "history (15: per poll and at rest); with --json, only these sections' rows and "
                                  "details are replaced in the file")
    p.add_argument("--whole-daemon", action="store_true",
                   help="only the whole-daemon section (the built .pyz per poll over a window, and its profile)")
    p.add_argument("--window", type=int, help="whole daemon: polls per measured window (default 40; --quick 15)")
    p.add_argument("--source", choices=("worktree", "head"), default="worktree",
                   help="whole daemon: build the .pyz from the working tree or from the last commit (git archive)")
    p.add_argument("--compare", metavar="REF",
                   help="whole daemon: only compare this daemon with the one of commit REF, started in turn (ratios)")
    p.add_argument("--rebuild", action="store_true",
                   help="measure a fresh build of the working tree (built into a temp dir) instead of dist/")
    p.add_argument("--polls", type=int, help="polls per measurement (default 1000)")
    # worker mode (internal)
    p.add_argument("--worker", choices=("polls", "floor"), help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, default=10, help=argparse.SUPPRESS)
    p.add_argument("--poll-interval", type=float, default=10.0, help=argparse.SUPPRESS)
    p.add_argument("--reconcile", type=float, default=60.0, help=argparse.SUPPRESS)
    p.add_argument("--virtual-clock", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker == "polls":
        return worker_polls(args)
    if args.worker == "floor":
        return worker_floor(args)
    if args.whole_daemon or args.compare:
        args.only = "whole_daemon"
    if args.polls is None:
        args.polls = 100 if args.quick else 1000
    args.cpu_repeats = 1 if args.quick else 5
    args.mem_repeats = 1 if args.quick else 3
    args.startup_runs = 5 if args.quick else 15
    args.reaction_trials = 2 if args.quick else 5
    return Bench(args).run()


if __name__ == "__main__":
    sys.exit(main())
