"""Small builders shared by the application tests."""
from __future__ import annotations

from typing import Iterable, List

from adapters.fakes import RecordingQBittorrent, ScriptedStreamSource, ScriptStep
from adapters.clients.enforcers import GlobalLimitEnforcer
from application.container import build_decider
from application.service import ThrottleService
from application.config.settings import Settings
from domain.ports import FailureKind, StreamSourceError
from domain.sessions import PlaybackSession
from tests.support.clock import ManualClock

REMOTE = PlaybackSession(state="playing", local=False, location="wan", user="friend", player="TV", bandwidth_kbps=8000)
LAN = PlaybackSession(state="playing", local=True, location="lan", user="owner", player="PC")
DOWN = StreamSourceError(FailureKind.UNREACHABLE, "Plex not reachable at http://plex:32400: connection refused")
REJECTED = StreamSourceError(FailureKind.REJECTED, "Plex rejected the token (401) at http://plex:32400")


def settings(**overrides) -> Settings:
    base = dict(
        plex_url="http://plex:32400",
        plex_token="t",
        qbittorrent_url="http://qbt:8080",
        streaming_upload_kbps=500,
        idle_upload_kbps=0,
        streaming_threshold=2,
        idle_threshold=3,
        plex_down_restore_after_sec=300,
        reconcile_interval_sec=60,
    )
    base.update(overrides)
    return Settings(**base)


def make_service(script: Iterable[ScriptStep], limiter: RecordingQBittorrent = None, clock=None, dry_run=False, **overrides):
    s = settings(**overrides)
    limiter = limiter if limiter is not None else RecordingQBittorrent()
    source = ScriptedStreamSource(script)
    service = ThrottleService(
        source, GlobalLimitEnforcer(limiter), build_decider(s), clock=clock or ManualClock(), dry_run=dry_run,
        reconcile_interval_sec=s.reconcile_interval_sec,
    )
    return service, source, limiter


def kib(history: List[int]) -> List[int]:
    return [b // 1024 for b in history]
