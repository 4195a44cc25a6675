"""Many servers and clients (issue 12), Jellyfin and Emby (issue 13), the clients' requests (issue 14).

    python3 bench/run.py --only many       # a poll with 1 server + 1 client vs 3 + 3; memory floor in `python -I`
    python3 bench/run.py --only kinds      # a poll per server kind (Plex, Jellyfin, Emby); Jellyfin push reaction
    python3 bench/run.py --only clients    # requests per poll with qBittorrent + Transmission + Deluge

What runs where (bench/run.py's Bench owns the Plex stand-in and the real qbittorrent-nox behind its
counting proxy; this module adds the rest, started once and shared by the sections):

* Jellyfin and Emby: the stand-ins of tests/support/jellyfin_server.py (HTTP + the push WebSocket),
  each timestamping every request it serves; sessions from tests/support/jellyfin_payloads.py.
* Transmission and Deluge: the real transmission-daemon and deluged + deluge-web, started by the
  project's fixtures' classes (tests/support/transmission_daemon.py, deluge_daemon.py) on 127.0.0.1,
  each behind a CountingProxy (bench/run.py) that reads the JSON-RPC method of every request, so
  reads, writes, logins and session handshakes are counted per client on the wire.
* The measured client is bench/run.py's poll worker (`--worker polls`: the Container built from a
  config file, `DaemonRunner.run_once()` in a loop), in its own process as in the CPU-per-poll
  section; the config uses the `media_servers` / `download_clients` lists.
* The memory floor is measured in an isolated interpreter: a temporary venv (`python -m venv`, then
  `pip install --require-hashes -r requirements.lock`, offline from build/wheels when the build cached
  the wheels), run as `python -I`: only the locked dependencies are importable, as in the .pyz. The
  worker's peak RSS is measured in the same interpreter.
* The reaction: `python -m application --config CFG` (poll interval 60 s) with a Jellyfin stand-in
  whose WebSocket pushes a `Sessions` message; a fresh daemon per trial (the runner allows 4 triggered
  observations per poll interval, and a trial needs two), timed from the push to the moment
  qBittorrent answered the setUploadLimit (the counting proxy's timestamp).
"""
from __future__ import annotations

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README_CPU_FALLBACK = {0: 0.35, 10: 0.47}  # README, Performance: "CPU per poll, 0 / 10 / ... sessions"
SESSIONS = 10


def _median(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


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


# =============================================================================================
# Labels for the counting proxies (bench/run.py CountingProxy)
# =============================================================================================

def _rpc_method(body) -> str:
    import json

    try:
        method = json.loads(body or b"{}").get("method")
    except (ValueError, AttributeError):
        return "?"
    return method if isinstance(method, str) else "?"


def transmission_label(method: str, path: str, body, status: int) -> str:
    return "rpc %s%s" % (_rpc_method(body), " (409)" if status == 409 else "")


def transmission_category(label: str) -> str:
    if label.endswith("(409)"):
        return "session"  # the session-id exchange: the request is sent again
    return "write" if label.startswith("rpc session-set") else "read"


def deluge_label(method: str, path: str, body, status: int) -> str:
    return "json %s" % _rpc_method(body)


def deluge_category(label: str) -> str:
    method = label[len("json "):]
    if method.startswith("auth."):
        return "login"
    if method.startswith("web."):
        return "session"  # web.connected / web.get_hosts / web.connect: the web UI to its daemon
    return "write" if method == "core.set_config" else "read"


# =============================================================================================
# The extra servers and clients, started once and shared
# =============================================================================================

def _timed_jellyfin_class(jellyfin_server):
    import threading
    import time

    class TimedJellyfin(jellyfin_server.JellyfinTestServer):  # type: ignore[misc, valid-type]
        """The stand-in, plus (monotonic time, path) of every request it serves."""

        def __init__(self, *a, **k):
            self.arrivals = []
            self._alock = threading.Lock()
            super().__init__(*a, **k)

        def _handle(self, h):
            with self._alock:
                self.arrivals.append((time.monotonic(), h.path.split("?", 1)[0]))
                if len(self.arrivals) > 200000:
                    del self.arrivals[:100000]
            return super()._handle(h)

        def mark(self) -> int:
            with self._alock:
                return len(self.arrivals)

        def since(self, mark: int):
            with self._alock:
                return list(self.arrivals[mark:])

    return TimedJellyfin


class Sides:
    """Jellyfin/Emby stand-ins, transmission-daemon and deluged + deluge-web (behind counting
    proxies), started on first use; `stop()` ends them all."""

    def __init__(self, bench) -> None:
        self.b = bench
        self._servers = {}
        self._clients = {}
        self.notes = []

    def _support(self):
        from bench.run import _import_support

        _import_support()  # tests/support without pytest installed: a stub for its fixtures
        from tests.support import deluge_daemon, jellyfin_payloads, jellyfin_server, transmission_daemon

        return jellyfin_server, jellyfin_payloads, transmission_daemon, deluge_daemon

    @property
    def payloads(self):
        return self._support()[1]

    def server(self, name: str, kind: str = "jellyfin"):
        """A Jellyfin (or Emby) stand-in, by name."""
        if name not in self._servers:
            jellyfin_server = self._support()[0]
            from adapters.media.jellyfin.source import KINDS

            server = _timed_jellyfin_class(jellyfin_server)(KINDS[kind])
            server.__enter__()
            self._servers[name] = server
        return self._servers[name]

    def transmission(self):
        if "transmission" not in self._clients:
            import shutil
            from pathlib import Path

            from bench.run import CountingProxy

            transmission_daemon = self._support()[2]
            if shutil.which(transmission_daemon.BINARY) is None:
                raise RuntimeError("transmission-daemon is not installed")
            root = Path(self.b.tmp) / "transmission"
            root.mkdir()
            daemon = transmission_daemon.TransmissionDaemon(root).start()
            try:
                proxy = CountingProxy(daemon.port, label=transmission_label, category=transmission_category,
                                      is_limit_set=lambda label: label == "rpc session-set")
            except BaseException:
                daemon.stop()
                raise
            self._clients["transmission"] = (daemon, proxy)
            self.b.log("Transmission: transmission-daemon on 127.0.0.1:%d behind a counting proxy" % daemon.port)
        return self._clients["transmission"]

    def deluge(self):
        if "deluge" not in self._clients:
            import shutil
            from pathlib import Path

            from bench.run import CountingProxy

            deluge_daemon = self._support()[3]
            if shutil.which(deluge_daemon.DAEMON) is None or shutil.which(deluge_daemon.WEB) is None:
                raise RuntimeError("deluged or deluge-web is not installed")
            root = Path(self.b.tmp) / "deluge"
            root.mkdir()
            instance = deluge_daemon.DelugeInstance(root).start()
            try:
                proxy = CountingProxy(instance.web_port, label=deluge_label, category=deluge_category,
                                      is_limit_set=lambda label: label == "json core.set_config")
            except BaseException:
                instance.stop()
                raise
            self._clients["deluge"] = (instance, proxy)
            self.b.log("Deluge: deluged + deluge-web (web UI on 127.0.0.1:%d) behind a counting proxy" % instance.web_port)
        return self._clients["deluge"]

    def stop(self) -> None:
        for server in self._servers.values():
            try:
                server.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - stopping the rest matters more
                pass
        for daemon, proxy in self._clients.values():
            for end in (proxy.stop, daemon.stop):
                try:
                    end()
                except Exception:  # noqa: BLE001
                    pass
        self._servers.clear()
        self._clients.clear()

    # ------------------------------------------------------------------ config entries
    def plex_entry(self, events: bool = False):
        from bench.run import PLEX_TOKEN

        return {"name": "plex", "type": "plex", "url": self.b.plex.url, "token": PLEX_TOKEN, "events": events}

    def server_entry(self, name: str, kind: str = "jellyfin", events: bool = False):
        server = self.server(name, kind)
        return {"name": name, "type": kind, "url": server.url, "api_key": server.api_key, "events": events}

    def qbt_entry(self, weight: int = 2):
        from bench.run import QBT_PASS, QBT_USER

        return {"name": "qbittorrent", "type": "qbittorrent", "url": self.b.qbt.url, "username": QBT_USER,
                "password": QBT_PASS, "weight": weight}

    def transmission_entry(self, weight: int = 1):
        _, proxy = self.transmission()
        return {"name": "transmission", "type": "transmission", "url": proxy.url, "weight": weight}

    def deluge_entry(self, weight: int = 1):
        instance, proxy = self.deluge()
        return {"name": "deluge", "type": "deluge", "url": proxy.url, "password": instance.password, "weight": weight}

    def three_by_three(self):
        """Plex + two Jellyfins; qBittorrent + Transmission + Deluge by weight 2:1:1."""
        return ([self.plex_entry(), self.server_entry("jellyfin"), self.server_entry("jellyfin2")],
                [self.qbt_entry(), self.transmission_entry(), self.deluge_entry()])

    def set_sessions(self, n: int, names=("jellyfin", "jellyfin2", "emby")) -> None:
        """n sessions on Plex (bench.run.session_mix: 60 % remote) and on every named stand-in
        (jellyfin_payloads.many_sessions: direct play, transcoding, paused, idle, LAN, IPv6; fresh
        check-in times, so none is stale)."""
        import time

        from bench.run import session_mix

        self.b.plex.set_sessions(session_mix(self.b.payloads, n))
        for name in names:
            if name in self._servers:
                self._servers[name].set_sessions(self.payloads.many_sessions(n, now=time.time()) if n else [])

    def client_proxies(self):
        """{client name: its counting proxy} of every client started so far."""
        out = {"qbittorrent": self.b.qbt.proxy}
        out.update({name: proxy for name, (_, proxy) in self._clients.items()})
        return out


# =============================================================================================
# Config and worker
# =============================================================================================

def write_list_config(bench, servers, clients, **fields) -> str:
    """A daemon config (mode 600) with `media_servers` / `download_clients` lists and its own state_dir."""
    import json
    import tempfile

    from bench.run import STREAMING_KBPS

    state_dir = tempfile.mkdtemp(prefix="state-", dir=bench.tmp)
    cfg = {"media_servers": servers, "download_clients": clients, "poll_interval_sec": 1,
           "streaming_upload_kbps": STREAMING_KBPS, "idle_upload_kbps": 0, "state_dir": state_dir,
           "streaming_threshold": 2, "idle_threshold": 3, "reconcile_interval_sec": 60}
    cfg.update(fields)
    cfg = {k: v for k, v in cfg.items() if v is not None}
    fd, path = tempfile.mkstemp(prefix="bench-cfg-", suffix=".json", dir=bench.tmp)
    with os.fdopen(fd, "w") as f:
        json.dump(cfg, f)
    os.chmod(path, 0o600)
    return path


def worker_command(python: str, isolated: bool):
    """The poll worker (bench/run.py --worker polls), imported rather than run as a script."""
    if isolated:  # -I: no PYTHONPATH, no user site, no script directory: ROOT explicitly
        return [python, "-I", "-c", "import sys; sys.path.insert(0, %r); from bench.run import main; "
                "sys.exit(main(sys.argv[1:]))" % ROOT]
    return [python, "-c", "import sys; from bench.run import main; sys.exit(main(sys.argv[1:]))"]


def run_poll_worker(bench, config: str, polls: int, warmup: int = 10, virtual_clock: bool = False,
                    poll_interval: float = 10.0, python=None, isolated: bool = False, on_ready=None):
    """One worker run: `on_ready()` runs between its warm-up and its measured polls (reset counters
    there); returns the worker's JSON."""
    import json
    import subprocess

    cmd = worker_command(python or bench.python, isolated) + [
        "--worker", "polls", "--config", config, "--polls", str(polls), "--warmup", str(warmup),
        "--poll-interval", str(poll_interval)]
    if virtual_clock:
        cmd.append("--virtual-clock")
    err_path = os.path.join(bench.tmp, "multi-worker.err")
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
    with open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                                cwd=ROOT, env=env)
    try:
        line = proc.stdout.readline()
        if line.strip() != "ready":
            proc.kill()
            proc.wait()
            with open(err_path) as err:
                raise RuntimeError("worker did not get ready: %r %s" % (line, err.read()[-800:]))
        if on_ready is not None:
            on_ready()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out = proc.stdout.readline()
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if not out.strip():
        with open(err_path) as err:
            raise RuntimeError("worker gave no result: %s" % err.read()[-800:])
    return json.loads(out)


def make_isolated_venv(bench):
    """A venv with only the locked dependencies (no pip, nothing else); its python, and how."""
    import glob
    import platform
    import subprocess

    cached = getattr(bench, "_isolated_python", None)
    if cached:
        return cached
    venv = os.path.join(bench.tmp, "isolated-venv")
    subprocess.run([bench.python, "-m", "venv", "--without-pip", venv], check=True, capture_output=True)
    vpy = os.path.join(venv, "bin", "python")
    lock = os.path.join(ROOT, "requirements.lock")
    pip = [bench.python, "-m", "pip", "--python", vpy, "install", "-q", "--disable-pip-version-check",
           "--require-hashes", "-r", lock]
    pure = os.path.join(ROOT, "build", "wheels", "pure")
    native = [d for d in glob.glob(os.path.join(ROOT, "build", "wheels", "linux-*-glibc")) if platform.machine() in d]
    how = None
    if os.path.isdir(pure) and native:
        p = subprocess.run(pip + ["--no-index", "--find-links", pure] + sum((["--find-links", d] for d in native), []),
                           capture_output=True, text=True)
        if p.returncode == 0:
            how = "pip install --require-hashes -r requirements.lock, offline from build/wheels"
    if how is None:
        p = subprocess.run(pip, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("could not install requirements.lock into the isolated venv: %s" % p.stderr[-400:])
        how = "pip install --require-hashes -r requirements.lock (from the package index)"
    listing = subprocess.run([vpy, "-I", "-c", "import importlib.metadata as m; print(sorted('%s %s' % "
                              "(d.metadata['Name'], d.version) for d in m.distributions()))"],
                             capture_output=True, text=True).stdout.strip()
    bench._isolated_python = (vpy, how, listing)
    return bench._isolated_python


def vm_hwm_of(python: str, code: str, isolated: bool, cwd: str):
    """VmHWM (kB) and module count of `python [-I] -c code`."""
    import subprocess

    probe = code + "; import sys; print(len(sys.modules)); print(open('/proc/self/status').read())"
    out = subprocess.run([python] + (["-I"] if isolated else []) + ["-c", probe], capture_output=True, text=True,
                         check=True, cwd=cwd).stdout
    lines = out.splitlines()
    hwm = next(int(l.split()[1]) for l in lines if l.startswith("VmHWM:"))
    return hwm, int(lines[0])


# =============================================================================================
# Issue 12: one server + one client vs three + three; the memory floor in an isolated interpreter
# =============================================================================================

class ManySides:
    def __init__(self, bench, sides: Sides) -> None:
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
            per[key] = {"best_ms": cpu[0], "median_ms": _median(cpu), "runs_ms": cpu,
                        "wall_ms_median": _median([r["wall_s"] / polls * 1000 for r in rs]),
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
        from bench.run import FLOOR_IMPORT

        iso = [vm_hwm_of(vpy, FLOOR_IMPORT, True, self.b.tmp) for _ in range(repeats)]
        dev = [vm_hwm_of(self.b.python, FLOOR_IMPORT, False, self.b.tmp) for _ in range(repeats)]
        bare = [vm_hwm_of(vpy, "pass", True, self.b.tmp) for _ in range(repeats)]
        floor_iso = _median([h for h, _ in iso]) / 1024
        floor_dev = _median([h for h, _ in dev]) / 1024
        bare_mb = _median([h for h, _ in bare]) / 1024
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
        peak = {k: _median(v) / 1024 for k, v in peaks.items()}
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


# =============================================================================================
# Issue 13: a poll per server kind; the reaction to a Jellyfin playback start
# =============================================================================================

class ServerKinds:
    def __init__(self, bench, sides: Sides) -> None:
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
        from bench.run import session_mix

        plex_body = {"MediaContainer": {"size": SESSIONS, "Metadata": session_mix(self.b.payloads, SESSIONS)}}
        bodies = {"plex": len(json.dumps(plex_body)),
                  "jellyfin": len(json.dumps(self.s.payloads.many_sessions(SESSIONS, now=time.time())))}
        bodies["emby"] = bodies["jellyfin"]
        per = {}
        for kind, rs in runs.items():
            cpu = sorted(r["cpu_s"] / polls * 1000 for r in rs)
            per[kind] = {"best_ms": cpu[0], "median_ms": _median(cpu), "runs_ms": cpu, "state": rs[-1]["state"],
                         "remote_sessions": rs[-1]["remote_sessions"], "requests_per_poll": rs[-1]["requests_per_poll"],
                         "requests_by_path": requests[kind], "body_bytes": bodies[kind]}
        self.b.details["kinds"] = {"polls": polls, "repeats": repeats, "sessions": SESSIONS,
                                   "payloads": "Plex: bench.run.session_mix (tests/support/plex_payloads); Jellyfin/Emby: "
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
        med, worst = _median(times), (times[-1] if times else None)
        to_read = _median([t["push_to_read_s"] for t in good])
        read_to_limit = _median([t["read_to_limit_answered_s"] for t in good])
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


# =============================================================================================
# Issue 14: requests per poll with three clients
# =============================================================================================

class ClientRequests:
    def __init__(self, bench, sides: Sides) -> None:
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
