"""Notification targets and the dispatcher against a local recording HTTP server (127.0.0.1 only)."""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List

import pytest

from adapters.transport.http import make_pool
from adapters.notify.senders import (
    Notification,
    NotificationDispatcher,
    NotificationError,
    NtfyTarget,
    TelegramTarget,
    WebhookTarget,
    build_target,
    target_name,
    validate_target_spec,
)
from tests.support.ports import free_port
from tests.support.waiting import wait_until

LOGGER = "plex_helper.notifiers"
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
NTFY_TOKEN = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"
HOOK_SECRET = "hook-secret-7f3a9c"
MESSAGE = "Throttled qBittorrent to 500 KiB/s: 2 remote streams (alice, bob)"



# ------------------------------------------------------------------------------------------ server


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"{}"
    delay: float = 0.0


@dataclass
class RecordingServer:
    """A threaded HTTP server that records every request and answers per path (default 200)."""

    httpd: ThreadingHTTPServer
    requests: List[Recorded] = field(default_factory=list)
    answers: Dict[str, Answer] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def answer(self, path: str, status: int = 200, body: bytes = b"{}", delay: float = 0.0) -> None:
        self.answers[path] = Answer(status, body, delay)

    def recorded(self) -> List[Recorded]:
        with self.lock:
            return list(self.requests)

    def wait_for(self, count: int, timeout: float = 5.0) -> List[Recorded]:
        assert wait_until(lambda: len(self.recorded()) >= count, timeout), self.recorded()
        return self.recorded()


def _handler(server: RecordingServer) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            path = self.path
            with server.lock:
                server.requests.append(Recorded("POST", path, dict(self.headers.items()), body))
            answer = server.answers.get(path.split("?")[0], Answer())
            if answer.delay:
                server.release.wait(answer.delay)
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    httpd.daemon_threads = True
    rec = RecordingServer(httpd)
    httpd.RequestHandlerClass = _handler(rec)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield rec
    rec.release.set()  # end any delayed answer
    httpd.shutdown()
    httpd.server_close()
    thread.join(2)


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (connection refused)."""
    return free_port()


@pytest.fixture
def pool() -> Iterator[Any]:
    p = make_pool(2.0)
    yield p
    p.clear()


@pytest.fixture
def dispatchers() -> Iterator[List[NotificationDispatcher]]:
    made: List[NotificationDispatcher] = []
    yield made
    for d in made:
        d.stop(0.5)


def make_dispatcher(made: List[NotificationDispatcher], targets: List[Any], **kw: Any) -> NotificationDispatcher:
    kw.setdefault("timeout_sec", 2.0)
    dispatcher = NotificationDispatcher(targets, **kw)
    made.append(dispatcher)
    return dispatcher


def note(event: str = "state_change", message: str = MESSAGE, **details: Any) -> Notification:
    return Notification(event, message, details)


def short_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:6]


def assert_no_secrets(text: str) -> None:
    for secret in (BOT_TOKEN, BOT_TOKEN.split(":")[1], NTFY_TOKEN, HOOK_SECRET, "s3cret-pw"):
        assert secret not in text


def all_logs(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------------------ the value


def test_notification_is_frozen_and_keeps_a_copy_of_details() -> None:
    details = {"streams": 2}
    n = Notification("state_change", MESSAGE, details)
    details["streams"] = 3
    assert n.details["streams"] == 2
    with pytest.raises(Exception):
        n.message = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        n.details["x"] = 1  # type: ignore[index]
    assert n == Notification("state_change", MESSAGE, {"streams": 2})
    assert hash(n) == hash(Notification("state_change", MESSAGE, {"streams": 9}))
    assert Notification("override", "x").details == {}


# ------------------------------------------------------------------------------------------ each target's request


def test_ntfy_request(server: RecordingServer, pool: Any) -> None:
    target = NtfyTarget(server.url + "/my-topic", token=NTFY_TOKEN, priority="high")
    target.send(note("side_failing", "Plex not reachable: connection refused ✗"), pool, 2.0)
    (req,) = server.wait_for(1)
    assert (req.method, req.path) == ("POST", "/my-topic")
    assert req.body == "Plex not reachable: connection refused ✗".encode("utf-8")
    assert req.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert req.headers["Title"] == "plex-helper"
    assert req.headers["Tags"] == "warning,side_failing"
    assert req.headers["Priority"] == "high"
    assert req.headers["Authorization"] == "Bearer " + NTFY_TOKEN
    assert target.describe() == "ntfy %s [%s]" % (server.url, short_hash(server.url + "/my-topic"))


def test_ntfy_without_token_or_priority_sends_no_such_headers(server: RecordingServer, pool: Any) -> None:
    NtfyTarget(server.url + "/t").send(note("custom event!"), pool, 2.0)
    (req,) = server.wait_for(1)
    assert "Authorization" not in req.headers and "Priority" not in req.headers
    assert req.headers["Tags"] == "customevent"


def test_ntfy_user_password_in_url_becomes_basic_auth_and_is_not_described(server: RecordingServer, pool: Any) -> None:
    url = server.url.replace("http://", "http://phil:s3cret-pw@") + "/alerts?x=1"
    target = NtfyTarget(url)
    target.send(note(), pool, 2.0)
    (req,) = server.wait_for(1)
    assert req.path == "/alerts?x=1"
    assert req.headers["Authorization"] == "Basic cGhpbDpzM2NyZXQtcHc="  # phil:s3cret-pw
    assert target.describe() == "ntfy %s [%s]" % (server.url, short_hash(url))


def test_telegram_request(server: RecordingServer, pool: Any) -> None:
    target = TelegramTarget(BOT_TOKEN, 12345, api_url=server.url + "/")
    target.send(note(), pool, 2.0)
    (req,) = server.wait_for(1)
    assert (req.method, req.path) == ("POST", "/bot%s/sendMessage" % BOT_TOKEN)
    assert req.headers["Content-Type"] == "application/json; charset=utf-8"
    assert req.json() == {"chat_id": 12345, "text": MESSAGE, "disable_web_page_preview": True}
    assert target.describe() == "telegram chat 12345"


def test_telegram_string_chat_id_is_sent_as_given(server: RecordingServer, pool: Any) -> None:
    TelegramTarget(BOT_TOKEN, "@my_channel", api_url=server.url).send(note(), pool, 2.0)
    assert server.wait_for(1)[0].json()["chat_id"] == "@my_channel"


def test_webhook_request(server: RecordingServer, pool: Any) -> None:
    target = WebhookTarget(server.url + "/hooks/plex?key=abc", headers={"X-Token": HOOK_SECRET})
    details = {"limit_kib": 500, "users": ["alice", "bob"], "event": "not this", "source": "nor this"}
    target.send(Notification("state_change", MESSAGE, details), pool, 2.0)
    (req,) = server.wait_for(1)
    assert (req.method, req.path) == ("POST", "/hooks/plex?key=abc")
    assert req.headers["Content-Type"] == "application/json; charset=utf-8"
    assert req.headers["X-Token"] == HOOK_SECRET
    assert list(req.json().items()) == [
        ("event", "state_change"),
        ("message", MESSAGE),
        ("limit_kib", 500),
        ("users", ["alice", "bob"]),
        ("source", "plex-helper"),
    ]
    assert target.describe() == "webhook %s [%s]" % (server.url, short_hash(server.url + "/hooks/plex?key=abc"))


def test_webhook_configured_headers_replace_the_defaults_whatever_their_case(server: RecordingServer, pool: Any) -> None:
    WebhookTarget(server.url + "/h", headers={"content-type": "application/vnd.x+json"}).send(note(), pool, 2.0)
    (req,) = server.wait_for(1)
    assert [v for k, v in req.headers.items() if k.lower() == "content-type"] == ["application/vnd.x+json"]


def test_webhook_details_that_are_not_json_become_text(server: RecordingServer, pool: Any) -> None:
    WebhookTarget(server.url + "/h").send(note(at={1}), pool, 2.0)
    assert server.wait_for(1)[0].json()["at"] == "{1}"


# ------------------------------------------------------------------------------------------ errors without secrets


@pytest.mark.parametrize("status", [400, 401, 404, 500, 502])
def test_telegram_failure_status_error_has_no_token(server: RecordingServer, pool: Any, status: int) -> None:
    server.answer("/bot%s/sendMessage" % BOT_TOKEN, status=status, body=b"nope")
    with pytest.raises(NotificationError) as info:
        TelegramTarget(BOT_TOKEN, 12345, api_url=server.url).send(note(), pool, 2.0)
    assert str(info.value) == "telegram chat 12345: answered %d" % status
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_telegram_error_quotes_telegrams_reason_with_the_token_redacted(server: RecordingServer, pool: Any) -> None:
    body = json.dumps({"ok": False, "error_code": 400, "description": "Bad Request: chat not found " + BOT_TOKEN})
    server.answer("/bot%s/sendMessage" % BOT_TOKEN, status=400, body=body.encode())
    with pytest.raises(NotificationError) as info:
        TelegramTarget(BOT_TOKEN, 12345, api_url=server.url).send(note(), pool, 2.0)
    assert str(info.value) == "telegram chat 12345: answered 400 (Bad Request: chat not found ***)"


def test_connection_refused(closed_port: int, pool: Any) -> None:
    url = "http://127.0.0.1:%d" % closed_port
    with pytest.raises(NotificationError) as info:
        TelegramTarget(BOT_TOKEN, 12345, api_url=url).send(note(), pool, 2.0)
    assert str(info.value) == "telegram chat 12345: connection refused"
    with pytest.raises(NotificationError) as info:
        NtfyTarget(url + "/topic?auth=" + NTFY_TOKEN, token=NTFY_TOKEN).send(note(), pool, 2.0)
    assert str(info.value) == "ntfy %s [%s]: connection refused" % (url, short_hash(url + "/topic?auth=" + NTFY_TOKEN))


def test_read_timeout(server: RecordingServer, pool: Any) -> None:
    server.answer("/slow", delay=3.0)
    started = time.monotonic()
    with pytest.raises(NotificationError) as info:
        WebhookTarget(server.url + "/slow", headers={"Authorization": HOOK_SECRET}).send(note(), pool, 0.3)
    assert time.monotonic() - started < 2.5
    assert str(info.value) == "webhook %s [%s]: no answer in time (read timed out)" % (server.url, short_hash(server.url + "/slow"))


# ------------------------------------------------------------------------------------------ dispatcher


def test_dispatcher_sends_to_every_target(server: RecordingServer, dispatchers: list) -> None:
    targets = [
        NtfyTarget(server.url + "/topic"),
        TelegramTarget(BOT_TOKEN, 12345, api_url=server.url),
        WebhookTarget(server.url + "/hook"),
    ]
    d = make_dispatcher(dispatchers, targets)
    d.start()
    d.notify(note())
    reqs = server.wait_for(3)
    assert sorted(r.path for r in reqs) == sorted(["/topic", "/bot%s/sendMessage" % BOT_TOKEN, "/hook"])
    assert wait_until(lambda: d.sent == 3)
    assert d.failed == 0


def test_failures_are_warnings_without_secrets_and_the_dispatcher_keeps_going(
    server: RecordingServer, closed_port: int, dispatchers: list, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3's own DEBUG lines too
    server.answer("/bot%s/sendMessage" % BOT_TOKEN, status=401, body=b'{"ok":false,"description":"Unauthorized"}')
    server.answer("/hook", status=500)
    refused = "http://phil:s3cret-pw@127.0.0.1:%d/topic?auth=%s" % (closed_port, NTFY_TOKEN)
    targets = [
        TelegramTarget(BOT_TOKEN, 12345, api_url=server.url),
        NtfyTarget(refused, token=NTFY_TOKEN),
        WebhookTarget(server.url + "/hook", headers={"X-Secret": HOOK_SECRET}),
        NtfyTarget(server.url + "/ok"),
    ]
    d = make_dispatcher(dispatchers, targets)
    d.start()
    d.notify(note("side_failing"))
    d.notify(note("side_recovered"))
    assert wait_until(lambda: d.sent + d.failed == 8)
    assert (d.sent, d.failed) == (2, 6)
    assert [r.path for r in server.recorded() if r.path == "/ok"] == ["/ok", "/ok"]

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == LOGGER]
    assert warnings[:3] == [
        "notification to telegram chat 12345 failed: answered 401 (Unauthorized)",
        "notification to ntfy http://127.0.0.1:%d [%s] failed: connection refused" % (closed_port, short_hash(refused)),
        "notification to webhook %s [%s] failed: answered 500" % (server.url, short_hash(server.url + "/hook")),
    ]
    assert len(warnings) == 6
    assert not [r for r in caplog.records if r.levelno > logging.WARNING]
    assert_no_secrets(all_logs(caplog))
    assert not any(r.exc_info for r in caplog.records)


def test_a_target_that_raises_something_unexpected_is_a_warning(
    server: RecordingServer, dispatchers: list, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def describe(self) -> str:
            return "broken target"

        def send(self, notification: Notification, pool: Any, timeout_sec: float) -> None:
            raise RuntimeError("http://x/bot%s/ went wrong" % BOT_TOKEN)

    caplog.set_level(logging.DEBUG, logger=LOGGER)
    d = make_dispatcher(dispatchers, [Broken(), WebhookTarget(server.url + "/hook")])
    d.start()
    d.notify(note())
    assert wait_until(lambda: d.sent == 1 and d.failed == 1)
    assert "notification to broken target failed: unexpected error (RuntimeError)" in all_logs(caplog)
    assert_no_secrets(all_logs(caplog))


def test_a_slow_target_never_delays_notify(server: RecordingServer, dispatchers: list) -> None:
    server.answer("/slow", delay=2.0)
    d = make_dispatcher(dispatchers, [NtfyTarget(server.url + "/slow")], timeout_sec=5.0)
    d.start()
    d.notify(note())
    server.wait_for(1)  # the worker is now stuck waiting for the answer
    for i in range(20):
        started = time.monotonic()
        d.notify(note(message="n%d" % i))
        assert time.monotonic() - started < 0.1
    assert d.pending() == 20
    server.release.set()
    assert wait_until(lambda: d.sent == 21, 5.0)


def test_queue_overflow_drops_the_oldest_and_warns_once(
    server: RecordingServer, dispatchers: list, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    d = make_dispatcher(dispatchers, [WebhookTarget(server.url + "/hook")], queue_size=3)
    for i in range(6):
        d.notify(note(message="n%d" % i))
    assert d.dropped == 3 and d.pending() == 3
    overflow = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert len(overflow) == 1 and overflow[0].levelno == logging.WARNING
    d.start()
    reqs = server.wait_for(3)
    assert wait_until(lambda: d.sent == 3)
    assert [r.json()["message"] for r in reqs] == ["n3", "n4", "n5"]


def test_overflow_warns_again_after_the_queue_drained(
    server: RecordingServer, dispatchers: list, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    d = make_dispatcher(dispatchers, [WebhookTarget(server.url + "/hook")], queue_size=1)
    d.notify(note())
    d.notify(note())
    d.start()
    assert wait_until(lambda: d.sent == 1 and d.pending() == 0)
    server.answer("/hook", delay=2.0)
    d.notify(note())
    server.wait_for(2)  # worker busy
    d.notify(note())
    d.notify(note())
    assert len([r for r in caplog.records if "queue full" in r.getMessage()]) == 2


def test_stop_flushes_what_is_queued(server: RecordingServer, dispatchers: list) -> None:
    d = make_dispatcher(dispatchers, [WebhookTarget(server.url + "/hook"), NtfyTarget(server.url + "/t")])
    d.start()
    for i in range(5):
        d.notify(note(message="n%d" % i))
    d.stop(timeout_sec=2.0)
    assert d.sent == 10 and d.dropped == 0
    assert [r.json()["message"] for r in server.recorded() if r.path == "/hook"] == ["n0", "n1", "n2", "n3", "n4"]


def test_stop_before_start_flushes_too(server: RecordingServer, dispatchers: list) -> None:
    d = make_dispatcher(dispatchers, [WebhookTarget(server.url + "/hook")])
    d.notify(note())
    d.start()
    d.stop(2.0)
    assert d.sent == 1


def test_stop_gives_up_on_a_slow_target_within_its_timeout(
    server: RecordingServer, dispatchers: list, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    server.answer("/slow", delay=3.0)
    d = make_dispatcher(dispatchers, [NtfyTarget(server.url + "/slow")], timeout_sec=10.0)
    d.start()
    d.notify(note())
    server.wait_for(1)
    d.notify(note())
    d.notify(note())
    started = time.monotonic()
    d.stop(timeout_sec=0.5)
    assert time.monotonic() - started < 1.5
    assert d.pending() == 0 and d.dropped >= 2
    assert "notification(s) not sent before stopping" in all_logs(caplog)


def test_after_stop_notify_is_a_quiet_no_op(server: RecordingServer, dispatchers: list) -> None:
    d = make_dispatcher(dispatchers, [WebhookTarget(server.url + "/hook")])
    d.start()
    d.stop(1.0)
    started = time.monotonic()
    d.notify(note())
    assert time.monotonic() - started < 0.1
    assert d.dropped == 1 and d.pending() == 0
    d.start()  # no restart after stop
    time.sleep(0.1)
    assert server.recorded() == []


def test_stop_without_start_and_twice_is_fine() -> None:
    d = NotificationDispatcher([])
    d.stop(0.1)
    d.stop(0.1)


def test_the_telegram_token_reaches_the_server_but_no_log_line(
    server: RecordingServer, dispatchers: list, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    d = make_dispatcher(dispatchers, [TelegramTarget(BOT_TOKEN, 12345, api_url=server.url)])
    d.start()
    d.notify(note())
    d.stop(2.0)
    assert BOT_TOKEN in server.recorded()[0].path
    assert d.sent == 1
    assert "notification state_change sent to telegram chat 12345" in all_logs(caplog)
    assert_no_secrets(all_logs(caplog))


# ------------------------------------------------------------------------------------------ config


def test_build_target() -> None:
    ntfy = build_target({"type": "ntfy", "url": "https://ntfy.sh/my-topic", "token": NTFY_TOKEN, "priority": 4})
    assert isinstance(ntfy, NtfyTarget) and ntfy.describe() == "ntfy https://ntfy.sh [%s]" % short_hash("https://ntfy.sh/my-topic")
    tg = build_target({"type": "telegram", "bot_token": BOT_TOKEN, "chat_id": "12345"})
    assert isinstance(tg, TelegramTarget) and tg.describe() == "telegram chat 12345"
    hook = build_target({"type": "webhook", "url": "https://u:p@host.example/path?token=x", "headers": None})
    url = "https://u:p@host.example/path?token=x"
    assert isinstance(hook, WebhookTarget) and hook.describe() == "webhook https://host.example [%s]" % short_hash(url)


def test_build_target_refuses_bad_specs_without_quoting_secrets() -> None:
    with pytest.raises(ValueError) as info:
        build_target({"type": "telegram", "bot_token": BOT_TOKEN + " x", "chat_id": 1})
    assert str(info.value) == "bot_token: must look like 123456789:AAE... (the token BotFather gave you)"
    assert_no_secrets(str(info.value))


@pytest.mark.parametrize(
    "spec, problems",
    [
        ({"type": "ntfy", "url": "https://ntfy.sh/my-topic"}, []),
        ({"type": "ntfy", "url": "https://ntfy.sh/t", "token": "tk_x", "priority": "urgent"}, []),
        ({"type": "ntfy", "url": "https://ntfy.sh/t", "token": None, "priority": None}, []),
        ({"type": "ntfy", "url": "http://10.0.0.2:8080/t", "priority": 3}, []),
        ({"type": "ntfy", "url": "https://ntfy.sh/t", "priority": "5"}, []),
        ({"type": "telegram", "bot_token": BOT_TOKEN, "chat_id": -1001234567890}, []),
        ({"type": "telegram", "bot_token": BOT_TOKEN, "chat_id": "@chan", "api_url": "http://127.0.0.1:1"}, []),
        ({"type": "webhook", "url": "https://h.example/x", "headers": {"X-Key": "v"}}, []),
        ({"type": "webhook", "url": "https://h.example/x"}, []),
        ("ntfy", ['type: is required (each notify entry is an object such as {"type": "ntfy", "url": ...})']),
        ({}, ["type: is required (one of ntfy, telegram, webhook, discord, slack, gotify, pushover, apprise)"]),
        ({"type": "teams", "url": "https://x"}, ["type: must be one of ntfy, telegram, webhook, discord, slack, gotify, pushover, apprise"]),
        ({"type": ["ntfy"]}, ["type: must be one of ntfy, telegram, webhook, discord, slack, gotify, pushover, apprise"]),
        ({"type": "ntfy"}, ["url: is required"]),
        ({"type": "ntfy", "url": "  "}, ["url: is required"]),
        ({"type": "ntfy", "url": "ftp://ntfy.sh/t"}, ["url: must be an http(s) URL"]),
        ({"type": "ntfy", "url": "ntfy.sh/t"}, ["url: must be an http(s) URL"]),
        ({"type": "ntfy", "url": 5}, ["url: must be an http(s) URL"]),
        ({"type": "ntfy", "url": "https://ntfy.sh:99999/t"}, ["url: must be an http(s) URL (invalid port or host)"]),
        ({"type": "ntfy", "url": "https://ntfy.sh/"}, ["url: must include the topic, for example https://ntfy.sh/my-topic"]),
        ({"type": "ntfy", "url": "https://ntfy.sh/t", "priority": 6}, ["priority: must be 1 to 5 or one of min, low, default, high, max, urgent"]),
        ({"type": "ntfy", "url": "https://ntfy.sh/t", "priority": True}, ["priority: must be 1 to 5 or one of min, low, default, high, max, urgent"]),
        ({"type": "ntfy", "url": "https://ntfy.sh/t", "token": 12}, ["token: must be a string"]),
        ({"type": "ntfy", "url": "https://ntfy.sh/t", "token": "a\nb"}, ["token: must be one line"]),
        (
            {"type": "ntfy", "url": "https://ntfy.sh/t", "topic": "x", "chat_id": 1},
            [
                "chat_id: unknown key for a ntfy target (known: events, priority, token, type, url)",
                "topic: unknown key for a ntfy target (known: events, priority, token, type, url)",
            ],
        ),
        ({"type": "telegram"}, ["bot_token: is required", "chat_id: is required"]),
        ({"type": "telegram", "bot_token": "", "chat_id": 1}, ["bot_token: is required"]),
        (
            {"type": "telegram", "bot_token": "abc/def", "chat_id": 1},
            ["bot_token: must look like 123456789:AAE... (the token BotFather gave you)"],
        ),
        ({"type": "telegram", "bot_token": BOT_TOKEN, "chat_id": True}, ["chat_id: must be a number or a string such as @channelname"]),
        ({"type": "telegram", "bot_token": BOT_TOKEN, "chat_id": 1.5}, ["chat_id: must be a number or a string such as @channelname"]),
        ({"type": "telegram", "bot_token": BOT_TOKEN, "chat_id": "my chat"}, ["chat_id: must not contain spaces"]),
        ({"type": "telegram", "bot_token": BOT_TOKEN, "chat_id": 1, "api_url": "api.telegram.org"}, ["api_url: must be an http(s) URL"]),
        (
            {"type": "telegram", "bot_token": BOT_TOKEN, "chat_id": 1, "url": "https://x"},
            ["url: unknown key for a telegram target (known: api_url, bot_token, chat_id, events, type)"],
        ),
        ({"type": "webhook"}, ["url: is required"]),
        ({"type": "webhook", "url": "https://h/x", "headers": ["X-Key: v"]}, ["headers: must be an object of header name to value"]),
        ({"type": "webhook", "url": "https://h/x", "headers": {"Bad Name": "v"}}, ["headers: 'Bad Name' is not a valid header name"]),
        ({"type": "webhook", "url": "https://h/x", "headers": {"X-Key": 5}}, ["headers.X-Key: must be a string"]),
        ({"type": "webhook", "url": "https://h/x", "headers": {"X-Key": "a\r\nb"}}, ["headers.X-Key: must be one line"]),
        (
            {"type": "webhook", "url": "https://h/x", "headers": {"X-Key": "clé ✓"}},
            ["headers.X-Key: must use only Latin-1 characters (HTTP header)"],
        ),
    ],
)
def test_validate_target_spec(spec: Any, problems: List[str]) -> None:
    assert validate_target_spec(spec) == problems


def test_validation_never_quotes_a_secret() -> None:
    specs = [
        {"type": "telegram", "bot_token": BOT_TOKEN + "/", "chat_id": 1, "api_url": "x" + BOT_TOKEN},
        {"type": "ntfy", "url": "ftp://ntfy.sh/" + NTFY_TOKEN, "token": NTFY_TOKEN + "\n"},
        {"type": "webhook", "url": HOOK_SECRET, "headers": {"X-A": HOOK_SECRET + "\n", "X-B": 1}},
    ]
    for spec in specs:
        problems = validate_target_spec(spec)
        assert problems
        assert_no_secrets("\n".join(problems))


@pytest.mark.parametrize(
    "url, name",
    [
        ("https://ntfy.sh/my-topic", "ntfy https://ntfy.sh"),
        ("https://user:pw@ntfy.sh/t?auth=tok#frag", "ntfy https://ntfy.sh"),
        ("http://[::1]:8080/hook?x=1", "ntfy http://[::1]:8080"),
        ("https://host:99999/x", "ntfy <invalid URL>"),
        ("ftp://host/x", "ntfy <invalid URL>"),
        ("http://a%2Fb@ho\\st/x", "ntfy http://<unusual host>"),
    ],
)
def test_target_name(url: str, name: str) -> None:
    assert target_name("ntfy", url) == "%s [%s]" % (name, short_hash(url))


def test_a_token_in_the_query_string_stays_out_of_urllib3s_debug_lines(
    server: RecordingServer, pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    NtfyTarget(server.url + "/topic?auth=" + NTFY_TOKEN).send(note(), pool, 2.0)
    assert server.wait_for(1)[0].path == "/topic?auth=" + NTFY_TOKEN
    assert any(r.name.startswith("urllib3") and "***" in r.getMessage() for r in caplog.records)
    assert "/topic" not in all_logs(caplog)  # the topic is a secret too
    assert_no_secrets(all_logs(caplog))
