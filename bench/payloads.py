"""Realistic Plex /status/sessions answers for the whole-daemon benchmark.

tests/support/plex_payloads.py builds the fields the adapter reads (User, Player, Session,
TranscodeSession): about 0.6 KB a session. A real Plex Media Server sends much more per session:
the item's metadata (summary, artwork paths, guids, tags) and Media -> Part -> Stream entries for
the file being played. The daemon has to receive, decode and walk all of it, so a benchmark of the
whole process needs payloads that size. The builders here give about 1.6 KB of JSON a session
(json.dumps with its default separators, as the stand-in serves it), with the shapes of real
answers (PMS 1.40: a transcoded remote movie, direct-played LAN episodes, LAN music, a relayed
remote episode).

    realistic_sessions(10)    # 10 sessions, 2 of them remote: about 16 KB of JSON
    realistic_sessions(1000)  # the same mix scaled: 200 remote, about 1.6 MB

Every item is a fresh dict; `sessionKey`, `Player.machineIdentifier` and `Session.id` are unique.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List

Item = Dict[str, Any]

# The mix of every 10 sessions: (builder, remote?). 2 of 10 are remote streams.
_MIX = ("remote_movie", "lan_episode", "lan_episode", "lan_track", "lan_episode",
        "relayed_episode", "lan_track", "lan_movie_transcode", "lan_episode", "lan_movie_paused")
REMOTE_PER_TEN = 2


def _video_streams(n: int, height: int, width: int, codec: str, bitrate: int, decision: str) -> List[Item]:
    video = {"id": 30000 + 3 * n, "streamType": 1, "default": True, "codec": codec,
             "bitrate": bitrate, "height": height,
             "displayTitle": "%dp (%s)" % (height, codec.upper()), "decision": decision,
             "location": "direct" if decision != "transcode" else "segments-video"}
    audio = {"id": 30001 + 3 * n, "streamType": 2, "selected": True, "codec": "eac3",
             "channels": 6, "bitrate": 640, "languageCode": "eng", "displayTitle": "English (EAC3 5.1)",
             "decision": "copy", "location": "direct" if decision != "transcode" else "segments-audio"}
    return [video, audio]


def _media(n: int, kind: str, transcode: bool) -> List[Item]:
    if kind == "track":
        stream = {"id": 30000 + 3 * n, "streamType": 2, "selected": True, "codec": "flac", "index": 0,
                  "channels": 2, "bitrate": 1050, "samplingRate": 44100, "bitDepth": 16,
                  "displayTitle": "FLAC (Stereo)", "decision": "copy",
                  "location": "direct"}
        part = {"id": 20000 + n, "key": "/library/parts/%d/1700000000/file.flac" % (20000 + n),
                "duration": 251000, "file": "/data/music/Artist %d/Album/01 - Song %d.flac" % (n % 97, n),
                "size": 31457280, "container": "flac", "decision": "directplay", "selected": True,
                "Stream": [stream]}
        return [{"id": 10000 + n, "duration": 251000, "bitrate": 1050, "audioChannels": 2, "audioCodec": "flac",
                 "container": "flac", "selected": True, "Part": [part]}]
    height, width = (2160, 3840) if n % 3 == 0 else (1080, 1920)
    codec = "hevc" if height == 2160 else "h264"
    decision = "transcode" if transcode else "directplay"
    part = {"id": 20000 + n, "key": "/library/parts/%d/1700000000/file.mkv" % (20000 + n), "duration": 7260000,
            "file": "/data/%s/Title %d (2019)/Title %d (2019) - %dp.mkv"
                    % ("movies" if kind == "movie" else "tv", n, n, height),
            "size": 9876543210, "container": "mkv", "decision": decision,
            "selected": True, "Stream": _video_streams(n, height, width, codec, 18000, decision)}
    return [{"id": 10000 + n, "duration": 7260000, "bitrate": 18640, "width": width, "height": height,
             "audioChannels": 6, "audioCodec": "eac3", "videoCodec": codec,
             "videoResolution": "4k" if height == 2160 else "1080", "container": "mkv", "selected": True,
             "Part": [part]}]


def _transcode(n: int) -> Item:
    return {"key": "/transcode/sessions/tc-%06d" % n, "throttled": False, "complete": False, "progress": 12.3,
            "speed": 1.9, "duration": 7260000, "videoDecision": "transcode",
            "audioDecision": "copy", "protocol": "dash", "container": "mp4", "videoCodec": "h264",
            "audioCodec": "eac3"}


def _item(n: int, kind: str) -> Item:
    remote = kind in ("remote_movie", "relayed_episode")
    relayed = kind == "relayed_episode"
    transcode = kind in ("remote_movie", "relayed_episode", "lan_movie_transcode")
    media_type = "track" if kind == "lan_track" else ("movie" if "movie" in kind else "episode")
    state = "paused" if kind == "lan_movie_paused" else "playing"
    address = "127.0.0.1" if relayed else ("203.0.113.%d" % (n % 250 + 1) if remote else "192.168.1.%d" % (n % 200 + 20))
    key = str(1000 + n)
    item: Item = {
        "addedAt": 1690000000 + n,
        "duration": 251000 if media_type == "track" else 7260000,
        "guid": "plex://%s/5d776%07x" % (media_type, n), "key": "/library/metadata/%d" % (4000 + n),
        "librarySectionID": "1",
        "librarySectionTitle": "Music" if media_type == "track" else ("Movies" if media_type == "movie" else "TV Shows"),
        "ratingKey": str(4000 + n), "sessionKey": key,
        "title": "Title %d" % n, "type": media_type, "viewOffset": 3000000,
    }
    if media_type == "episode":
        item.update({"grandparentTitle": "Show %d" % (n % 37), "parentTitle": "Season 2", "index": n % 20 + 1,
                     "parentIndex": 2})
    elif media_type == "track":
        item.update({"grandparentTitle": "Artist %d" % (n % 97), "parentTitle": "Album", "index": 1})
    else:
        item.update({"year": 2019, "contentRating": "R", "studio": "Studio",
                     "summary": "A crew plans one last job."})
    item["Media"] = _media(n, "track" if media_type == "track" else media_type, transcode)
    item["User"] = {"id": str(48213752 + n % 50), "title": "friend%d" % (n % 50) if remote else "owner%d" % (n % 5)}
    item["Player"] = {
        "address": address, "device": "SHIELD Android TV" if n % 2 else "Windows",
        "machineIdentifier": "machine-%06d-%s" % (n, "a1b2c3d4"),
        "platform": "Android" if n % 2 else "Windows",
        "product": "Plex for Android (TV)" if n % 2 else "Plex for Windows",
        "remotePublicAddress": "127.0.0.1" if relayed else (address if remote else "198.51.100.20"),
        "state": state, "title": "Living Room %d" % n,
        "local": not remote, "relayed": relayed, "secure": True, "userID": 48213752 + n % 50,
    }
    item["Session"] = {"id": "sess%06d%s" % (n, "x" * 8), "bandwidth": 20000 if remote else 4000,
                       "location": "wan" if remote else "lan"}
    if transcode:
        item["TranscodeSession"] = _transcode(n)
    return item


def realistic_sessions(count: int) -> List[Item]:
    """`count` Metadata items in the fixed 10-session mix (2 of every 10 remote and playing)."""
    return [_item(n, _MIX[n % len(_MIX)]) for n in range(count)]


def remote_count(count: int) -> int:
    """How many of realistic_sessions(count) are remote streams that count."""
    return sum(1 for n in range(count) if _MIX[n % len(_MIX)] in ("remote_movie", "relayed_episode"))


def body_size(count: int) -> int:
    """Bytes of the /status/sessions JSON the stand-in serves for realistic_sessions(count)."""
    items = realistic_sessions(count)
    return len(json.dumps({"MediaContainer": {"size": len(items), "Metadata": items}}).encode("utf-8"))


def rotating_bodies(items: list) -> list:
    """Four answers in turn, as playback moves on between polls (viewOffset, transcode progress)."""
    bodies = []
    for step in range(4):
        for item in items:
            item["viewOffset"] += 1000 * step
            if "TranscodeSession" in item:
                item["TranscodeSession"]["progress"] = round(12.3 + step * 0.4, 1)
        bodies.append(json.dumps({"MediaContainer": {"size": len(items), "Metadata": items}}).encode("utf-8"))
    return bodies


if __name__ == "__main__":
    for n in (1, 10, 100, 1000):
        size = body_size(n)
        print("%5d sessions (%d remote): %9d bytes, %.2f KB per session" % (n, remote_count(n), size, size / n / 1024))
