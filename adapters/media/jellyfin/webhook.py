"""Jellyfin's and Emby's webhooks recognised in a POST /webhook body.

Both send every event they are set up for, not only playback (Jellyfin's Webhook plugin: ItemAdded,
UserCreated...; Emby: library.new, system.notificationtest from its "Send test notification"
button). `media_server_event` names the event and says whether it is a playback one; the status
server answers every one of them 200 and observes now only for playback.
"""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Optional

from adapters.status.webhook_body import RequestError, webhook_object

_JELLYFIN_EVENTS = {"playbackstart", "playbackstop"}
_EMBY_EVENTS = {"playback.start", "playback.stop", "playback.pause", "playback.unpause"}
MAX_EVENT_CHARS = 64  # an event name is put in the answer and the log: a sender's text, kept short


class MediaServerEvent(NamedTuple):
    """One webhook event of Jellyfin or Emby: `reason` ('jellyfin webhook PlaybackStart') and
    whether it is a playback event (then the loop observes now)."""

    reason: str
    event: str
    playback: bool


def media_server_event(data: Mapping[str, Any]) -> Optional[MediaServerEvent]:
    """The Jellyfin event (`NotificationType`) or Emby event (`Event`) in a webhook's JSON object or
    flat form; None when it holds neither (Plex's has `event`)."""
    notification = data.get("NotificationType")
    if isinstance(notification, str) and notification.strip():
        name = notification.strip()[:MAX_EVENT_CHARS]
        return MediaServerEvent("jellyfin webhook " + name, name, name.lower() in _JELLYFIN_EVENTS)
    event = data.get("Event")
    if isinstance(event, str) and event.strip():
        name = event.strip().lower()[:MAX_EVENT_CHARS]
        return MediaServerEvent("emby webhook " + name, name, name in _EMBY_EVENTS)
    return None


def is_playback_webhook(content_type: str, body: bytes) -> Optional[str]:
    """A trigger reason ('jellyfin webhook PlaybackStart', 'emby webhook playback.start') when the body
    is a playback event of the Jellyfin Webhook plugin (its `NotificationType`, as JSON or a form) or
    of Emby (`Event`, as JSON or the `data` part of multipart/form-data); None for anything else,
    Plex's webhook included. Never raises."""
    try:
        data = webhook_object(content_type, body[:1024 * 1024])
    except (RequestError, ValueError):
        return None
    found = media_server_event(data)
    return found.reason if found is not None and found.playback else None


__all__ = ["MediaServerEvent", "is_playback_webhook", "media_server_event"]
