"""Builders for realistic Plex /status/sessions items and SSE notifications.

The shapes follow the example in /work/shared/api/README.md (a remote movie and a LAN track). Every
builder returns a fresh dict, so tests may change it. `container(items)` wraps items as Plex does:
`Metadata` is left out entirely when there are no sessions.
"""
from __future__ import annotations

import itertools
from typing import Any, Dict, Iterable, List, Optional

Item = Dict[str, Any]

_keys = itertools.count(100)


def session_item(
    *,
    user: str = "friend",
    state: str = "playing",
    bandwidth: Optional[int] = 8127,
    location: Optional[str] = "wan",
    local: Any = False,
    relayed: Any = False,
    address: str = "203.0.113.45",
    remote_public_address: Optional[str] = None,
    player: str = "SHIELD Android TV",
    product: str = "Plex for Android (TV)",
    media_type: str = "movie",
    title: str = "Heat",
    session_key: Optional[str] = None,
    user_id: str = "48213752",
    with_session: bool = True,
    transcoding: bool = False,
) -> Item:
    """One Metadata item. `location=None` leaves Session out of the item (old servers)."""
    key = session_key if session_key is not None else str(next(_keys))
    item: Item = {
        "ratingKey": "4021",
        "key": "/library/metadata/4021",
        "librarySectionID": "1",
        "sessionKey": key,
        "type": media_type,
        "title": title,
        "duration": 10200000,
        "viewOffset": 3000000,
        "User": {"id": user_id, "title": user},
        "Player": {
            "address": address,
            "device": player,
            "machineIdentifier": "machine-%s" % key,
            "platform": "Android",
            "product": product,
            "remotePublicAddress": remote_public_address if remote_public_address is not None else address,
            "state": state,
            "title": player,
            "local": local,
            "relayed": relayed,
            "secure": True,
            "userID": int(user_id) if user_id.isdigit() else user_id,
        },
    }
    if with_session and location is not None:
        session: Item = {"id": "session-%s" % key, "location": location}
        if bandwidth is not None:
            session["bandwidth"] = bandwidth
        item["Session"] = session
    if transcoding:
        item["TranscodeSession"] = {
            "key": "/transcode/sessions/%s" % key,
            "throttled": False,
            "complete": False,
            "progress": 12.3,
            "speed": 1.9,
            "videoDecision": "transcode",
            "audioDecision": "copy",
        }
    return item


def remote_movie(user: str = "friend", bandwidth: int = 8127, state: str = "playing", **kw: Any) -> Item:
    """A WAN viewer watching a transcoded movie (the first session of the facts-file example)."""
    kw.setdefault("transcoding", True)
    return session_item(user=user, bandwidth=bandwidth, state=state, location="wan", local=False, **kw)


def lan_track(user: str = "owner", bandwidth: int = 1050, state: str = "paused", **kw: Any) -> Item:
    """A LAN desktop player on a music track (the second session of the facts-file example)."""
    kw.setdefault("address", "10.10.10.171")
    kw.setdefault("remote_public_address", "198.51.100.20")
    kw.setdefault("player", "DESKTOP")
    kw.setdefault("product", "Plex for Windows")
    kw.setdefault("media_type", "track")
    kw.setdefault("title", "Some Song")
    kw.setdefault("user_id", "1")
    return session_item(user=user, bandwidth=bandwidth, state=state, location="lan", local=True, **kw)


def relayed_episode(
    user: str = "friend", bandwidth: int = 1000, state: str = "playing", flag: bool = True, **kw: Any
) -> Item:
    """A WAN stream through the Plex relay: `relayed` true (flag=True), or only the 127.0.0.1 sign.

    Plex sees relayed clients at 127.0.0.1; with flag=False `relayed` is false and only
    remotePublicAddress == 127.0.0.1 (with location "wan") tells that the stream is relayed.
    """
    kw.setdefault("address", "127.0.0.1")
    kw.setdefault("remote_public_address", "127.0.0.1")
    kw.setdefault("media_type", "episode")
    kw.setdefault("title", "Pilot")
    kw.setdefault("location", "wan")
    kw.setdefault("local", False)
    return session_item(user=user, bandwidth=bandwidth, state=state, relayed=flag, **kw)


def legacy_string_typed(
    user: str = "friend", bandwidth: int = 8127, state: str = "playing", local: bool = False, **kw: Any
) -> Item:
    """An item as older servers (before about PMS 1.24) sent it: numbers and booleans as strings."""
    item = session_item(user=user, bandwidth=bandwidth, state=state, local="1" if local else "0",
                        relayed="0", location="lan" if local else "wan", **kw)
    player = item["Player"]
    player["secure"] = "1"
    player["userID"] = str(player["userID"])
    item["duration"] = str(item["duration"])
    item["viewOffset"] = str(item["viewOffset"])
    if "Session" in item and "bandwidth" in item["Session"]:
        item["Session"]["bandwidth"] = str(item["Session"]["bandwidth"])
    return item


def without_session(user: str = "friend", state: str = "playing", local: bool = False, **kw: Any) -> Item:
    """An item with no `Session` element: only `Player.local` says where the player is."""
    return session_item(user=user, state=state, local=local, location=None, **kw)


def plexamp_track(user: str = "friend", bitrate: Optional[int] = 1411, **kw: Any) -> Item:
    """A remote Plexamp track with no `Session` element, only the media's `Media[].bitrate` (kbit/s).

    Where the shape comes from: /work/shared/api/media-servers.md, "Seen in real payloads": items
    without `Session` from Plexamp behind a Docker bridge and from servers of 2014; the `Media`
    entry follows the one in the facts file's example (/work/shared/api/README.md: `id`, `bitrate`,
    `selected`, `Part`), with a track's audio fields. `bitrate=None` leaves the bitrate out.
    """
    kw.setdefault("player", "Plexamp")
    kw.setdefault("product", "Plexamp")
    kw.setdefault("media_type", "track")
    kw.setdefault("title", "Some Song")
    item = session_item(user=user, local=False, location=None, **kw)
    media: Item = {"id": "91520", "duration": 186240, "audioChannels": 2, "audioCodec": "flac", "container": "flac",
                   "selected": True, "Part": [{"id": "91520", "decision": "directplay"}]}
    if bitrate is not None:
        media["bitrate"] = bitrate
    item["Media"] = [media]
    return item


def container(items: Iterable[Item] = ()) -> Dict[str, Any]:
    """The full /status/sessions document; `Metadata` is absent when there are no items, as in Plex."""
    metadata: List[Item] = list(items)
    body: Dict[str, Any] = {"size": len(metadata)}
    if metadata:
        body["Metadata"] = metadata
    return {"MediaContainer": body}


def playing_notification(
    state: str = "playing",
    session_key: Optional[str] = "12",
    rating_key: str = "4021",
    view_offset: int = 0,
) -> Dict[str, Any]:
    """A `playing` SSE/WebSocket message; `session_key=None` leaves it out, as some messages do."""
    entry: Dict[str, Any] = {
        "ratingKey": rating_key,
        "key": "/library/metadata/%s" % rating_key,
        "state": state,
        "viewOffset": view_offset,
    }
    if session_key is not None:
        entry["sessionKey"] = session_key
    return {"NotificationContainer": {"type": "playing", "size": 1, "PlaySessionStateNotification": [entry]}}
