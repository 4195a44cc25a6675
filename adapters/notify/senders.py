"""Notifications to ntfy, Telegram and generic webhooks, and building every target from config
(Discord, Slack, Gotify and Pushover are in `adapters.notify.services`).

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
import re
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import urllib3

from adapters.notify.delivery import MAX_TEXT, hide_from_urllib3_logs, json_body, post, split_userinfo, url_secrets
from adapters.notify.queue import Notification, NotificationDispatcher, NotificationError, Target, redact
from adapters.notify.events import with_events
from adapters.notify.targets import (
    NTFY_PRIORITY_NAMES,
    TARGET_TYPES,
    expand_apprise_url,
    target_name,
    validate_target_spec,
)

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


# ------------------------------------------------------------------------------------------ targets


class NtfyTarget:
    """POSTs the message as text to an ntfy topic URL (https://ntfy.sh/<topic> or a self-hosted one)."""

    def __init__(self, url: str, token: str = "", priority: Union[int, str, None] = None) -> None:
        self._url, self._basic = split_userinfo(url)
        self._name = target_name("ntfy", url)
        self._token = (token or "").strip()
        self._priority = None if priority is None else str(priority).strip().lower()
        self._secrets = tuple(s for s in (self._token, self._basic) if s) + url_secrets(url)
        for secret in url_secrets(url):
            hide_from_urllib3_logs(secret)  # the topic and a query (?auth=...) are in urllib3's request line

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
        body = notification.message[:MAX_TEXT].encode("utf-8")
        post(self._name, pool, self._url, body, self.headers(notification), timeout_sec)


class TelegramTarget:
    """Sends the message to a chat through a Telegram bot (sendMessage)."""

    def __init__(self, bot_token: str, chat_id: Union[int, str], api_url: str = DEFAULT_TELEGRAM_API_URL) -> None:
        self._token = bot_token.strip()
        self._chat_id = chat_id
        self._api_url = (api_url or DEFAULT_TELEGRAM_API_URL).strip().rstrip("/")
        self._name = "telegram chat %s" % (chat_id,)
        for secret in (self._token,) + url_secrets(self._api_url):  # the token sits in the request line
            hide_from_urllib3_logs(secret)

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
            "text": notification.message[:MAX_TEXT],
            "disable_web_page_preview": True,
        }
        headers = {"Content-Type": "application/json; charset=utf-8"}
        post(self._name, pool, url, json_body(payload), headers, timeout_sec, self._explain)

    def _explain(self, response: urllib3.BaseHTTPResponse) -> str:
        """Telegram's own short reason ("Bad Request: chat not found"), printable, without the token."""
        try:
            description = json.loads(response.data.decode("utf-8"))["description"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return ""
        if not isinstance(description, str):
            return ""
        description = "".join(c for c in description if c.isprintable())
        return redact(description, self.secrets())[:120]  # redacted first: a cut could keep a secret's start


class WebhookTarget:
    """POSTs the notification as JSON: {"event", "message", <details>..., "source": "plex-helper"}."""

    def __init__(self, url: str, headers: Optional[Mapping[str, str]] = None) -> None:
        self._url, basic = split_userinfo(url)
        self._name = target_name("webhook", url)
        self._headers = {"Content-Type": "application/json; charset=utf-8"}
        if basic:
            self._headers["Authorization"] = basic
        for key, value in (headers or {}).items():
            # the configured headers win, whatever their case (no duplicate Content-Type)
            for same in [k for k in self._headers if k.lower() == str(key).lower()]:
                del self._headers[same]
            self._headers[str(key)] = str(value)
        self._secrets = tuple(v for k, v in self._headers.items() if k != "Content-Type" and v) + url_secrets(url)
        for secret in url_secrets(url):
            hide_from_urllib3_logs(secret)  # the path (Discord's, Slack's token) is in urllib3's request line

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
        post(self._name, pool, self._url, json_body(self.body(notification)), self._headers, timeout_sec)

# ------------------------------------------------------------------------------------------ config


def build_target(spec: Mapping[str, Any]) -> Target:
    """The sender for one `notify` entry; ValueError (listing the problems) when it is not valid."""
    problems = validate_target_spec(spec)
    if problems:
        raise ValueError("; ".join(problems))
    spec = expand_apprise_url(spec)
    return with_events(_target(spec), spec.get("events"))


def _target(spec: Mapping[str, Any]) -> Target:
    from adapters.notify import services

    kind = spec["type"]
    if kind == "ntfy":
        return NtfyTarget(spec["url"], token=spec.get("token") or "", priority=spec.get("priority"))
    if kind == "telegram":
        chat_id = spec["chat_id"]
        return TelegramTarget(
            spec["bot_token"], chat_id.strip() if isinstance(chat_id, str) else chat_id,
            api_url=spec.get("api_url") or DEFAULT_TELEGRAM_API_URL,
        )
    if kind == "discord":
        return services.DiscordTarget(spec["url"])
    if kind == "slack":
        return services.SlackTarget(spec["url"])
    if kind == "gotify":
        return services.GotifyTarget(spec["url"], spec["token"], priority=spec.get("priority"))
    if kind == "pushover":
        return services.PushoverTarget(spec["user"], spec["token"], priority=spec.get("priority"),
                                       device=spec.get("device") or "",
                                       api_url=spec.get("api_url") or services.DEFAULT_PUSHOVER_API_URL)
    return WebhookTarget(spec["url"], headers=spec.get("headers"))
