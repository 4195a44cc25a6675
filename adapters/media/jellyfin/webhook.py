"""Jellyfin's and Emby's playback webhooks recognised in a POST /webhook body.

`is_playback_webhook` answers a trigger reason or None, never raises, so the status server can
try Plex's reading next.
"""
from __future__ import annotations

from typing import Optional
from urllib.parse import parse_qs

from adapters.status.webhook_body import RequestError, json_object, multipart_field

_JELLYFIN_EVENTS = {"playbackstart", "playbackstop"}
_EMBY_EVENTS = {"playback.start", "playback.stop", "playback.pause", "playback.unpause"}


def is_playback_webhook(content_type: str, body: bytes) -> Optional[str]:
    """A trigger reason ('jellyfin webhook PlaybackStart', 'emby webhook playback.start') when the body
    is a playback event of the Jellyfin Webhook plugin (its `NotificationType`, as JSON or a form) or
    of Emby (`Event`, as JSON or the `data` part of multipart/form-data); None for anything else,
    Plex's webhook included, so the caller can try Plex's reading next. Never raises."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    try:
        if media_type == "multipart/form-data":
            try:
                raw = multipart_field(content_type, body, "data")
            except RequestError:
                return None  # Plex's webhook sends a `payload` part instead
            data = json_object(raw, "the webhook payload")
        elif media_type == "application/x-www-form-urlencoded":
            fields = parse_qs(body.decode("utf-8", "replace")[:65536], max_num_fields=200)
            data = {k: v[-1] for k, v in fields.items()}
        elif media_type in ("application/json", "text/plain", ""):
            data = json_object(body, "the webhook payload")
        else:
            return None
    except (RequestError, ValueError):
        return None
    notification = data.get("NotificationType")
    if isinstance(notification, str) and notification.strip().lower() in _JELLYFIN_EVENTS:
        return "jellyfin webhook %s" % notification.strip()[:40]
    event = data.get("Event")
    if isinstance(event, str) and event.strip().lower() in _EMBY_EVENTS:
        return "emby webhook %s" % event.strip().lower()
    return None


__all__ = ["is_playback_webhook"]
