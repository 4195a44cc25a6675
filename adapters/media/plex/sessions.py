"""Plex's session list read: a decoded /status/sessions answer turned into PlaybackSession values.

Pure functions of the payload (no transport here: that is adapters/media/plex/source.py), so they
can be tested and benchmarked without a server.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

from adapters.transport.json_values import as_text
from domain.sessions import PlaybackSession

_MAPPED_PREFIX = "::ffff:"
DEFAULT_STREAM_KBPS = 8000  # the configuration's default_stream_kbps


class SessionPayloadError(ValueError):
    """The payload is not a /status/sessions MediaContainer (read_sessions reports it as MALFORMED)."""


def _object(value: object) -> Optional[Dict[str, Any]]:
    """The value as a JSON object; a one-element list is accepted too (XML-to-JSON converters)."""
    if isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, dict) else None


def _flag(value: object) -> Optional[bool]:
    """JSON true/false, XML "1"/"0", old servers "true"/"false" or 1/0; None when unreadable."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return {1: True, 0: False}.get(value)  # type: ignore[call-overload]
    if isinstance(value, str):
        return {"1": True, "true": True, "0": False, "false": False}.get(value.strip().lower())
    return None


def _kbps(value: object) -> int:
    """Session.bandwidth as a non-negative int; 0 when absent or not a number (never an error).

    Absurd but numeric values are kept: clamping them is the use case's decision, not parsing's.
    """
    if isinstance(value, bool):
        return 0
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:  # also too-long digit strings
            return 0
    if isinstance(value, float):
        if not math.isfinite(value):
            return 0
        value = int(value)
    if isinstance(value, int):
        return max(value, 0)
    return 0


def _unmapped(address: str) -> str:
    """'::ffff:203.0.113.45' -> '203.0.113.45' (IPv4-mapped IPv6, as dual-stack servers report)."""
    address = address.strip()
    if address[: len(_MAPPED_PREFIX)].lower() == _MAPPED_PREFIX and "." in address:
        return address[len(_MAPPED_PREFIX):]
    return address


def _media_kbps(media: object) -> int:
    """The playing media's bitrate (kbit/s): the `selected` entry of Media, else the first; 0 when
    none is readable."""
    entries = [m for m in media[:16] if isinstance(m, dict)] if isinstance(media, list) else []
    chosen = next((m for m in entries if _flag(m.get("selected")) is True), entries[0] if entries else None)
    return _kbps(chosen.get("bitrate")) if chosen is not None else 0


def _parse_item(item: object, default_kbps: int) -> Optional[PlaybackSession]:
    """One Metadata item, or None when it has no Player (no Player, no state: nothing to judge).

    Plex sends the same types every time; for those, the fields are read directly (this runs for
    every session on every poll: at 1,000 sessions the general reading below costs 4 ms a poll).
    Anything else takes the general reading, which gives the same result (a property test)."""
    if type(item) is not dict:
        return None
    player, session, user = item.get("Player"), item.get("Session"), item.get("User")
    if type(player) is not dict or type(session) is not dict or type(user) not in (dict, type(None)):
        return _parse_any_item(item, default_kbps)
    state, location, local = player.get("state"), session.get("location"), player.get("local")
    relayed, public, bandwidth = player.get("relayed"), player.get("remotePublicAddress"), session.get("bandwidth")
    name, address = player.get("title"), player.get("address")
    user_name = user.get("title") if user is not None else ""
    if (type(state) is not str or type(location) is not str or type(local) is not bool
            or type(relayed) not in (bool, type(None)) or type(public) not in (str, type(None))
            or type(bandwidth) is not int or bandwidth <= 0 or type(name) is not str or not name
            or type(address) is not str or type(user_name) not in (str, type(None))):
        return _parse_any_item(item, default_kbps)
    location = location.strip().lower() or None
    inside_lan = location == "lan" if location is not None else local
    return PlaybackSession(
        state=state.strip().lower(),
        local=local,
        location=location,
        relayed=relayed is True or (not inside_lan and public is not None and _unmapped(public) == "127.0.0.1"),
        bandwidth_kbps=bandwidth,
        user=user_name or "",
        player=name,
        address=_unmapped(address),
    )


def _parse_any_item(item: Dict[str, Any], default_kbps: int) -> Optional[PlaybackSession]:
    """One Metadata item, any types in it (the general reading)."""
    player = _object(item.get("Player"))
    if player is None:
        return None
    session = _object(item.get("Session"))
    user = _object(item.get("User")) or {}
    location = (as_text(session.get("location")).strip().lower() or None) if session else None
    local = _flag(player.get("local"))
    # "Outside the LAN" uses the same facts the domain rule uses: Session.location when Plex gave
    # one, else Player.local. A relay makes Plex see the client at 127.0.0.1 (remotePublicAddress),
    # which is also what a player on the server itself looks like; that one is "lan"/local, so the
    # 127.0.0.1 signal counts only when the session is not known to be on the LAN. Unknown (no
    # location, no local) counts as outside, like the domain rule counts it as remote.
    inside_lan = location == "lan" if location is not None else local is True
    relayed = _flag(player.get("relayed")) is True or (
        _unmapped(as_text(player.get("remotePublicAddress"))) == "127.0.0.1" and not inside_lan
    )
    # Plex's reservation; without one (no Session: Plexamp, servers from 2014) the media's own
    # bitrate, else the configured estimate, as for Jellyfin: a stream never reserves nothing
    bandwidth = (_kbps(session.get("bandwidth")) if session else 0) or _media_kbps(item.get("Media")) or default_kbps
    return PlaybackSession(
        state=as_text(player.get("state")).strip().lower(),
        local=local,
        location=location,
        relayed=relayed,
        bandwidth_kbps=bandwidth,
        user=as_text(user.get("title")),
        player=as_text(player.get("title")) or as_text(player.get("product")),
        address=_unmapped(as_text(player.get("address"))),
    )


def parse_sessions(payload: object, default_stream_kbps: int = DEFAULT_STREAM_KBPS) -> Tuple[PlaybackSession, ...]:
    """The sessions in a decoded /status/sessions JSON document.

    Tolerant inside an item (unknown fields ignored, odd types read defensively, items without a
    Player skipped), strict about the envelope: without a MediaContainer object this is not a
    session list, and answering "no streams" would lift the throttle on a misread. Every session
    reserves a positive bandwidth: Session.bandwidth, else the media's bitrate, else
    `default_stream_kbps` (kbit/s).
    """
    if not isinstance(payload, dict):
        raise SessionPayloadError("not a JSON object")
    container = payload.get("MediaContainer")
    if not isinstance(container, dict):
        raise SessionPayloadError("JSON without MediaContainer")
    items = container.get("Metadata")  # absent when nobody is playing
    if items is None:
        return ()
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise SessionPayloadError("Metadata is not a list")
    default_kbps = max(1, default_stream_kbps)
    parsed = (_parse_item(item, default_kbps) for item in items)
    return tuple(session for session in parsed if session is not None)


# Public names for the property test that holds the direct reading equal to the general one.
parse_item = _parse_item
parse_any_item = _parse_any_item
