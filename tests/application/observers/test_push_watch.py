"""Each poll's playback reaches the push listener of its server; /health says how each push channel is."""
from __future__ import annotations

from typing import List, Tuple

from application.observers.push_watch import PushWatch
from domain.ports import FailureKind, StreamSourceError
from domain.sessions import PlaybackSession
from domain.throttle import ServerReading


class Listener:
    def __init__(self) -> None:
        self.polls: List[Tuple[bool, float]] = []

    def note_poll(self, playing: bool, now: float) -> None:
        self.polls.append((playing, now))

    def describe_health(self) -> str:
        return "push silent: polling only" if any(p for p, _ in self.polls) else "push connected"


class Report:
    def __init__(self, *servers: ServerReading) -> None:
        self.servers = servers


PLAYING = PlaybackSession(state="playing", local=False, location="wan", user="friend")
PAUSED = PlaybackSession(state="paused", local=False, location="wan", user="friend")


def test_each_poll_tells_the_listener_of_its_server_whether_something_played():
    jelly, emby = Listener(), Listener()
    watch = PushWatch({"jelly": jelly, "emby": emby}, clock=lambda: 5.0)
    watch.report(Report(ServerReading("jelly", (PLAYING,)),
                        ServerReading("emby", (PAUSED,)),
                        ServerReading("plex", (PLAYING,))))  # no push listener: skipped
    assert jelly.polls == [(True, 5.0)] and emby.polls == [(False, 5.0)]


def test_a_failed_read_says_nothing_about_playback():
    jelly = Listener()
    error = StreamSourceError(FailureKind.UNREACHABLE, "down")
    PushWatch({"jelly": jelly}).report(Report(ServerReading("jelly", failure="down", error=error)))
    assert jelly.polls == []


def test_describe_names_the_push_state_or_none_without_push():
    jelly = Listener()
    watch = PushWatch({"jelly": jelly})
    watch.report(Report(ServerReading("jelly", (PLAYING,))))
    assert watch.describe("jelly") == "push silent: polling only"
    assert watch.describe("plex") is None
