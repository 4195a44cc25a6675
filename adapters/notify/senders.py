"""Notifications to ntfy, Telegram and generic webhooks: the targets, and building them from config.

Targets are built from the `notify` config list (`build_target`; what an entry may hold is checked
by the marshmallow schemas in `adapters.notify.targets`, `validate_target_spec`). The
`NotificationDispatcher` (`adapters.notify.queue`) queues notifications without blocking and
delivers them in the background. A failed delivery is a WARNING, never an error for the daemon.

Secrets (the Telegram bot token, which lives in the request URL; the ntfy token and topic; webhook
header values; a URL's path, query and user:password, since for Discord, Slack and Home Assistant
webhooks the path is the credential) never appear in a log line, an error message or a repr():
a target is named by scheme and host only (`target_name`), and every message is built from that
name, a status code or `describe_transport_error`, never from exception texts.
"""
from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union
from urllib.parse import unquote, urlsplit, urlunsplit

import urllib3
from urllib3 import exceptions as u3

from adapters.transport.http import basic_auth, describe_transport_error
from adapters.notify.queue import Notification, NotificationDispatcher, NotificationError, Target, redact
from adapters.notify.targets import NTFY_PRIORITY_NAMES, TARGET_TYPES, target_name, validate_target_spec

__all__ = [  # the dispatcher and the config checks are re-exported: callers import them from here
    "DEFAULT_TELEGRAM_API_URL", "NTFY_PRIORITY_NAMES", "TARGET_TYPES", "Notification", "NotificationDispatcher",
    "NotificationError", "NtfyTarget", "Target", "TelegramTarget", "WebhookTarget", "build_target", "target_name",
    "validate_target_spec",
]

SOURCE = "plex-helper"
DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"

# ntfy turns tags that are emoji short codes into emoji in front of the title
_NTFY_EVENT_EMOJI = {
    "state_change": "arrows_counterclockwise",
    "override": "raised_hand",
    "side_failing": "warning",
    "side_recovered": "white_check_mark",
}
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
            redacted = redact(text, secrets)
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


# ------------------------------------------------------------------------------------------ URLs


def _split_userinfo(url: str) -> Tuple[str, Optional[str]]:
    """(URL without user:password, Basic Authorization header value or None).

    urllib3 does not send a URL's user:password by itself, so it becomes a header here.
    """
    parts = urlsplit(url.strip())
    if parts.username is None and parts.password is None:
        return url.strip(), None
    netloc = parts.netloc.rpartition("@")[2]
    basic = basic_auth(unquote(parts.username or ""), unquote(parts.password or ""))
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
        return redact(description, self.secrets())


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
