"""The dashboard in a real browser: headless Chromium driven over its DevTools protocol.

A small HTTP server in the test serves the page (adapters.status.dashboard) with canned /health and
/api/history answers and a token-checking /override, all on 127.0.0.1. The test checks what the page
shows, that it follows a change of /health without a reload, that the override buttons ask for the
token and work with it, that nothing was requested from anywhere but 127.0.0.1, and saves
screenshots (desktop and phone width) to its tmp directory, and to $PLEX_HELPER_SCREENSHOT_DIR when
set (for the README).

Skips when no Chromium is installed (Debian: apt-get install chromium).
Wiring it to the real daemon later: point `page_url` at the status server of a daemon started against
the test servers instead of the stand-in below; the checks stay the same.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import urlsplit

import pytest
import websocket  # websocket-client, the push channels' library: DevTools speaks WebSocket

from adapters.status.dashboard import page

TOKEN = "s3cret-token"
BROWSER = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium installed (Debian: apt-get install chromium)")


def session(user, player, remote=True, bandwidth=8000):
    return {"user": user, "player": player, "state": "playing", "remote": remote,
            "reason": "remote: Plex says the player is not on the LAN" if remote else "local: on the LAN",
            "bandwidth_kbps": bandwidth}


def limit(kib: int, own: bool = False) -> Dict[str, Any]:
    return {"kib": kib, "unlimited": kib == 0, "own": own, "own_kib": kib if own else None}


def clock(epoch: float) -> str:
    return time.strftime("%H:%M", time.localtime(epoch))


def canned_health() -> Dict[str, Any]:
    return {
        "state": "streaming", "effective_state": "streaming",
        "why": "1 remote stream (alice) for 2 polls: throttled",
        "remote_streams": 1, "override": None, "schedule": {"window": "sat,sun 18:00-23:30: streaming 200 KiB/s"},
        "flap_held": False,
        "servers": [
            {"name": "plex", "type": "plex", "reachable": True, "error": None, "latency_ms": 12.5,
             "sessions": [session("alice", "Living room TV"), session("owner", "Desktop", remote=False, bandwidth=20000)]},
            {"name": "jellyfin", "type": "jellyfin", "reachable": False, "error": "connection refused", "latency_ms": None,
             "sessions": [], "push": "push silent: polling only"},
        ],
        "clients": [
            {"name": "qbt", "type": "qbittorrent", "reachable": True, "error": None, "limit_kib": 500, "wanted_kib": 500,
             "unlimited": False, "limits": {"upload": limit(500)}},
            {"name": "deluge", "type": "deluge", "reachable": True, "error": None, "limit_kib": 300, "wanted_kib": 300,
             "unlimited": False, "limits": {"upload": limit(300, own=True), "download": limit(0, own=True)}},
        ],
        "streams": [{"server": "plex", "user": "alice", "player": "Living room TV", "since": "(iso)",
                     "since_epoch": time.time() - 600}],
        "budgets": {"upload": 800, "download": None},
        "temporary_limits": [],
        "history": {"enabled": True, "error": None},
    }


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(epoch))


def measured_line(streams: int) -> Dict[str, Any]:
    """A sample's `line` as the history keeps it with a line meter: upload and download, KiB/s."""
    return {"upload": {"measured_kib": 300.0 + 250 * streams, "clients_kib": 300.0, "streams_kib": 250.0 * streams,
                       "other_kib": None if streams == 2 else 0.0, "capacity_kib": 1000},
            "download": {"measured_kib": 4000.0, "clients_kib": 3000.0, "streams_kib": 0.0, "other_kib": 1000.0,
                         "capacity_kib": 6000}}


def canned_history(since: float, line: bool = False) -> Dict[str, Any]:
    now = time.time()
    samples = []
    for minute in range(int((now - since) // 60), 0, -1):
        at = now - minute * 60
        streaming = minute < 90 or 600 < minute < 700
        samples.append({"at": at, "remote_streams": (2 if minute < 30 else 1) if streaming else 0,
                        "limits": {"qbt": 500 if streaming else 0, "deluge": 250 if streaming else 0},
                        "servers": {"plex": True}, "clients": {"qbt": True, "deluge": True}})
        if line and streaming:  # the line is measured while throttled
            samples[-1]["line"] = measured_line(samples[-1]["remote_streams"])
    states = [{"at": now - 700 * 60, "from": "idle", "to": "streaming", "reason": "threshold reached"},
              {"at": now - 600 * 60, "from": "streaming", "to": "idle", "reason": "threshold reached"},
              {"at": now - 90 * 60, "from": "idle", "to": "streaming", "reason": "threshold reached"}]
    return {"since": since, "until": now, "enabled": True, "error": None, "downsampled": False, "truncated": False,
            "states": [s for s in states if s["at"] >= since],
            "limits": [{"at": s["at"], "client": "qbt", "limit_kib": 500 if s["to"] == "streaming" else 0} for s in states],
            "samples": samples[-2000:]}


class StandIn:
    """The status server's routes for the page, on 127.0.0.1, recording every request."""

    def __init__(self) -> None:
        self.health = canned_health()
        self.history_line = False  # whether the history's samples carry the measured line
        self.override_access: Dict[str, Any] = {"allowed": True, "why_not": None, "token": True}
        self.requests: List[Dict[str, Any]] = []
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes, headers: List[tuple]) -> None:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, value: Any) -> None:
                self._answer(status, json.dumps(value).encode(), [("Content-Type", "application/json")])

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                with stand_in.lock:
                    stand_in.requests.append({"method": self.command, "path": parts.path, "query": parts.query,
                                              "authorization": self.headers.get("Authorization"), "body": body})
                if self.command == "GET" and parts.path == "/":
                    content, content_type, headers = page()  # as the status server sends it
                    self._answer(200, content, [("Content-Type", content_type), ("Cache-Control", "no-store")] + headers)
                elif self.command == "GET" and parts.path == "/health":
                    with stand_in.lock:
                        self._json(200, stand_in.health)
                elif self.command == "GET" and parts.path == "/api/history":
                    since = float(dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p).get("since", 0))
                    self._json(200, canned_history(since, stand_in.history_line))
                elif self.command == "GET" and parts.path == "/api/override":
                    self._json(200, stand_in.override_access)
                elif parts.path == "/override" and self.command in ("POST", "DELETE"):
                    if self.headers.get("Authorization") != "Bearer " + TOKEN:
                        self._json(401, {"error": "missing or wrong token: send the header 'Authorization: Bearer <status_token>'"})
                    elif self.command == "POST" and "direction" in json.loads(body):
                        asked = json.loads(body)
                        with stand_in.lock:
                            stand_in.health["temporary_limits"] = [{
                                "direction": asked["direction"], "kib": 976, "label": asked["label"],
                                "until": "(iso)", "until_epoch": time.time() + asked["minutes"] * 60}]
                            self._json(200, {"temporary_limits": stand_in.health["temporary_limits"]})
                    elif self.command == "DELETE" and "direction=" in parts.query:
                        with stand_in.lock:
                            stand_in.health["temporary_limits"] = []
                        self._json(200, {"temporary_limits": []})
                    elif self.command == "POST":
                        asked = json.loads(body)
                        with stand_in.lock:
                            until = time.time() + asked["minutes"] * 60
                            # as /health gives it: a timestamp in `why` and `until`, the page shows neither
                            stand_in.health["why"] = "override: %s until %s" % (asked["state"], iso(until))
                            stand_in.health["override"] = {"state": asked["state"], "until": iso(until), "until_epoch": until}
                            self._json(200, {"override": stand_in.health["override"]})
                    else:
                        with stand_in.lock:
                            stand_in.health["override"] = None
                        self._json(200, {"override": None})
                else:
                    self._json(404, {"error": "no such path"})

            do_GET = do_POST = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d/" % self.server.server_address[1]

    def overrides(self) -> List[Dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == "/override"]

    def __enter__(self) -> "StandIn":
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class DevTools:
    """Just enough of the DevTools protocol: commands, events kept, JavaScript dialogs answered."""

    def __init__(self, ws_url: str) -> None:
        # no Origin header: Chromium refuses DevTools connections that carry one
        self.ws = websocket.create_connection(ws_url, timeout=10, suppress_origin=True)
        self.next_id = 0
        self.events: List[Dict[str, Any]] = []
        self.dialog_answer: Optional[str] = None  # None: dismiss a prompt
        self.dialogs: List[str] = []

    def call(self, method: str, timeout: float = 20.0, **params: Any) -> Dict[str, Any]:
        self.next_id += 1
        wanted = self.next_id
        self.ws.send_text(json.dumps({"id": wanted, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer to %s" % method)
            try:
                self.ws.settimeout(left)
                message = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError("%s: %s" % (method, message["error"]))
                return message.get("result", {})
            self._event(message)

    def _event(self, message: Dict[str, Any]) -> None:
        if "method" not in message:
            return
        self.events.append(message)
        if message["method"] == "Page.javascriptDialogOpening":
            self.dialogs.append(message["params"].get("message", ""))
            answer = self.dialog_answer
            self.next_id += 1  # answered without waiting: the reply is skipped as an unknown id
            params = {"accept": answer is not None}
            if answer is not None:
                params["promptText"] = answer
            self.ws.send_text(json.dumps({"id": self.next_id, "method": "Page.handleJavaScriptDialog", "params": params}))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError("page error: %s" % result["exceptionDetails"])
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except RuntimeError as err:  # e.g. the page is still loading
                value = err
            if value and not isinstance(value, RuntimeError):
                return value
            self.call("Runtime.evaluate", expression="0")  # lets queued events (dialogs) be handled
            time.sleep(0.1)
        raise AssertionError("%s: not within %.0f s (last: %r)" % (what, timeout, value))

    def requested_urls(self) -> List[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.ws.close(timeout=1.0)
        except (websocket.WebSocketException, OSError):
            pass


@pytest.fixture
def browser(tmp_path):
    profile = tmp_path / "profile"
    profile.mkdir()
    command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
               "--disable-extensions", "--mute-audio", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
               # rebind.test plays a DNS-rebinding attacker's name made to resolve to this machine;
               # any other stray name could not even be resolved
               "--host-resolver-rules=MAP rebind.test 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE 127.0.0.2",
               "--user-data-dir=%s" % profile, "--window-size=1200,1600", "about:blank"]
    log = open(tmp_path / "chromium.log", "wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    devtools = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1) and time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail("chromium exited at start:\n%s" % (tmp_path / "chromium.log").read_text(errors="replace"))
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10) as answer:
            targets = json.load(answer)
        page_target = next(t for t in targets if t.get("type") == "page")
        devtools = DevTools(page_target["webSocketDebuggerUrl"])
        for domain in ("Network", "Page", "Runtime"):
            devtools.call(domain + ".enable")
        yield devtools
    finally:
        if devtools is not None:
            devtools.close()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(10)
        log.close()


def text_of(element_id: str) -> str:
    return "document.getElementById(%s).textContent" % json.dumps(element_id)


def save(devtools: DevTools, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    devtools.screenshot(path)
    assert path.stat().st_size > 1000
    shots = os.environ.get("PLEX_HELPER_SCREENSHOT_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(shots) / name)
    return path


def test_the_dashboard_in_chromium(browser, tmp_path):
    with StandIn() as server:
        browser.call("Page.navigate", url=server.url)
        # the state, why, a stream and the limits, as /health says
        browser.wait_for(text_of("state") + " === 'Streaming: upload throttled'", "the state")
        assert browser.evaluate(text_of("why")) == "1 remote stream (alice) for 2 polls: throttled"
        streams = browser.evaluate(text_of("streams"))
        assert streams == "alice on Living room TV (plex), since %s" % clock(server.health["streams"][0]["since_epoch"])
        assert browser.evaluate("[...document.querySelectorAll('#budgets li')].map(l => l.textContent)") == [
            "Upload: 800 KiB/s (6.6 Mbit/s) shared by the clients", "Download: none, every client keeps its own limit"]
        assert "Remote streams:" not in browser.evaluate("document.getElementById('state-section').innerText")
        reasons = browser.evaluate(text_of("reasons"))
        assert "Schedule window in force: sat,sun 18:00-23:30: streaming 200 KiB/s" in reasons
        assert "Media server jellyfin is down: connection refused" in reasons
        servers_text = browser.evaluate("document.getElementById('servers').innerText")
        assert "Push silent: polling only." in servers_text  # a silent push channel is shown on the page
        rows = browser.evaluate("[...document.querySelectorAll('#servers tr.session')].map(r => r.innerText.split('\\t'))")
        assert ["alice", "Living room TV", "playing", "remote", "remote: Plex says the player is not on the LAN", "8.0 Mbit/s"] in rows
        assert any(r[0] == "owner" and r[3] == "local" for r in rows)
        clients = browser.evaluate("[...document.querySelectorAll('#clients tr.client')].map(r => r.innerText.split('\\t'))")
        assert clients[0] == ["qbt (qbittorrent)", "yes", "500 KiB/s (4.1 Mbit/s), set by plex-helper",
                              "not limited by plex-helper"]
        assert clients[1][2:] == ["300 KiB/s (2.5 Mbit/s), yours, left alone", "unlimited, yours, left alone"]
        # the charts: streams, a line per client, the state changes marked
        browser.wait_for("document.querySelectorAll('#chart-day path.limit').length === 2", "the day chart")
        browser.wait_for("document.querySelectorAll('#chart-week path.limit').length === 2", "the week chart")
        assert browser.evaluate("document.querySelectorAll('#chart-day path.streams').length") == 1
        assert browser.evaluate("document.querySelectorAll('#chart-day g.state-change').length") == 3
        assert "2 remote streams" in browser.evaluate(text_of("summary-day"))
        assert "3 state changes" in browser.evaluate(text_of("summary-day"))
        save(browser, tmp_path, "dashboard.png")

        # a stream starting shows within a refresh, without a reload
        browser.evaluate("window.__same_page = true")
        with server.lock:
            server.health["servers"][0]["sessions"].append(session("bob", "Phone"))
            server.health["remote_streams"] = 2
        browser.wait_for("[...document.querySelectorAll('#servers tr.session th')].some(c => c.textContent === 'bob')",
                         "bob's stream", timeout=20)
        assert browser.evaluate("window.__same_page === true")
        # the chart's summary agrees with the live state: a third stream since the last history sample
        with server.lock:
            server.health["remote_streams"] = 3
        browser.wait_for(text_of("summary-day") + ".startsWith('At most 3 remote streams')", "the live count in the chart")

        # the override: refused without the token (the prompt dismissed), set with it, cleared with it kept
        browser.dialog_answer = None
        browser.evaluate("document.getElementById('override-set').click()")
        browser.wait_for(text_of("override-message") + ".startsWith('Could not set the override')", "refused")
        assert [r["authorization"] for r in server.overrides()] == [None]
        assert server.health["override"] is None

        browser.dialog_answer = TOKEN
        browser.evaluate("document.getElementById('override-state').value = 'idle'")
        browser.evaluate("document.getElementById('override-set').click()")
        browser.wait_for(text_of("override-message") + ".startsWith('Override set: idle')", "the override set")
        assert server.overrides()[-1]["authorization"] == "Bearer " + TOKEN
        assert json.loads(server.overrides()[-1]["body"]) == {"state": "idle", "minutes": 60}
        browser.wait_for(text_of("override-status") + ".startsWith('Override in force: idle until')", "the override shown")
        assert len(browser.dialogs) == 2
        # shown once, in local time: never as a timestamp
        shown = browser.evaluate("document.querySelector('main').innerText")
        assert shown.count(clock(server.health["override"]["until_epoch"])) == 1, shown
        assert "T%s" % clock(server.health["override"]["until_epoch"]) not in shown and "+0" not in shown

        browser.evaluate("document.getElementById('override-clear').click()")
        browser.wait_for(text_of("override-message") + " === 'Override cleared.'", "the override cleared")
        assert [r["method"] for r in server.overrides()] == ["POST", "POST", "POST", "DELETE"]
        assert server.overrides()[-1]["authorization"] == "Bearer " + TOKEN  # kept for the session: no new prompt
        assert len(browser.dialogs) == 2

        # a temporary limit with a value and a label, shown with its end in local time, then ended
        browser.evaluate("document.getElementById('temporary-label').value = 'video call'")
        browser.evaluate("document.getElementById('temporary-set').click()")
        browser.wait_for("document.querySelectorAll('#temporary-list li.temporary').length === 1", "the temporary limit")
        assert json.loads(server.overrides()[-1]["body"]) == {"direction": "upload", "kib": "1 MB/s", "minutes": 60,
                                                               "label": "video call"}
        end = clock(server.health["temporary_limits"][0]["until_epoch"])
        assert browser.evaluate(text_of("temporary-list")) == (
            "Upload budget held at 976 KiB/s (8.0 Mbit/s) until %s: video call End" % end)
        browser.evaluate("document.querySelector('#temporary-list button').click()")
        browser.wait_for(text_of("temporary-list") + " === 'None.'", "the temporary limit ended")
        assert server.overrides()[-1]["method"] == "DELETE" and server.overrides()[-1]["query"] == "direction=upload"

        # idle: each client's own limit, left alone
        with server.lock:
            server.health.update(state="idle", effective_state="idle", why="no remote streams", remote_streams=0,
                                 streams=[], budgets={"upload": None, "download": None})
            server.health["clients"][0]["limits"] = {"upload": limit(2000, own=True)}
        browser.wait_for(text_of("state") + " === 'Idle: upload not throttled'", "idle")
        browser.wait_for("document.querySelector('#clients tr.client td.limit').textContent === "
                         "'2000 KiB/s (16.4 Mbit/s), yours, left alone'", "the own limit while idle")
        assert browser.evaluate(text_of("streams")) == "Nobody."

        # legible on a phone: nothing wider than the screen
        browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=2, mobile=True)
        browser.wait_for("document.documentElement.scrollWidth <= 391", "no sideways scrolling on a phone", timeout=10)
        browser.wait_for("[...document.querySelectorAll('.chart svg')].every(s => Number(s.getAttribute('width')) <= 390)",
                         "the charts redrawn for the narrow screen", timeout=10)
        cells = browser.evaluate("[...document.querySelectorAll('#clients td')].map(c => getComputedStyle(c, '::before').content)")
        assert '"Upload limit: "' in cells  # the tables are stacked, each value with its label
        save(browser, tmp_path, "dashboard-phone.png")

        # nothing was asked of anything but the stand-in on 127.0.0.1
        urls = browser.requested_urls()
        assert urls, "no requests seen"
        elsewhere = [u for u in urls if not (u.startswith(server.url) or u.startswith(("data:", "about:")))]
        assert elsewhere == []
        paths = {r["path"] for r in server.requests}
        assert paths == {"/", "/health", "/api/history", "/api/override", "/override"}


# --- pages elsewhere cannot steer the real status server --------------------------------------------

ATTACK_PAGE = """<!doctype html><title>cat pictures</title>
<iframe name="sink"></iframe>
<form id="f" method="POST" enctype="text/plain" target="sink" action="TARGET/override">
<input name='{"state":"streaming","minutes":600,"x":"' value='"}'></form>
<form id="w" method="POST" enctype="multipart/form-data" target="sink" action="TARGET/webhook">
<input name="payload" value='{"event":"media.play"}'></form>
<script>
var body = JSON.stringify({state: "streaming", minutes: 600});
var tries = [
  fetch("TARGET/override", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: body}),
  fetch("TARGET/override", {method: "POST", headers: {"Content-Type": "application/json"}, body: body}),
  fetch("TARGET/override", {method: "DELETE"}),
];
document.getElementById("f").submit();
setTimeout(function () { document.getElementById("w").submit(); }, 300);
Promise.allSettled(tries).then(function () { setTimeout(function () { document.title = "done"; }, 1500); });
</script>"""


class AttackerSite:
    """A page on another origin (127.0.0.2, another port) that tries to change the override."""

    def __init__(self, target: str) -> None:
        html = ATTACK_PAGE.replace("TARGET", target.rstrip("/")).encode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(html)))
                self.end_headers()
                self.wfile.write(html)

        self.server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.url = "http://127.0.0.2:%d/" % self.server.server_address[1]

    def __enter__(self) -> "AttackerSite":
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class RecordingBackend:
    """The daemon's side of the status server: canned health and history, overrides recorded."""

    def __init__(self) -> None:
        self.health_document = canned_health()
        self.overrides: List[Any] = []
        self.clears = 0
        self.triggers: List[str] = []

    def health(self):
        return 200, self.health_document

    def metrics_text(self) -> str:
        return ""

    def history(self, since, until, max_points):
        return canned_history(since)

    def trigger_observation(self, reason: str) -> None:
        self.triggers.append(reason)

    def set_override(self, state: str, minutes: float):
        self.overrides.append((state, minutes))
        self.health_document["override"] = {"state": state, "until_epoch": time.time() + minutes * 60}
        return {"override": self.health_document["override"]}

    def clear_override(self):
        self.clears += 1
        self.health_document["override"] = None
        return {"override": None}


class StatusLog(logging.Handler):
    """The status server's request lines: which requests reached it and what it answered."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.parametrize("token", ["", TOKEN], ids=["no-token", "token"])
def test_a_page_on_another_origin_cannot_change_the_override(browser, token):
    from adapters.status.server import StatusHttpServer

    backend = RecordingBackend()
    logger = logging.getLogger("plex_helper.status.e2e")
    logger.setLevel(logging.DEBUG)
    log = StatusLog()
    logger.addHandler(log)
    try:
        with StatusHttpServer("127.0.0.1:0", backend, token=token, logger=logger) as status, AttackerSite(status.url) as evil:
            browser.call("Page.navigate", url=evil.url)
            browser.wait_for("document.title === 'done'", "the attack page ran its tries")
            assert backend.overrides == [] and backend.clears == 0 and backend.triggers == []
            answered = [line for line in log.lines if line.startswith("status 127.0.0.1 ") and "/override" in line]
            # the requests did reach the server, which refused them (the browser stopped only the preflighted ones)
            assert any(line.endswith(" POST /override 403") for line in answered), log.lines

            # DNS rebinding: the attacker's name resolving to this machine gets nothing
            browser.call("Page.navigate", url="http://rebind.test:%d/health" % status.address[1])
            browser.wait_for("document.body && document.body.innerText.includes('status_allowed_hosts')", "the 421 answer")
            assert "rebind.test" in browser.evaluate("document.body.innerText")

            # the dashboard on its own origin still sets the override (asking for the token when one is set)
            browser.dialog_answer = token or None
            browser.call("Page.navigate", url=status.url + "/")
            browser.wait_for(text_of("state") + " === 'Streaming: upload throttled'", "the dashboard")
            browser.evaluate("document.getElementById('override-state').value = 'idle'")
            browser.evaluate("document.getElementById('override-set').click()")
            browser.wait_for(text_of("override-message") + ".startsWith('Override set: idle')", "the override set")
            assert backend.overrides == [("idle", 60.0)]
    finally:
        logger.removeHandler(log)


def test_the_page_says_which_setting_lets_this_browser_change_the_override(browser):
    with StandIn() as server:
        refusal = "without a status_token the override is only accepted from this machine; set status_allow_lan_override: true"
        server.override_access = {"allowed": False, "why_not": refusal, "token": False}
        browser.call("Page.navigate", url=server.url)
        browser.wait_for(text_of("override-message") + ".includes('status_allow_lan_override')", "the reason shown")
        assert browser.evaluate("document.getElementById('override-set').disabled") is True
        assert browser.evaluate("document.getElementById('override-clear').disabled") is True


def test_the_line_charts_show_with_a_line_meter_and_not_without(browser, tmp_path):
    with StandIn() as server:
        server.health["line"] = None  # as /health says it without a line meter
        server.history_line = True  # even a history with the line in it: no meter, no line chart
        browser.call("Page.navigate", url=server.url)
        browser.wait_for("document.querySelectorAll('#chart-day path.limit').length === 2", "the day chart")
        browser.wait_for("document.querySelectorAll('#chart-week path.limit').length === 2", "the week chart")
        assert browser.evaluate("document.getElementById('line-day').hidden && document.getElementById('line-week').hidden")
        assert browser.evaluate("document.querySelectorAll('svg.line-chart').length") == 0
        assert "line:" not in browser.evaluate(text_of("legend"))

        # the daemon with a line meter (as after a restart with one configured): the charts without a reload
        browser.evaluate("window.__same_page = true")
        with server.lock:
            server.health["line"] = {"meter": "snmp 192.168.1.1:161 eth0", "throttling": True, "failure": None,
                                     **{d: {**f, "budget_kib": 500, "fallback": None} for d, f in measured_line(1).items()}}
        browser.wait_for("document.querySelectorAll('#line-week svg.line-chart').length === 2", "the week's line charts")
        browser.wait_for("document.querySelectorAll('#line-day svg.line-chart').length === 2", "the day's line charts")
        assert browser.evaluate("window.__same_page === true")
        assert browser.evaluate("[...document.querySelectorAll('#line-day svg.line-chart')].map(s => s.dataset.direction)") == [
            "upload", "download"]
        upload = "document.querySelector('#line-day svg[data-direction=upload]')"
        bands = browser.evaluate("[...%s.querySelectorAll('path.band')].map(p => p.getAttribute('class'))" % upload)
        assert bands == ["band band-streams", "band band-clients", "band band-other"]
        assert browser.evaluate("%s.querySelectorAll('path.capacity').length" % upload) == 1
        assert browser.evaluate("%s.querySelectorAll('path.measured').length" % upload) == 1
        # two pieces: the throttled spans of the day (the chart is not drawn across the idle hours)
        assert browser.evaluate("%s.querySelector('path.band-clients').getAttribute('d').split('M').length - 1" % upload) == 2
        summaries = browser.evaluate("[...document.querySelectorAll('#line-day p.line-summary')].map(p => p.textContent)")
        assert summaries == [
            "Upload: at most 800 KiB/s measured of 1000 KiB/s; remote streams up to 500, download clients up to 300, "
            "other devices up to 0 KiB/s.",
            "Download: at most 4000 KiB/s measured of 6000 KiB/s; remote streams up to 0, download clients up to 3000, "
            "other devices up to 1000 KiB/s."]
        assert "(means of each point's span)" not in browser.evaluate(text_of("line-week"))  # the stand-in never downsamples
        assert browser.evaluate("document.querySelector('#line-day h3').textContent") == "The line (snmp 192.168.1.1:161 eth0)"
        legend = browser.evaluate(text_of("legend"))
        assert "line: remote streams (hatched, at the bottom)" in legend and "line: capacity (dashed)" in legend
        save(browser, tmp_path, "dashboard-line.png")
        browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=2, mobile=True)
        browser.wait_for("[...document.querySelectorAll('svg.line-chart')].every(s => Number(s.getAttribute('width')) <= 390)",
                         "the line charts redrawn for a phone", timeout=10)
        assert browser.evaluate("document.documentElement.scrollWidth") <= 391
        browser.call("Emulation.clearDeviceMetricsOverride")

        # the meter gone again (a reload without it): the charts go with it
        with server.lock:
            server.health["line"] = None
        browser.wait_for("document.getElementById('line-day').hidden && document.getElementById('line-week').hidden",
                         "the line charts gone")
        assert browser.evaluate("document.querySelectorAll('svg.line-chart').length") == 0


def test_with_a_line_meter_but_nothing_measured_the_page_says_so_instead_of_an_empty_chart(browser):
    with StandIn() as server:
        server.health["line"] = {"meter": "host eth0", "throttling": False, "failure": None}  # idle: no directions
        browser.call("Page.navigate", url=server.url)
        for which in ("day", "week"):
            browser.wait_for("document.querySelector('#line-%s p.line-empty') !== null" % which, "the %s's note" % which)
            assert browser.evaluate(text_of("line-%s" % which)) == (
                "The line (host eth0)Nothing measured in this span: the line meter is read while remote streams play.")
        assert browser.evaluate("document.querySelectorAll('svg.line-chart').length") == 0
