"""Stand-ins for Discord, Slack, Gotify and Pushover on 127.0.0.1 that check each service's documented
request shape and answer as the service does, so a wrong field fails the test the way it would fail
for a user.

- Discord: POST /api/webhooks/{id}/{token}, JSON with `content` (1..2000 characters); 204. A token
  it does not know: 401 {"message": "Invalid Webhook Token", "code": 50027}.
- Slack: POST /services/{a}/{b}/{c}, JSON with a non-empty `text`; 200 `ok`. Unknown: 403
  `invalid_token`; no text: 400 `invalid_payload`.
- Gotify: POST {base}/message with `X-Gotify-Key` (or ?token=), JSON with `message` (string),
  optional `title` (string) and `priority` (integer); 200 with the stored message. A wrong token: 401
  {"error": "Unauthorized", "errorCode": 401, "errorDescription": ...}.
- Pushover: POST /1/messages.json as a form: `token` and `user` (30 letters/digits), `message`
  (1..1024), optional `title` (<= 250), `priority` (-2..2), `device`; 200 {"status": 1, "request"}.
  Anything wrong: 400 {"status": 0, "errors": [...], "request"}.
"""
from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import pytest

DISCORD_ID, DISCORD_TOKEN = "112233445566778899", "DiscordTok-abcdEFGH_ijkl"
SLACK_TOKENS = ("T0SLACKTEAM", "B0SLACKBOT", "SlackSecretXYZ123")
GOTIFY_TOKEN = "AgotifyAppTok.9"
PUSHOVER_USER = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
PUSHOVER_TOKEN = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
_PUSHOVER_KEY = re.compile(r"[A-Za-z0-9]{30}")


@dataclass(frozen=True)
class Delivered:
    service: str
    path: str
    headers: Dict[str, str]
    body: Any  # the JSON value, or the form as {name: value}


@dataclass
class NotificationServices:
    """The running stand-in: `.url`, what each service accepted (`.delivered`) and refused (`.refused`)."""

    port: int = 0
    gotify_base: str = "/gotify"
    delivered: List[Delivered] = field(default_factory=list)
    refused: List[Tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    @property
    def discord_url(self) -> str:
        return "%s/api/webhooks/%s/%s" % (self.url, DISCORD_ID, DISCORD_TOKEN)

    @property
    def slack_url(self) -> str:
        return "%s/services/%s" % (self.url, "/".join(SLACK_TOKENS))

    @property
    def gotify_url(self) -> str:
        return self.url + self.gotify_base

    def of(self, service: str) -> List[Delivered]:
        with self.lock:
            return [d for d in self.delivered if d.service == service]


def _json_object(raw: bytes, content_type: str) -> Optional[Dict[str, Any]]:
    if not content_type.startswith("application/json"):
        return None
    try:
        value = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _handler(services: NotificationServices) -> type:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            content_type = self.headers.get("Content-Type", "")
            if parts.path.startswith("/api/webhooks/"):
                self._discord(parts.path, _json_object(raw, content_type))
            elif parts.path.startswith("/services/"):
                self._slack(parts.path, _json_object(raw, content_type))
            elif parts.path == services.gotify_base + "/message":
                token = self.headers.get("X-Gotify-Key") or (parse_qs(parts.query).get("token") or [""])[0]
                self._gotify(token, _json_object(raw, content_type))
            elif parts.path == "/1/messages.json":
                self._pushover(raw, content_type)
            else:
                self._answer("none", 404, b"not found", "text/plain")

        def _discord(self, path: str, body: Optional[Dict[str, Any]]) -> None:
            if path.split("/")[3:] != [DISCORD_ID, DISCORD_TOKEN]:
                return self._answer("discord", 401, json.dumps({"message": "Invalid Webhook Token", "code": 50027}))
            content = body.get("content") if body else None
            if not isinstance(content, str) or not 1 <= len(content) <= 2000:
                refusal = {"message": "Cannot send an empty message", "code": 50006}
                return self._answer("discord", 400, json.dumps(refusal))
            self._accept("discord", path, body, 204, b"")

        def _slack(self, path: str, body: Optional[Dict[str, Any]]) -> None:
            if tuple(path.split("/")[2:]) != SLACK_TOKENS:
                return self._answer("slack", 403, b"invalid_token", "text/plain")
            if not body or not isinstance(body.get("text"), str) or not body["text"]:
                return self._answer("slack", 400, b"invalid_payload", "text/plain")
            self._accept("slack", path, body, 200, b"ok", "text/plain")

        def _gotify(self, token: str, body: Optional[Dict[str, Any]]) -> None:
            if token != GOTIFY_TOKEN:
                return self._answer("gotify", 401, json.dumps({
                    "error": "Unauthorized", "errorCode": 401,
                    "errorDescription":
                        "you need to provide a valid access token or user credentials to access this api"}))
            ok = (body is not None and isinstance(body.get("message"), str) and body["message"]
                  and isinstance(body.get("title", ""), str)
                  and (isinstance(body.get("priority", 0), int) and not isinstance(body.get("priority"), bool)))
            if not ok:
                return self._answer("gotify", 400, json.dumps({
                    "error": "Bad Request", "errorCode": 400, "errorDescription": "Field 'message' is required"}))
            self._accept("gotify", services.gotify_base + "/message", body, 200,
                         json.dumps(dict(body, id=1, appid=1)).encode())

        def _pushover(self, raw: bytes, content_type: str) -> None:
            errors = []
            form: Dict[str, str] = {}
            if not content_type.startswith("application/x-www-form-urlencoded"):
                errors.append("the request must be a form")
            else:
                pairs = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
                form = {k: v[-1] for k, v in pairs.items()}
            if form.get("token") != PUSHOVER_TOKEN or not _PUSHOVER_KEY.fullmatch(form.get("token", "")):
                errors.append("application token is invalid")
            if form.get("user") != PUSHOVER_USER:
                errors.append("user identifier is not a valid user, group, or subscribed user key")
            if not 1 <= len(form.get("message", "")) <= 1024:
                errors.append("message cannot be blank" if not form.get("message") else "message is too long")
            if len(form.get("title", "")) > 250:
                errors.append("title is too long")
            if "priority" in form and form["priority"] not in ("-2", "-1", "0", "1", "2"):
                errors.append("priority is invalid")
            request = str(uuid.uuid4())
            if errors:
                return self._answer("pushover", 400, json.dumps({"status": 0, "errors": errors, "request": request}))
            answer = json.dumps({"status": 1, "request": request}).encode()
            self._accept("pushover", "/1/messages.json", form, 200, answer)

        def _accept(self, service: str, path: str, body: Any, status: int, answer: bytes,
                    content_type: str = "application/json") -> None:
            with services.lock:
                services.delivered.append(Delivered(service, path, dict(self.headers.items()), body))
            self._send(status, answer, content_type)

        def _answer(self, service: str, status: int, text: Any, content_type: str = "application/json") -> None:
            with services.lock:
                services.refused.append((service, status))
            self._send(status, text if isinstance(text, bytes) else text.encode(), content_type)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 204:
                self.wfile.write(body)

    return Handler


@pytest.fixture
def notification_services() -> Iterator[NotificationServices]:
    services = NotificationServices()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(services))
    httpd.daemon_threads = True
    services.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield services
    finally:
        httpd.shutdown()
        httpd.server_close()
