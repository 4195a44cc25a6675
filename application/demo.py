"""`--demo`: the daemon with the fake adapters playing a built-in scenario, for a first look."""
from __future__ import annotations

import sys
from typing import List, Sequence, TextIO

from adapters.fakes import RecordingQBittorrent, ScriptedStreamSource
from adapters.system.logging import configure_logging
from application.config.settings import Settings
from domain.sessions import PlaybackSession

FRIEND = PlaybackSession(
    state="playing", local=False, location="wan", bandwidth_kbps=8127,
    user="friend", player="SHIELD Android TV", address="203.0.113.45",
)
OWNER_AT_HOME = PlaybackSession(
    state="playing", local=True, location="lan", bandwidth_kbps=1050,
    user="owner", player="Living room TV", address="192.168.1.20",
)
FRIEND_PAUSED = PlaybackSession(
    state="paused", local=False, location="wan", user="friend", player="SHIELD Android TV",
)

# (what Plex reports, what the step shows)
SCENARIO: List[Sequence[PlaybackSession]] = [
    (),                       # idle
    (OWNER_AT_HOME,),         # a LAN stream does not count
    (FRIEND,),                # a one-poll blip: hysteresis ignores it
    (),
    (FRIEND,),                # a real remote stream: throttled after 2 polls
    (FRIEND, OWNER_AT_HOME),
    (FRIEND,),
    (FRIEND_PAUSED,),         # paused does not count
    (),
    (),                       # back to idle after 3 polls without remote streams
    (),
]

DEMO_SETTINGS = Settings(
    plex_url="http://plex.invalid:32400",
    plex_token="demo-token",
    qbittorrent_url="http://qbittorrent.invalid:8080",
    idle_upload_kbps=0,
    streaming_upload_kbps=500,
    poll_interval_sec=0.6,
    streaming_threshold=2,
    idle_threshold=3,
)


NEXT_STEP = (
    "\nNext: write /etc/plex-helper/config.json for your servers (see config.example.json; chmod 600, it holds\n"
    "secrets), then check it: sudo python3 plex-helper.pyz --check\n"
)


def run_demo(interval_sec: float = DEMO_SETTINGS.poll_interval_sec, out: TextIO = sys.stdout) -> int:
    from application.container import Container  # the container imports the real adapters too

    configure_logging(verbose=True, environ={}, stream=out, timestamps=False)
    settings = DEMO_SETTINGS
    out.write(
        "plex-helper demo: fake Plex and qBittorrent, %d polls %.1f s apart.\n"
        "Throttle to %d KiB/s after %d polls with remote streams; unlimited again after %d polls without.\n"
        % (len(SCENARIO), interval_sec, settings.streaming_upload_kbps, settings.streaming_threshold, settings.idle_threshold)
    )
    out.flush()
    container = Container(settings=settings)
    limiter = RecordingQBittorrent()
    container.override_providers(media_server_overrides={"plex": ScriptedStreamSource(SCENARIO)},
                                 download_client_overrides={"qbittorrent": limiter})
    runner = container.runner(interval_sec=interval_sec, max_ticks=len(SCENARIO))
    code = runner.run()
    history = ", ".join("unlimited" if b == 0 else "%d KiB/s" % (b // 1024) for b in limiter.history)
    out.write("qBittorrent's upload limit was set %d time(s): %s\n" % (len(limiter.history), history or "never"))
    out.write(NEXT_STEP)
    return code
