"""Reading a Plex /status/sessions answer: the bytes to PlaybackSession values.

Pure functions and one reader with a memory, separate from the transport (adapters/media/plex/source.py), so
they can be tested and benchmarked without a server. `parse_sessions` reads a decoded answer;
`SessionReader` reads the bytes, through the skim (adapters/media/plex/skim.py) when it can.
"""
from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Optional, Tuple

from adapters.transport.json_values import as_text
from adapters.media.plex.skim import skim_spans, span_parts
from domain.sessions import PlaybackSession

_MAPPED_PREFIX = "::ffff:"


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


def _parse_item(item: object) -> Optional[PlaybackSession]:
    """One Metadata item, or None when it has no Player (no Player, no state: nothing to judge)."""
    if type(item) is not dict:
        return _parse_any_item(item)
    return _parse_parts(item.get("Player"), item.get("Session"), item.get("User"))


def _parse_parts(player: object, session: object, user: object) -> Optional[PlaybackSession]:
    """An item's Player, Session and User (the only parts of an item the reading looks at).

    Plex sends the same types every time; for those, the fields are read directly (this runs for
    every session on every poll: at 1,000 sessions the general reading below costs 4 ms a poll).
    Anything else takes the general reading, which gives the same result (a property test)."""
    if type(player) is not dict or type(session) is not dict or type(user) not in (dict, type(None)):
        return _parse_any_item({"Player": player, "Session": session, "User": user})
    state, location, local = player.get("state"), session.get("location"), player.get("local")
    relayed, public, bandwidth = player.get("relayed"), player.get("remotePublicAddress"), session.get("bandwidth")
    name, address = player.get("title"), player.get("address")
    user_name = user.get("title") if user is not None else ""
    if (type(state) is not str or type(location) is not str or type(local) is not bool
            or type(relayed) not in (bool, type(None)) or type(public) not in (str, type(None))
            or type(bandwidth) is not int or type(name) is not str or not name
            or type(address) is not str or type(user_name) not in (str, type(None))):
        return _parse_any_item({"Player": player, "Session": session, "User": user})
    location = location.strip().lower() or None
    inside_lan = location == "lan" if location is not None else local
    return PlaybackSession(
        state=state.strip().lower(),
        local=local,
        location=location,
        relayed=relayed is True or (not inside_lan and public is not None and _unmapped(public) == "127.0.0.1"),
        bandwidth_kbps=bandwidth if bandwidth > 0 else 0,
        user=user_name or "",
        player=name,
        address=_unmapped(address),
    )


def _parse_any_item(item: object) -> Optional[PlaybackSession]:
    """One Metadata item, or None when it has no Player (no Player, no state: nothing to judge)."""
    if not isinstance(item, dict):
        return None
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
    return PlaybackSession(
        state=as_text(player.get("state")).strip().lower(),
        local=local,
        location=location,
        relayed=relayed,
        bandwidth_kbps=_kbps(session.get("bandwidth")) if session else 0,
        user=as_text(user.get("title")),
        player=as_text(player.get("title")) or as_text(player.get("product")),
        address=_unmapped(as_text(player.get("address"))),
    )


def parse_sessions(payload: object) -> Tuple[PlaybackSession, ...]:
    """The sessions in a decoded /status/sessions JSON document.

    Tolerant inside an item (unknown fields ignored, odd types read defensively, items without a
    Player skipped), strict about the envelope: without a MediaContainer object this is not a
    session list, and answering "no streams" would lift the throttle on a misread.
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
    parsed = (_parse_item(item) for item in items)
    return tuple(session for session in parsed if session is not None)


_UNREAD = object()


class SessionReader:
    """Turns /status/sessions answers into sessions: `parse_sessions(json.loads(body))`, but when
    the skim proves it reads the same (adapters/media/plex/skim.py) only each item's User, Player and
    Session are decoded, and an item whose text of them is the same as in the previous answer gives
    the session it gave then (at one poll a second they rarely change: Plex moves the play position
    and the transcode progress, which lie outside them). Raises what those two raise."""

    def __init__(self) -> None:
        self._previous: Dict[str, Optional[PlaybackSession]] = {}

    def __call__(self, body: bytes) -> Tuple[PlaybackSession, ...]:
        try:
            spans = skim_spans(body.decode("utf-8"))
        except UnicodeDecodeError:
            spans = None
        sessions = None if spans is None else self._skimmed(spans)
        if sessions is None:
            self._previous = {}
            return parse_sessions(json.loads(body))
        return sessions

    def _skimmed(self, spans: List[str]) -> Optional[Tuple[PlaybackSession, ...]]:
        previous: Dict[str, Optional[PlaybackSession]] = self._previous
        current: Dict[str, Optional[PlaybackSession]] = {}
        sessions = []
        for span in spans:
            session = previous.get(span, _UNREAD)
            if session is _UNREAD:
                parts = span_parts(span)
                if parts is None:
                    return None
                session = _parse_parts(*parts)
            current[span] = session  # type: ignore[assignment]
            if session is not None:
                sessions.append(session)
        self._previous = current
        return tuple(sessions)
