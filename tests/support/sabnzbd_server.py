"""A stand-in SABnzbd 5.0 API (`/api?mode=...`) built from SABnzbd's own source, for tests only.

SABnzbd is not packaged in Debian. This server answers what SabnzbdClient uses the way SABnzbd does;
the shapes were read in SABnzbd 5.0.0RC3's source (commit 5f933dd) and are listed, as checked against
it running, in the project's shared API notes (download-clients.md, "SABnzbd 5.0"); older versions'
answers are in tests/support/usenet_clients.md. It misbehaves on request:

- `mode=version` without a key -> `{"version": "5.0.0"}` (api._api_version).
- `mode=queue` -> `{"queue": {"speedlimit": "<percent>", "speedlimit_abs": "<bytes/s>", ...}}`: the str()
  of Downloader.bandwidth_perc and .bandwidth_limit (api.build_header), so no limit is "0"/"0" on a
  fresh start. `empty_for_none=True` gives 4.x's "" for no limit, `abs_as_float=True` 3.x's "512000.0".
- `mode=get_config&section=misc&keyword=bandwidth_max` -> `{"config": {"misc": {"bandwidth_max":
  "<text>"}}}` (api._api_get_config over config.get_dconfig): the line speed as typed ("" = not set).
- `mode=config&name=speedlimit&value=V` -> `{"status": true}`, with SABnzbd's reading of V
  (`sab_limit_speed`, Downloader.limit_speed): a `%`, or a size above 0 and below 101 bytes/s, is a
  percentage of `bandwidth_max`, applied as int(max * perc / 100) (and doing nothing, with a warning,
  when that is unset); else bytes/s (K = 1024), and the percentage is recomputed as
  int(limit / max * 100), or 100 without a line speed. "0" (or empty) sets 0: no limit.
- a wrong or missing key: `key_style="json200"` (3.x: 200 `{"status": false, "error": "API Key
  Incorrect"}`), `"text403"` (4.x: 403 `API Key Incorrect`) or `"empty403"` (4.x, API warnings off).
- `html=True`: every answer is an HTML page (a proxy's login page, a wrong URL).
- `override(mode, status, body, content_type)`: one mode answers exactly that.

    with SabnzbdStandIn(api_key="k" * 32) as sab:
        sab.url; sab.bandwidth_limit; sab.requests; sab.wrong_key_requests; sab.limit_values
        sab.speed.bandwidth_max = 10 * 1024 * 1024  # or sab.speed.line_speed_text = "10M"
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

API_KEY_INCORRECT = "API Key Incorrect"
API_KEY_REQUIRED = "API Key Required"
VERSION = "5.0.0"

# misc.py: TAB_UNITS and RE_UNITS
_TAB_UNITS = ("", "K", "M", "G", "T", "P")
_RE_UNITS = re.compile(r"(\d+\.*\d*)\s*([KMGTP]{0,1})", re.I)


def sab_from_units(value: str) -> float:
    """SABnzbd's misc.from_units: "500K" -> 512000.0 (powers of 1024); no number -> 0.0."""
    text = str(value).strip().upper()
    if text == "-1":
        return -1.0
    match = _RE_UNITS.search(text)
    if not match:
        return 0.0
    number = float(match.group(1))
    unit = match.group(2)
    if unit:
        number *= 1024.0 ** _TAB_UNITS.index(unit)
    return number


@dataclass
class SabSpeed:
    """The Downloader's two numbers: bandwidth_limit (bytes/s, 0 = none) and bandwidth_perc."""

    bandwidth_max: int = 0  # "Maximum line speed" in bytes/s; 0 = not set
    line_speed_text: str = ""  # bandwidth_max as the user typed it ("10M"); sets bandwidth_max when given
    bandwidth_limit: int = 0
    bandwidth_perc: int = 0
    warnings: int = 0


def sab_limit_speed(speed: SabSpeed, value: str) -> None:
    """api._api_config_speedlimit + Downloader.limit_speed (SABnzbd 4.x and 5.0)."""
    if not value:
        value = "0"
    mx = line_speed_of(speed)
    if "%" in value or 0 < sab_from_units(value) < 101:
        perc = value.strip(" %")
        try:
            speed.bandwidth_perc = int(perc)
        except ValueError:
            speed.bandwidth_perc = 0
        if mx:
            speed.bandwidth_limit = int(mx * speed.bandwidth_perc / 100)
        else:
            speed.warnings += 1  # "You must set a maximum bandwidth before you can set a bandwidth limit"
    else:
        speed.bandwidth_limit = int(sab_from_units(value))
        speed.bandwidth_perc = int(speed.bandwidth_limit / mx * 100) if mx else 100


def line_speed_of(speed: SabSpeed) -> int:
    """cfg.bandwidth_max.get_int(): the typed text through from_units, else the number set directly."""
    return int(sab_from_units(speed.line_speed_text)) if speed.line_speed_text else speed.bandwidth_max


def line_speed_text_of(speed: SabSpeed) -> str:
    if speed.line_speed_text:
        return speed.line_speed_text
    return str(speed.bandwidth_max) if speed.bandwidth_max else ""


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up on an oversized answer is what that test wants


class SabnzbdStandIn:
    def __init__(self, api_key: str = "0123456789abcdef0123456789abcdef", key_style: str = "json200") -> None:
        self.api_key = api_key
        self.key_style = key_style
        self.speed = SabSpeed()
        self.abs_as_float = False
        self.empty_for_none = False
        self.html = False
        self.version = VERSION
        self.requests: List[Dict[str, str]] = []
        self.limit_values: List[str] = []  # every speedlimit value received, as sent
        self._overrides: Dict[str, Tuple[int, bytes, str]] = {}
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sabnzbd-standin", daemon=True)

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    @property
    def bandwidth_limit(self) -> int:
        return self.speed.bandwidth_limit

    @property
    def wrong_key_requests(self) -> int:
        return sum(1 for r in self.requests if r.get("mode") != "version" and r.get("apikey") != self.api_key)

    def override(self, mode: str, status: int, body: bytes, content_type: str = "application/json") -> None:
        self._overrides[mode] = (status, body, content_type)

    def clear_overrides(self) -> None:
        self._overrides.clear()

    def reset(self) -> "SabnzbdStandIn":
        """Back to a freshly started SABnzbd 5.0 (for a stand-in shared by a module's tests)."""
        with self._lock:
            self.clear_overrides()
            self.html = self.abs_as_float = self.empty_for_none = False
            self.key_style = "json200"
            self.speed = SabSpeed()
            self.requests.clear()
            self.limit_values.clear()
        return self

    def __enter__(self) -> "SabnzbdStandIn":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ---------------------------------------------------------------- answers

    def answer(self, path: str, query: Dict[str, str]) -> Tuple[int, bytes, str]:
        with self._lock:
            self.requests.append(dict(query))
            if self.html:
                return 200, b"<!DOCTYPE html><html><body>Please log in</body></html>", "text/html"
            if path.rstrip("/") != "/api":
                return 404, b"<html><body>Not Found</body></html>", "text/html"
            mode = query.get("mode", "")
            if mode in self._overrides:
                return self._overrides[mode]
            if mode not in ("version", "auth"):
                refusal = self._check_key(query.get("apikey"))
                if refusal is not None:
                    return refusal
            if mode == "version":
                return self._json({"version": self.version})
            if mode == "queue":
                return self._json({"queue": self._queue()})
            if mode == "get_config" and query.get("section") == "misc" and query.get("keyword") == "bandwidth_max":
                return self._json({"config": {"misc": {"bandwidth_max": line_speed_text_of(self.speed)}}})
            if mode == "config" and query.get("name") == "speedlimit":
                value = query.get("value", "")
                self.limit_values.append(value)
                sab_limit_speed(self.speed, value)
                return self._json({"status": True})
            return self._json({"status": False, "error": "not implemented"})

    def _check_key(self, key: Optional[str]) -> Optional[Tuple[int, bytes, str]]:
        if key == self.api_key:
            return None
        message = API_KEY_REQUIRED if not key else API_KEY_INCORRECT
        if self.key_style == "json200":
            return self._json({"status": False, "error": message})
        if self.key_style == "text403":
            return 403, message.encode(), "text/html;charset=utf-8"
        return 403, b"", "text/html;charset=utf-8"

    def _queue(self) -> Dict[str, object]:
        return self.queue_of(self.speed, self.version, self.empty_for_none, self.abs_as_float)

    @staticmethod
    def queue_of(speed: SabSpeed, version: str = VERSION, empty_for_none: bool = False,
                        abs_as_float: bool = False) -> Dict[str, object]:
        """The `queue` object SABnzbd answers for these Downloader numbers (api.build_header)."""
        limit = speed.bandwidth_limit
        if limit <= 0 and empty_for_none:
            shown = ""
        else:
            shown = "%s" % (float(limit) if abs_as_float and limit > 0 else limit)
        return {
            "version": version, "paused": False, "noofslots": 0, "noofslots_total": 0, "slots": [],
            "speedlimit": "%d" % speed.bandwidth_perc, "speedlimit_abs": shown, "kbpersec": "0.00", "status": "Idle",
        }

    @staticmethod
    def _json(data: object) -> Tuple[int, bytes, str]:
        return 200, json.dumps(data).encode(), "application/json;charset=UTF-8"

    def _handler_class(self) -> type:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                status, body, content_type = standin.answer(parts.path, query)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:  # quiet: the path holds the key
                pass

        return Handler
