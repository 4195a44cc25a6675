"""Builders for Jellyfin / Emby /Sessions entries (SessionInfoDto), following the documented shapes in
/work/shared/api/media-servers.md. Every builder returns a fresh dict, so tests may change it.

Times are written the way .NET writes them ('2024-05-01T20:04:05.1234567Z'); `now` is the wall
clock the test gives the parser, so freshness is exact.
"""
from __future__ import annotations

import itertools
import time
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

Entry = Dict[str, Any]
_ids = itertools.count(1)
NOW = 1_750_000_000.0  # a fixed wall clock for parser tests


def dotnet_time(epoch: float) -> str:
    """'2025-06-15T14:13:20.0000000Z': seven digits of fraction, as .NET's round-trip format writes."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%07dZ" % (moment.microsecond * 10)


def media_item(
    *, name: str = "Heat", item_id: Optional[str] = None, source_id: str = "src-1",
    source_bitrate: Any = 12_000_000, stream_bitrates: Optional[List[Any]] = None,
    extra_sources: Optional[List[Dict[str, Any]]] = None,
) -> Dict[str, Any]:
    """A NowPlayingItem with one MediaSource (Id, Bitrate in bits/s, MediaStreams with BitRate)."""
    streams = [{"Type": "Video", "Codec": "h264", "BitRate": 10_000_000},
               {"Type": "Audio", "Codec": "aac", "BitRate": 2_000_000}]
    if stream_bitrates is not None:
        streams = [{"Type": "Video", "BitRate": rate} for rate in stream_bitrates]
    source: Dict[str, Any] = {"Id": source_id, "Protocol": "File", "Container": "mkv", "MediaStreams": streams}
    if source_bitrate is not None:
        source["Bitrate"] = source_bitrate
    return {
        "Name": name, "Id": item_id or "item-%d" % next(_ids), "Type": "Movie", "MediaType": "Video",
        "RunTimeTicks": 61_000_000_000, "MediaSources": (extra_sources or []) + [source],
    }


def session(
    *, user: str = "friend", client: str = "Jellyfin Android", device: str = "Pixel 8",
    remote_end_point: Any = "203.0.113.5", playing: bool = True, paused: Any = False,
    play_method: str = "DirectPlay", transcode_bitrate: Any = None, item: Optional[Dict[str, Any]] = None,
    media_source_id: Optional[str] = "src-1", now: float = NOW, check_in_age: Optional[float] = 5.0,
    activity_age: Optional[float] = 5.0, session_id: Optional[str] = None,
) -> Entry:
    """One session entry. `playing=False` leaves NowPlayingItem out (an idle client); a
    `transcode_bitrate` adds TranscodingInfo (and PlayMethod Transcode); ages of None leave the
    check-in fields out."""
    entry: Entry = {
        "Id": session_id or "session-%d" % next(_ids),
        "UserId": "user-%s" % user, "UserName": user, "Client": client, "DeviceName": device,
        "DeviceId": "device-%s" % device, "ApplicationVersion": "2.6.0", "IsActive": True,
        "SupportsRemoteControl": True, "ServerId": "server-1",
        "PlayState": {"CanSeek": True, "IsPaused": paused, "IsMuted": False, "RepeatMode": "RepeatNone"},
    }
    if remote_end_point is not None:
        entry["RemoteEndPoint"] = remote_end_point
    if check_in_age is not None:
        entry["LastPlaybackCheckIn"] = dotnet_time(now - check_in_age)
    if activity_age is not None:
        entry["LastActivityDate"] = dotnet_time(now - activity_age)
    if playing:
        entry["NowPlayingItem"] = item if item is not None else media_item()
        entry["PlayState"].update({"PositionTicks": 12_340_000_000, "PlayMethod": play_method})
        if media_source_id is not None:
            entry["PlayState"]["MediaSourceId"] = media_source_id
    if transcode_bitrate is not None:
        entry["PlayState"]["PlayMethod"] = "Transcode"
        entry["TranscodingInfo"] = {"AudioCodec": "aac", "VideoCodec": "h264", "Container": "ts",
                                    "IsVideoDirect": False, "IsAudioDirect": False, "Bitrate": transcode_bitrate,
                                    "TranscodeReasons": ["ContainerBitrateExceedsLimit"]}
    return entry


# --- the documented cases -----------------------------------------------------------------------

def direct_play_remote(**kw: Any) -> Entry:
    """Direct play from the internet: no TranscodingInfo, the media source's Bitrate (12 Mbit/s)."""
    return session(**kw)


def transcoding_remote(bitrate: Any = 4_000_000, **kw: Any) -> Entry:
    return session(transcode_bitrate=bitrate, **kw)


def paused_remote(**kw: Any) -> Entry:
    return session(paused=True, **kw)


def idle_session(**kw: Any) -> Entry:
    """A connected client that plays nothing (no NowPlayingItem), as the web dashboard itself shows."""
    return session(playing=False, client="Jellyfin Web", device="Firefox", **kw)


def lan_session(address: str = "192.168.1.20", **kw: Any) -> Entry:
    return session(remote_end_point=address, client="Jellyfin for Kodi", device="Living room", **kw)


def ipv6_session(endpoint: str = "[2001:db8::7]:51234", **kw: Any) -> Entry:
    return session(remote_end_point=endpoint, **kw)


def proxied_sessions(count: int = 3, proxy: str = "172.18.0.2") -> List[Entry]:
    """What a server behind a reverse proxy without KnownProxies reports: every client at the proxy."""
    return [session(user="user%d" % i, remote_end_point=proxy) for i in range(count)]


def mistyped_session(**kw: Any) -> Entry:
    """Every field present but of the wrong type."""
    entry = session(**kw)
    entry.update({"UserName": 42, "Client": ["x"], "DeviceName": None, "RemoteEndPoint": {"ip": "1.2.3.4"},
                  "LastPlaybackCheckIn": 17, "LastActivityDate": ["yesterday"], "TranscodingInfo": "fast"})
    entry["PlayState"] = {"IsPaused": "maybe", "MediaSourceId": 7}
    entry["NowPlayingItem"]["MediaSources"] = "many"
    return entry


def bare_session() -> Entry:
    """A NowPlayingItem and nothing else: every optional field missing."""
    return {"NowPlayingItem": {}}


def many_sessions(count: int = 200, now: float = NOW) -> List[Entry]:
    """`count` sessions, a mix of every kind above, for size and speed-independent checks."""
    makers = [direct_play_remote, transcoding_remote, paused_remote, idle_session, lan_session, ipv6_session]
    return [makers[i % len(makers)](now=now) for i in range(count)]


def wall_clock() -> float:
    return time.time()
