"""Notifications to ntfy, Telegram and generic webhooks, sent off the polling loop by one worker thread.

Targets are built from the `notify` config list (`build_target`, `validate_target_spec`); the
`NotificationDispatcher` queues notifications without blocking and delivers them in the background.
A failed delivery is a WARNING, never an error for the daemon.

Secrets (the Telegram bot token, which lives in the request URL; the ntfy token and topic; webhook
header values; a URL's path, query and user:password, since for Discord, Slack and Home Assistant
webhooks the path is the credential) never appear in a log line, an error message or a repr():
a target is named by scheme and host only (`target_name`), and every message is built from that
name, a status code or `describe_transport_error`, never from exception texts.
"""
from __future__ import annotations

import base64
import collections
import hashlib
import ipaddress
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple, Union
from urllib.parse import unquote, urlsplit, urlunsplit

import urllib3
from urllib3 import exceptions as u3

from adapters.http import describe_transport_error, make_pool

log = logging.getLogger("plex_helper.notifiers")

SOURCE = "plex-helper"
DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
TARGET_TYPES = ("ntfy", "telegram", "webhook")

# ntfy priorities: 1..5 or their names (https://docs.ntfy.sh/publish/#message-priority)
NTFY_PRIORITY_NAMES = ("min", "low", "default", "high", "max", "urgent")
# ntfy turns tags that are emoji short codes into emoji in front of the title
_NTFY_EVENT_EMOJI = {
    "state_change": "arrows_counterclockwise",
    "override": "raised_hand",
    "side_failing": "warning",
    "side_recovered": "white_check_mark",
}
_TELEGRAM_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
_NOT_TAG_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_TEXT = 4000  # Telegram refuses messages over 4096 characters


class _RedactSecrets(logging.Filter):
    """Blanks registered secrets in urllib3's own DEBUG lines.

    urllib3 logs every request line ("POST /bot<token>/sendMessage HTTP/1.1" 200) at DEBUG, and
    Telegram's URL holds the bot token. The daemon keeps urllib3 at WARNING, but anyone who turns
    DEBUG on for everything must still not see the token.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: frozenset = frozenset()  # replaced, never changed in place: no lock to read it

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = tuple(self.secrets)
        if secrets:
            try:
                text = record.getMessage()
            except Exception:  # noqa: BLE001 - a broken record is logging's business, not ours
                return True
            redacted = _redact(text, secrets)
            if redacted != text:
                record.msg, record.args = redacted, None
        return True


_URLLIB3_FILTER = _RedactSecrets()
for _name in ("urllib3.connectionpool", "urllib3.poolmanager", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_URLLIB3_FILTER)


_FILTER_LOCK = threading.Lock()


def _hide_from_urllib3_logs(secret: str) -> None:
    if secret:
        with _FILTER_LOCK:
            _URLLIB3_FILTER.secrets = _URLLIB3_FILTER.secrets | {secret}


class NotificationError(Exception):
    """A delivery failed; the text names the target (secret-free) and the reason in plain words."""


@dataclass(frozen=True)
class Notification:
    """Something worth telling the user: an event name, a short message, JSON-able extra fields."""

    event: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # a read-only copy: the caller's dict may change after notify() while the worker reads it
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))


class Target(Protocol):
    """One notification destination."""

    def send(self, notification: Notification, pool: urllib3.PoolManager, timeout_sec: float) -> None:
        """Deliver, or raise NotificationError."""

    def describe(self) -> str:
        """A secret-free name for logs, such as 'telegram chat 12345'."""

    # Optional: `secrets() -> Tuple[str, ...]`, strings the dispatcher blanks from its log lines
    # (belt and braces: messages are built without them anyway). The three targets here have it.


# ------------------------------------------------------------------------------------------ URLs


_HOST_NAME = re.compile(r"[\w.-]+")  # letters (IDN too), digits, dots, hyphens: nothing a path could hide in


def target_name(kind: str, url: str) -> str:
    """'webhook https://home.example [a1b2c3]': the kind, scheme, host and port, and 6 hex digits of
    the whole URL's sha256 to tell two targets on one host apart.

    Never the path, query, fragment or user:password: for Discord (/api/webhooks/<id>/<token>),
    Slack and Home Assistant webhooks the path is the credential, and for ntfy the topic is.
    """
    url = url.strip()
    digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:6]
    return "%s %s [%s]" % (kind, _scheme_and_host(url), digest)


def _scheme_and_host(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if parts.scheme not in ("http", "https") or not host:
        return "<invalid URL>"
    if ":" in host:  # an IPv6 literal
        try:
            host = "[%s]" % ipaddress.IPv6Address(host)
        except ValueError:
            return "%s://<unusual host>" % parts.scheme
    elif not _HOST_NAME.fullmatch(host):
        return "%s://<unusual host>" % parts.scheme
    return "%s://%s" % (parts.scheme, host if port is None else "%s:%d" % (host, port))


def _split_userinfo(url: str) -> Tuple[str, Optional[str]]:
    """(URL without user:password, Basic Authorization header value or None).

    urllib3 does not send a URL's user:password by itself, so it becomes a header here.
    """
    parts = urlsplit(url.strip())
    if parts.username is None and parts.password is None:
        return url.strip(), None
    netloc = parts.netloc.rpartition("@")[2]
    credentials = "%s:%s" % (unquote(parts.username or ""), unquote(parts.password or ""))
    basic = "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), basic


def _url_secrets(url: str) -> Tuple[str, ...]:
    """The parts of a URL that can be credentials: user, password, path (a webhook's token, an ntfy
    topic) and query."""
    try:
        parts = urlsplit(url.strip())
        found = (parts.username, parts.password, parts.path, parts.query)
    except ValueError:
        return ()
    return tuple(s for s in found if s and s != "/")


def _post(
    name: str,
    pool: urllib3.PoolManager,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout_sec: float,
    explain: Optional[Callable[[urllib3.BaseHTTPResponse], str]] = None,
) -> urllib3.BaseHTTPResponse:
    """POST, and raise NotificationError (starting with `name`) on a transport error or non-2xx.

    The error is raised outside the `except`, so it chains nothing: urllib3's exceptions hold the
    URL (with a webhook's token in its path, or Telegram's bot token) in their text.
    """
    failure = None
    try:
        response = pool.request(
            "POST",
            url,
            body=body,
            headers=dict(headers),
            timeout=urllib3.Timeout(connect=timeout_sec, read=timeout_sec),
            retries=False,
            redirect=False,
        )
    except u3.LocationValueError:
        failure = "not a valid http(s) URL"
    except (u3.HTTPError, OSError) as exc:
        failure = describe_transport_error(exc)
    if failure is not None:
        raise NotificationError("%s: %s" % (name, failure))
    if not 200 <= response.status < 300:
        reason = explain(response) if explain else ""
        raise NotificationError("%s: answered %d%s" % (name, response.status, " (%s)" % reason if reason else ""))
    return response


def _json_body(data: Mapping[str, Any]) -> bytes:
    # default=str: a detail that is not JSON-able (a datetime, a set) must not lose the notification
    return json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")


# ------------------------------------------------------------------------------------------ targets


class NtfyTarget:
    """POSTs the message as text to an ntfy topic URL (https://ntfy.sh/<topic> or a self-hosted one)."""

    def __init__(self, url: str, token: str = "", priority: Union[int, str, None] = None) -> None:
        self._url, self._basic = _split_userinfo(url)
        self._name = target_name("ntfy", url)
        self._token = (token or "").strip()
        self._priority = None if priority is None else str(priority).strip().lower()
        self._secrets = tuple(s for s in (self._token, self._basic) if s) + _url_secrets(url)
        for secret in _url_secrets(url):
            _hide_from_urllib3_logs(secret)  # the topic and a query (?auth=...) are in urllib3's request line

    def describe(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return "<NtfyTarget %s>" % self._name

    def secrets(self) -> Tuple[str, ...]:
        return self._secrets

    def headers(self, notification: Notification) -> Dict[str, str]:
        headers = {"Content-Type": "text/plain; charset=utf-8", "Title": SOURCE}
        tags = [t for t in (_NTFY_EVENT_EMOJI.get(notification.event), _NOT_TAG_CHARS.sub("", notification.event)) if t]
        if tags:
            headers["Tags"] = ",".join(tags)
        if self._priority:
            headers["Priority"] = self._priority
        if self._token:
            headers["Authorization"] = "Bearer " + self._token
        elif self._basic:
            headers["Authorization"] = self._basic
        return headers

    def send(self, notification: Notification, pool: urllib3.PoolManager, timeout_sec: float) -> None:
        body = notification.message[:_MAX_TEXT].encode("utf-8")
        _post(self._name, pool, self._url, body, self.headers(notification), timeout_sec)


class TelegramTarget:
    """Sends the message to a chat through a Telegram bot (sendMessage)."""

    def __init__(self, bot_token: str, chat_id: Union[int, str], api_url: str = DEFAULT_TELEGRAM_API_URL) -> None:
        self._token = bot_token.strip()
        self._chat_id = chat_id
        self._api_url = (api_url or DEFAULT_TELEGRAM_API_URL).strip().rstrip("/")
        self._name = "telegram chat %s" % (chat_id,)
        for secret in (self._token,) + _url_secrets(self._api_url):  # the token sits in the request line
            _hide_from_urllib3_logs(secret)

    def describe(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return "<TelegramTarget %s>" % self._name

    def secrets(self) -> Tuple[str, ...]:
        return (self._token,) if self._token else ()

    def send(self, notification: Notification, pool: urllib3.PoolManager, timeout_sec: float) -> None:
        url = "%s/bot%s/sendMessage" % (self._api_url, self._token)  # never logged: it holds the token
        payload = {
            "chat_id": self._chat_id,
            "text": notification.message[:_MAX_TEXT],
            "disable_web_page_preview": True,
        }
        headers = {"Content-Type": "application/json; charset=utf-8"}
        _post(self._name, pool, url, _json_body(payload), headers, timeout_sec, self._explain)

    def _explain(self, response: urllib3.BaseHTTPResponse) -> str:
        """Telegram's own short reason ("Bad Request: chat not found"), printable, without the token."""
        try:
            description = json.loads(response.data.decode("utf-8"))["description"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return ""
        if not isinstance(description, str):
            return ""
        description = "".join(c for c in description if c.isprintable())[:120]
        return _redact(description, self.secrets())


class WebhookTarget:
    """POSTs the notification as JSON: {"event", "message", <details>..., "source": "plex-helper"}."""

    def __init__(self, url: str, headers: Optional[Mapping[str, str]] = None) -> None:
        self._url, basic = _split_userinfo(url)
        self._name = target_name("webhook", url)
        self._headers = {"Content-Type": "application/json; charset=utf-8"}
        if basic:
            self._headers["Authorization"] = basic
        for key, value in (headers or {}).items():
            # the configured headers win, whatever their case (no duplicate Content-Type)
            for same in [k for k in self._headers if k.lower() == str(key).lower()]:
                del self._headers[same]
            self._headers[str(key)] = str(value)
        self._secrets = tuple(v for k, v in self._headers.items() if k != "Content-Type" and v) + _url_secrets(url)
        for secret in _url_secrets(url):
            _hide_from_urllib3_logs(secret)  # the path (Discord's, Slack's token) is in urllib3's request line

    def describe(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return "<WebhookTarget %s>" % self._name

    def secrets(self) -> Tuple[str, ...]:
        return self._secrets

    @staticmethod
    def body(notification: Notification) -> Dict[str, Any]:
        """event and message first; details cannot overwrite event, message or source."""
        data: Dict[str, Any] = {"event": notification.event, "message": notification.message}
        for key, value in notification.details.items():
            if key not in ("event", "message", "source"):
                data[str(key)] = value
        data["source"] = SOURCE
        return data

    def send(self, notification: Notification, pool: urllib3.PoolManager, timeout_sec: float) -> None:
        _post(self._name, pool, self._url, _json_body(self.body(notification)), self._headers, timeout_sec)


# ------------------------------------------------------------------------------------------ config

_KEYS = {
    "ntfy": ({"url"}, {"token", "priority"}),
    "telegram": ({"bot_token", "chat_id"}, {"api_url"}),
    "webhook": ({"url"}, {"headers"}),
}


def _url_problem(value: Any, need_path: bool = False) -> Optional[str]:
    if not isinstance(value, str) or not value.strip():
        return "must be an http(s) URL"
    try:
        parts = urlsplit(value.strip())
        parts.port
    except ValueError:
        return "must be an http(s) URL (invalid port or host)"
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value.strip()):
        return "must be an http(s) URL"
    if need_path and not parts.path.strip("/"):
        return "must include the topic, for example https://ntfy.sh/my-topic"
    return None


def validate_target_spec(spec: Any) -> List[str]:
    """Problems with one `notify` entry, each as 'key: what is wrong' (empty when it is fine).

    Never quotes a value: most of them are secrets. Optional keys may be null (= not set).
    """
    if not isinstance(spec, Mapping):
        return ['type: is required (each notify entry is an object such as {"type": "ntfy", "url": ...})']
    kind = spec.get("type")
    if kind is None:
        return ["type: is required (one of %s)" % ", ".join(TARGET_TYPES)]
    if not isinstance(kind, str) or kind not in TARGET_TYPES:
        return ["type: must be one of %s" % ", ".join(TARGET_TYPES)]
    required, optional = _KEYS[kind]
    problems: List[str] = []
    for key in sorted(str(k) for k in spec if k != "type" and k not in required | optional):
        known = ", ".join(sorted(required | optional | {"type"}))
        problems.append("%s: unknown key for a %s target (known: %s)" % (key, kind, known))
    present: Dict[str, Any] = {}
    for key in sorted(required | optional):
        value = spec.get(key)
        if value is None or (key in required and isinstance(value, str) and not value.strip()):
            if key in required:
                problems.append("%s: is required" % key)
        else:
            present[key] = value
    check = {"ntfy": _ntfy_problems, "telegram": _telegram_problems, "webhook": _webhook_problems}[kind]
    return problems + check(present)


def _priority_ok(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 1 <= value <= 5
    if isinstance(value, str):
        value = value.strip().lower()
        return value in NTFY_PRIORITY_NAMES or value in ("1", "2", "3", "4", "5")
    return False


def _one_line_string(key: str, value: Any) -> List[str]:
    if not isinstance(value, str):
        return ["%s: must be a string" % key]
    if any(c in value for c in "\r\n\0"):
        return ["%s: must be one line" % key]
    return []


def _header_value_problems(key: str, value: Any) -> List[str]:
    problems = _one_line_string(key, value)
    if not problems:
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            problems.append("%s: must use only Latin-1 characters (HTTP header)" % key)
    return problems


def _ntfy_problems(spec: Mapping[str, Any]) -> List[str]:
    problems = []
    if "url" in spec:
        problem = _url_problem(spec["url"], need_path=True)
        if problem:
            problems.append("url: " + problem)
    if "token" in spec:
        problems.extend(_header_value_problems("token", spec["token"]))
    if "priority" in spec and not _priority_ok(spec["priority"]):
        problems.append("priority: must be 1 to 5 or one of %s" % ", ".join(NTFY_PRIORITY_NAMES))
    return problems


def _telegram_problems(spec: Mapping[str, Any]) -> List[str]:
    problems = []
    if "bot_token" in spec:
        token = spec["bot_token"]
        if not isinstance(token, str) or not _TELEGRAM_TOKEN.fullmatch(token.strip()):
            problems.append("bot_token: must look like 123456789:AAE... (the token BotFather gave you)")
    if "chat_id" in spec:
        chat_id = spec["chat_id"]
        if isinstance(chat_id, bool) or not isinstance(chat_id, (int, str)):
            problems.append("chat_id: must be a number or a string such as @channelname")
        elif isinstance(chat_id, str) and any(c.isspace() for c in chat_id.strip()):
            problems.append("chat_id: must not contain spaces")
    if "api_url" in spec:
        problem = _url_problem(spec["api_url"])
        if problem:
            problems.append("api_url: " + problem)
    return problems


def _webhook_problems(spec: Mapping[str, Any]) -> List[str]:
    problems = []
    if "url" in spec:
        problem = _url_problem(spec["url"])
        if problem:
            problems.append("url: " + problem)
    headers = spec.get("headers")
    if headers is not None:
        if not isinstance(headers, Mapping):
            return problems + ["headers: must be an object of header name to value"]
        for name, value in headers.items():
            if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
                shown = repr(name) if isinstance(name, str) and len(name) <= 40 else "a name"
                problems.append("headers: %s is not a valid header name" % shown)
            else:
                # the value is never quoted: header values are where webhook secrets live
                problems.extend(_header_value_problems("headers.%s" % name, value))
    return problems


def build_target(spec: Mapping[str, Any]) -> Target:
    """The sender for one `notify` entry; ValueError (listing the problems) when it is not valid."""
    problems = validate_target_spec(spec)
    if problems:
        raise ValueError("; ".join(problems))
    kind = spec["type"]
    if kind == "ntfy":
        return NtfyTarget(spec["url"], token=spec.get("token") or "", priority=spec.get("priority"))
    if kind == "telegram":
        chat_id = spec["chat_id"]
        return TelegramTarget(
            spec["bot_token"], chat_id.strip() if isinstance(chat_id, str) else chat_id,
            api_url=spec.get("api_url") or DEFAULT_TELEGRAM_API_URL,
        )
    return WebhookTarget(spec["url"], headers=spec.get("headers"))


# ------------------------------------------------------------------------------------------ dispatcher


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


class NotificationDispatcher:
    """Delivers notifications to every target from one daemon thread; notify() never blocks.

    When `queue_size` notifications are waiting, the oldest is dropped for the new one (the latest
    state is the one worth telling), with one WARNING per overflow. Failures are WARNINGs; a target
    that is down never holds up the daemon, only the notifications behind it.
    """

    def __init__(
        self,
        targets: Sequence[Target],
        timeout_sec: float = 10.0,
        queue_size: int = 100,
        logger: Optional[logging.Logger] = None,
    ) -> None:
        self._targets = list(targets)
        self._timeout = float(timeout_sec)
        self._max = max(int(queue_size), 1)
        self._log = logger or log
        self._pool = make_pool(self._timeout)
        self._secrets = tuple(s for t in self._targets for s in _secrets_of(t))
        self._pending: Deque[Notification] = collections.deque()
        self._cond = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        self._stopping = False
        self._deadline: Optional[float] = None
        self._overflowing = False
        self.sent = 0  # deliveries (one per target per notification) that succeeded
        self.failed = 0  # deliveries that failed
        self.dropped = 0  # notifications never sent: queue overflow, notify after stop, unsent at stop

    @property
    def targets(self) -> List[Target]:
        return list(self._targets)

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def start(self) -> None:
        """Start the worker thread (once; a no-op when it runs or after stop)."""
        with self._cond:
            if self._thread is not None or self._stopping:
                return
            self._thread = threading.Thread(target=self._run, name="notifications", daemon=True)
            self._thread.start()

    def notify(self, notification: Notification) -> None:
        """Queue a notification for every target; returns at once."""
        warn = False
        with self._cond:
            if self._stopping:
                self.dropped += 1
                stopped = True
            else:
                stopped = False
                if len(self._pending) >= self._max:
                    self._pending.popleft()
                    self.dropped += 1
                    warn, self._overflowing = not self._overflowing, True
                self._pending.append(notification)
                self._cond.notify()
        if stopped:
            self._log.debug("notification %s not sent: notifications are stopped", notification.event)
        elif warn:
            self._log.warning(
                "notification queue full (%d waiting, targets slow or down): dropping the oldest; "
                "further drops are not logged until it drains",
                self._max,
            )

    def stop(self, timeout_sec: float = 2.0) -> None:
        """Send what can still be sent within timeout_sec, then end the worker. Never raises."""
        with self._cond:
            self._stopping = True
            self._deadline = time.monotonic() + max(timeout_sec, 0.0)
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(timeout_sec, 0.0) + 0.5)
        with self._cond:
            unsent = len(self._pending)
            self._pending.clear()
            self.dropped += unsent
            alive = thread is not None and thread.is_alive()
        if unsent:
            self._log.warning("%d notification(s) not sent before stopping", unsent)
        if not alive:
            self._pool.clear()

    # ---------------------------------------------------------------- worker

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if not self._pending or self._past_deadline():
                    return
                notification = self._pending.popleft()
                if not self._pending:
                    self._overflowing = False
            try:
                self._deliver(notification)
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any bug
                self._log.warning("notification %s not delivered: unexpected error (%s)", notification.event, type(exc).__name__)

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _send_timeout(self) -> float:
        """The per-request timeout; while stopping, no more than what is left of stop()'s wait."""
        with self._cond:
            deadline = self._deadline
        if deadline is None:
            return self._timeout
        return max(min(self._timeout, deadline - time.monotonic()), 0.05)

    def _deliver(self, notification: Notification) -> None:
        for target in self._targets:
            if self._past_deadline():
                return
            name = _safe_describe(target)
            try:
                target.send(notification, self._pool, self._send_timeout())
            except NotificationError as exc:
                self._failed(name, str(exc), notification)
            except Exception as exc:  # noqa: BLE001 - a notification is never fatal
                # the type only: an unexpected exception's text could hold a URL with a token
                self._failed(name, "%s: unexpected error (%s)" % (name, type(exc).__name__), notification)
            else:
                with self._cond:
                    self.sent += 1
                self._log.debug("notification %s sent to %s", notification.event, name)

    def _failed(self, name: str, reason: str, notification: Notification) -> None:
        with self._cond:
            self.failed += 1
        prefix = name + ": "
        reason = reason[len(prefix):] if reason.startswith(prefix) else reason
        # the name is secret-free by construction; the reason is redacted on its own, so that a short
        # secret (a path such as /12) cannot garble the name (http://127.0.0.1)
        self._log.warning("notification to %s failed: %s", name, _redact(reason, self._secrets))
        self._log.debug("the failed notification was a %s", notification.event)


def _secrets_of(target: Any) -> Tuple[str, ...]:
    try:
        return tuple(s for s in target.secrets() if isinstance(s, str) and s)
    except Exception:  # noqa: BLE001 - a target without secrets()
        return ()


def _safe_describe(target: Any) -> str:
    try:
        return str(target.describe())
    except Exception:  # noqa: BLE001
        return type(target).__name__
