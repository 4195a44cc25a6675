"""Webhook bodies as the media servers send them to POST /webhook: (Content-Type, body) pairs.

Where each shape comes from:
- Plex: multipart/form-data with a JSON `payload` part (and a `thumb` JPEG part for some events);
  Plex's "Webhooks" support article, and tests/adapters/status/test_status_server.py's plex_multipart.
- Jellyfin's Webhook plugin (jellyfin/jellyfin-plugin-webhook): the body is the destination's
  Handlebars template rendered with the event's variables (README: ServerId, ServerName,
  NotificationType, Name, ItemType...). Its "Generic" destination posts that text as text/plain
  (the JSON template users paste), "Generic Form" posts the variables as a form, and a destination
  given a `Content-Type: application/json` header posts JSON. It sends every event type ticked in
  the destination: ItemAdded, SessionStart, UserCreated, PlaybackProgress..., not only playback.
- Emby (Premiere webhooks, 4.7 to 4.9): multipart/form-data with the JSON in a `data` part, or
  application/json on 4.8+ ("Request content type"). `Event` is `playback.start`, `library.new`,
  ..., and the "Send test notification" button sends `system.notificationtest` (as the Emby
  notification templates in public repositories branch on).
See /work/shared/api/media-servers.md for what plex-helper answers: playback events observe now,
every other well-formed event gets 200 and is ignored.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Tuple
from urllib.parse import urlencode

Body = Tuple[str, bytes]  # (Content-Type, body)
BOUNDARY = "----plexhelperboundary7MA4YWxk"


def multipart(fields: List[Tuple[str, bytes, str]], boundary: str = BOUNDARY) -> Body:
    """A multipart/form-data body of (name, content, content type) parts, CRLF line ends."""
    lines = []
    for name, content, part_type in fields:
        lines.append(b"--" + boundary.encode())
        lines.append(b'Content-Disposition: form-data; name="%s"' % name.encode())
        lines.append(b"Content-Type: " + part_type.encode())
        lines.append(b"")
        lines.append(content)
    lines.append(b"--" + boundary.encode() + b"--")
    return "multipart/form-data; boundary=" + boundary, b"\r\n".join(lines) + b"\r\n"


# --- Jellyfin's Webhook plugin -------------------------------------------------------------------

def jellyfin_variables(notification_type: str) -> Dict[str, Any]:
    """The variables every Jellyfin notification carries, and an item's for item events."""
    return {
        "ServerId": "8d8a1e2f0c6b4f7e9b0a", "ServerName": "nas", "ServerVersion": "10.10.3",
        "ServerUrl": "http://nas:8096", "NotificationType": notification_type,
        "Timestamp": "2025-06-15T14:13:20.0000000+02:00", "UtcTimestamp": "2025-06-15T12:13:20.0000000Z",
        "Name": "Heat", "ItemId": "a1b2c3", "ItemType": "Movie", "Year": 1995,
    }


def jellyfin_generic(notification_type: str) -> Body:
    """The Generic destination: the rendered JSON template, sent as text/plain."""
    return "text/plain; charset=utf-8", json.dumps(jellyfin_variables(notification_type)).encode()


def jellyfin_generic_form(notification_type: str) -> Body:
    """The Generic Form destination: the variables as form fields."""
    return "application/x-www-form-urlencoded", urlencode(jellyfin_variables(notification_type)).encode()


def jellyfin_json(notification_type: str) -> Body:
    """A destination given the header Content-Type: application/json."""
    return "application/json", json.dumps(jellyfin_variables(notification_type)).encode()


# --- Emby ----------------------------------------------------------------------------------------

def emby_event(event: str) -> Dict[str, Any]:
    document: Dict[str, Any] = {
        "Title": "Heat added to the library", "Date": "2025-06-15T12:13:20.0000000Z", "Event": event,
        "Severity": "Info", "Server": {"Name": "nas", "Id": "4f1e2d3c", "Version": "4.8.10.0"},
    }
    if event == "system.notificationtest":
        document.update(Title="Test Notification", Description="This is a test notification from Emby Server")
    if event.startswith("playback."):
        document["User"] = {"Name": "friend", "Id": "u1"}
        document["Session"] = {"RemoteEndPoint": "203.0.113.5", "Client": "Emby Web", "DeviceName": "Firefox"}
    return document


def emby_multipart(event: str) -> Body:
    return multipart([("data", json.dumps(emby_event(event)).encode(), "application/json")])


def emby_json(event: str) -> Body:
    return "application/json", json.dumps(emby_event(event)).encode()


# --- Plex ----------------------------------------------------------------------------------------

def plex_multipart(event: str, with_thumb: bool = True) -> Body:
    payload = {"event": event, "user": True, "owner": True, "Account": {"id": 1, "title": "owner"},
               "Server": {"title": "nas"}, "Player": {"local": False, "publicAddress": "203.0.113.5"},
               "Metadata": {"type": "movie", "title": "Heat"}}
    parts = [("payload", json.dumps(payload).encode(), "application/json")]
    if with_thumb:
        parts.append(("thumb", b"\xff\xd8\xff\xe0JFIF" + bytes(range(256)), "image/jpeg"))
    return multipart(parts)


# Every non-playback shape a real sender produces: each must get 200 and trigger nothing.
NON_PLAYBACK: Dict[str, Body] = {
    "jellyfin generic ItemAdded": jellyfin_generic("ItemAdded"),
    "jellyfin generic SessionStart": jellyfin_generic("SessionStart"),
    "jellyfin generic PlaybackProgress": jellyfin_generic("PlaybackProgress"),
    "jellyfin generic form ItemAdded": jellyfin_generic_form("ItemAdded"),
    "jellyfin generic form UserCreated": jellyfin_generic_form("UserCreated"),
    "jellyfin json ItemAdded": jellyfin_json("ItemAdded"),
    "emby multipart test notification": emby_multipart("system.notificationtest"),
    "emby multipart library.new": emby_multipart("library.new"),
    "emby json test notification": emby_json("system.notificationtest"),
    "emby json library.new": emby_json("library.new"),
    "plex multipart library.new": plex_multipart("library.new"),
}
# Playback shapes: each must get 200 and wake the loop.
PLAYBACK: Dict[str, Body] = {
    "jellyfin generic PlaybackStart": jellyfin_generic("PlaybackStart"),
    "jellyfin generic form PlaybackStop": jellyfin_generic_form("PlaybackStop"),
    "jellyfin json PlaybackStart": jellyfin_json("PlaybackStart"),
    "emby multipart playback.start": emby_multipart("playback.start"),
    "emby json playback.stop": emby_json("playback.stop"),
    "plex multipart media.play": plex_multipart("media.play"),
}
