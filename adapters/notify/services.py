"""Notifications to Discord and Slack webhooks, Gotify and Pushover, each in its documented shape.

Discord: POST JSON {"content", "username"} to the webhook URL (content at most 2000 characters).
Slack (and Slack-compatible webhooks: Mattermost, Rocket.Chat): POST JSON {"text"}.
Gotify: POST JSON {"title", "message", "priority"} to <url>/message with the application token in
the X-Gotify-Key header. Pushover: POST a form (token, user, message, title[, priority][, device])
to <api_url>/1/messages.json (message at most 1024 characters).

As with the other targets, a target is named by kind, scheme and host only: the webhook's path,
the tokens and the user key never reach a log line, an error or a repr().
"""
from __future__ import annotations

import json
from typing import Optional, Tuple
from urllib.parse import urlencode

import urllib3

from adapters.notify.delivery import hide_from_urllib3_logs, json_body, post, url_secrets
from adapters.notify.queue import Notification, redact
from adapters.notify.targets import target_name

SOURCE = "plex-helper"
DEFAULT_PUSHOVER_API_URL = "https://api.pushover.net"
_JSON = {"Content-Type": "application/json; charset=utf-8"}


def _reason(response: urllib3.BaseHTTPResponse, secrets: Tuple[str, ...], *keys: str) -> str:
    """The service's own short reason (a JSON field or a short text body), printable, redacted."""
    try:
        text = response.data.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        reason = text if len(text) <= 80 and "<" not in text else ""
    else:
        found = [data.get(k) for k in keys] if isinstance(data, dict) else []
        reason = "; ".join(str(v if not isinstance(v, list) else ", ".join(map(str, v))) for v in found if v)
    # redacted before it is cut: a cut first could leave the start of a secret
    return redact("".join(c for c in reason if c.isprintable()), secrets)[:120]


class _UrlTarget:
    """A target whose URL is the credential (its path): Discord and Slack webhooks."""

    kind = ""

    def __init__(self, url: str) -> None:
        self._url = url.strip()
        self._name = target_name(self.kind, self._url)
        self._secrets = url_secrets(self._url)
        for secret in self._secrets:
            hide_from_urllib3_logs(secret)

    def describe(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return "<%s %s>" % (type(self).__name__, self._name)

    def secrets(self) -> Tuple[str, ...]:
        return self._secrets


class DiscordTarget(_UrlTarget):
    kind = "discord"

    def send(self, notification: Notification, pool: urllib3.PoolManager, timeout_sec: float) -> None:
        body = {"content": notification.message[:2000], "username": SOURCE}
        post(self._name, pool, self._url, json_body(body), _JSON, timeout_sec,
             lambda r: _reason(r, self._secrets, "message"))


class SlackTarget(_UrlTarget):
    kind = "slack"

    def send(self, notification: Notification, pool: urllib3.PoolManager, timeout_sec: float) -> None:
        post(self._name, pool, self._url, json_body({"text": notification.message[:4000]}), _JSON, timeout_sec,
             lambda r: _reason(r, self._secrets, "error"))


class GotifyTarget:
    def __init__(self, url: str, token: str, priority: Optional[int] = None) -> None:
        self._url = url.strip().rstrip("/") + "/message"
        self._token = token.strip()
        self._priority = priority
        self._name = target_name("gotify", url)
        self._secrets = (self._token,) + url_secrets(url)
        for secret in self._secrets:
            hide_from_urllib3_logs(secret)

    def describe(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return "<GotifyTarget %s>" % self._name

    def secrets(self) -> Tuple[str, ...]:
        return self._secrets

    def send(self, notification: Notification, pool: urllib3.PoolManager, timeout_sec: float) -> None:
        body = {"title": SOURCE, "message": notification.message[:4000]}
        if self._priority is not None:
            body["priority"] = self._priority
        headers = dict(_JSON, **{"X-Gotify-Key": self._token})
        post(self._name, pool, self._url, json_body(body), headers, timeout_sec,
             lambda r: _reason(r, self._secrets, "errorDescription"))


class PushoverTarget:
    def __init__(self, user: str, token: str, priority: Optional[int] = None, device: str = "",
                 api_url: str = DEFAULT_PUSHOVER_API_URL) -> None:
        self._user, self._token = user.strip(), token.strip()
        self._priority, self._device = priority, device.strip()
        base = (api_url or DEFAULT_PUSHOVER_API_URL).strip().rstrip("/")
        self._url = base + "/1/messages.json"
        # the hash tells two users apart; the user key itself is a credential
        self._name = target_name("pushover", base + "#" + self._user)
        self._secrets = tuple(s for s in (self._user, self._token) if s) + url_secrets(base)

    def describe(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return "<PushoverTarget %s>" % self._name

    def secrets(self) -> Tuple[str, ...]:
        return self._secrets

    def send(self, notification: Notification, pool: urllib3.PoolManager, timeout_sec: float) -> None:
        form = {"token": self._token, "user": self._user, "title": SOURCE, "message": notification.message[:1024]}
        if self._priority is not None:
            form["priority"] = str(self._priority)
        if self._device:
            form["device"] = self._device
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        post(self._name, pool, self._url, urlencode(form).encode("utf-8"), headers, timeout_sec,
             lambda r: _reason(r, self._secrets, "errors"))


# Public name for the property test over any answer body (short, printable, no secret).
service_reason = _reason
