"""The bench's run: the Plex stand-in and qBittorrent started once, the sections run in turn (each
alone with --only), the table printed and, with --json, the results written."""
from __future__ import annotations

import os
import sys

from bench.common import PLEX_TOKEN, PYZ, QBT_PASS, QBT_USER, ROOT, STREAMING_KBPS, import_support, \
    meminfo_total_kb, session_mix
from bench.report import merged_into, table
from bench.sections import SECTIONS, section
from bench.stand_ins import QBittorrent, make_plex_server


class Bench:
    """What every section is handed: the arguments, the stand-ins (`plex`, `qbt`, `sides()`), a temp dir,
    `run_worker()` and `write_config()`, and where the figures go (`row()`, `details`, `notes`)."""

    def __init__(self, args) -> None:
        self.args = args
        self.python = sys.executable
        self.rows = []  # (figure, measured, target, ok or None)
        self.details = {}
        self.notes = []
        self.daemon_hwm = {}  # streaming_threshold -> (VmHWM kB of the real daemon, Plex polls so far)
        self.section = None  # the section running now: rows are tagged with it
        self.section_runs = {}  # section -> when it ran, how long it took

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
        from bench.worker_runs import run_poll_worker

        self.plex.set_sessions(session_mix(self.payloads, sessions))
        config = self.write_config(reconcile_interval_sec=reconcile, streaming_threshold=2, idle_threshold=3)

        def reset() -> None:
            self.plex.reset_counters()
            self.qbt.proxy.reset()

        result = run_poll_worker(self, config, polls, warmup, virtual_clock, poll_interval, on_ready=reset,
                                 extra_args=("--reconcile", str(reconcile)), timeout_sec=600)
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
            mem_mb = round(meminfo_total_kb() / 1024)
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

    def sides(self):
        """The extra servers and clients of bench/sides.py (Jellyfin/Emby stand-ins, Transmission,
        Deluge), started on first use and stopped at the end of the run."""
        if getattr(self, "_sides", None) is None:
            from bench.sides import Sides

            self._sides = Sides(self)
        return self._sides

    def run(self) -> int:
        import json
        import shutil
        import tempfile
        import time

        self.tmp = tempfile.mkdtemp(prefix="plex-helper-bench-")
        t_start = time.monotonic()
        plex_server, self.payloads, fake_q, nox = import_support()
        self.plex = make_plex_server(plex_server).start()
        self.qbt = QBittorrent(self.args.qbt, fake_q, nox, self.tmp)
        try:
            if self.qbt.note:
                self.notes.append(self.qbt.note)
            self.details["machine"] = self.machine()
            self.log("qBittorrent: %s; Plex: test server at %s" % (self.details["machine"]["qbittorrent"], self.plex.url))
            only = self.args.only.split(",") if self.args.only else list(SECTIONS)
            unknown = [name for name in only if name not in SECTIONS]
            if unknown:
                raise SystemExit("--only: unknown section(s) %s; choose from %s" % (", ".join(unknown), ", ".join(SECTIONS)))
            for name in only:
                self.section = name
                started = time.monotonic()
                try:
                    section(name).run(self)
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
        text = table(self.rows, self.details, self.notes, self.args.quick, elapsed)
        print(text)
        if self.args.json:
            command = " ".join(["python3", "-m", "bench.run"] + sys.argv[1:])
            for run in self.section_runs.values():
                run["command"] = command
            doc = {"command": command,
                   "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "elapsed_sec": round(elapsed, 1),
                   "quick": self.args.quick, "machine": self.details.get("machine"), "table": self.rows,
                   "notes": self.notes, "details": {k: v for k, v in self.details.items() if k != "machine"},
                   "sections": self.section_runs}
            if self.args.only:
                doc = merged_into(self.args.json, doc)
            os.makedirs(os.path.dirname(os.path.abspath(self.args.json)), exist_ok=True)
            with open(self.args.json, "w") as f:
                json.dump(doc, f, indent=2, sort_keys=False, default=str)
                f.write("\n")
            self.log("wrote %s" % self.args.json)
        return 0 if all(r["result"] != "FAIL" for r in self.rows) else 1
