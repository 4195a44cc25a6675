"""The composition root: every configured media server and download client is built by type, and
any one of them can be replaced by name (tests, --demo); the daemon, --check and a reload build
through the same container."""
import io
import time

import pytest

from adapters.clients.deluge.client import DelugeClient
from adapters.clients.nzbget import NzbgetClient
from adapters.clients.qbittorrent.client import QBittorrentClient
from adapters.clients.sabnzbd import SabnzbdClient
from adapters.clients.transmission.client import TransmissionClient
from adapters.fakes import RecordingQBittorrent, ScriptedStreamSource
from adapters.media.jellyfin.source import JELLYFIN, JellyfinStreamSource
from adapters.media.plex.source import PlexStreamSource
from application.check import run_check
from application.config.settings import DownloadClientSettings, MediaServerSettings
from application.container import Container
from domain.ports import FailureKind, DownloadClientError
from domain.state import StreamState
from tests.application.builders import REMOTE, ManualClock, kib, settings
from tests.support.jellyfin_payloads import lan_session
from tests.support.jellyfin_server import JellyfinTestServer
from tests.support.stand_ins import use_stand_ins


def two_jellyfins(first_url: str, **overrides):
    return settings(
        media_servers=(MediaServerSettings("den", "jellyfin", first_url, "key", events=False),
                       MediaServerSettings("cabin", "jellyfin", "http://cabin.invalid:8096", "key", events=False)),
        streaming_threshold=1, **overrides)


def test_every_configured_server_and_client_is_built_by_its_type():
    container = Container(settings=settings(
        media_servers=(MediaServerSettings("plex", "plex", "http://plex:32400", "t"),
                       MediaServerSettings("den", "jellyfin", "http://den:8096", "k"),
                       MediaServerSettings("attic", "emby", "http://attic:8096", "k")),
        download_clients=tuple(DownloadClientSettings(kind, kind, "http://%s:1" % kind) for kind in
                               ("qbittorrent", "transmission", "deluge", "sabnzbd", "nzbget")),
        streaming_download_kbps=800,
    ))
    sources = {server.name: type(server.source) for server in container.media_servers()}
    assert sources == {"plex": PlexStreamSource, "den": JellyfinStreamSource, "attic": JellyfinStreamSource}
    assert {name: type(a) for name, a in container.client_adapters().items()} == {
        "qbittorrent": QBittorrentClient, "transmission": TransmissionClient, "deluge": DelugeClient,
        "sabnzbd": SabnzbdClient, "nzbget": NzbgetClient}
    assert [slot.name for slot in container.service().clients] == list(container.client_adapters())
    assert container.runner().interval_sec == 10


def test_the_second_of_two_jellyfin_servers_is_replaced_by_name():
    cabin = ScriptedStreamSource([[REMOTE]])
    limiter = RecordingQBittorrent()
    with JellyfinTestServer(JELLYFIN, api_key="key") as den:
        den.set_sessions([lan_session(now=time.time())])  # the real first server: no remote stream
        container = use_stand_ins(Container(settings=two_jellyfins(den.url)), cabin=cabin, qbittorrent=limiter,
                                  clock=ManualClock())
        servers = container.media_servers()
        assert [(s.name, type(s.source)) for s in servers] == [("den", JellyfinStreamSource),
                                                               ("cabin", ScriptedStreamSource)]
        report = container.runner(interval_sec=0).run_once()
    assert report.source_error is None and cabin.reads == 1
    assert kib(limiter.history) == [500]  # the stand-in's remote stream throttled


def test_the_second_of_two_qbittorrents_is_replaced_by_name_and_limited_like_the_real_one(tmp_path):
    seedbox = RecordingQBittorrent()
    container = use_stand_ins(Container(settings=settings(
        download_clients=(DownloadClientSettings("qbt", "qbittorrent", "http://qbt.invalid:8080"),
                          DownloadClientSettings("seedbox", "qbittorrent", "http://seedbox.invalid:8080")),
        state_dir=str(tmp_path), streaming_threshold=1)), plex=ScriptedStreamSource([[REMOTE]]), seedbox=seedbox,
        clock=ManualClock())
    adapters = container.client_adapters()
    assert type(adapters["qbt"]) is QBittorrentClient and adapters["seedbox"] is seedbox
    slot = {s.name: s for s in container.client_slots()}["seedbox"]
    assert [type(e).__name__ for e in slot.enforcers.values()] == ["GlobalLimitEnforcer"]  # as for the real one


def test_a_stand_in_for_a_name_the_config_lacks_is_refused_with_the_names_it_has():
    container = Container(settings=two_jellyfins("http://den.invalid:8096"))
    container.override_providers(media_server_overrides={"attic": ScriptedStreamSource([])})
    with pytest.raises(ValueError, match="media_server_overrides names attic, which the config does not "
                                         r"\(it has cabin, den\)"):
        container.media_servers()
    with pytest.raises(ValueError, match="'attic' is neither a configured media server"):
        use_stand_ins(Container(settings=two_jellyfins("http://den.invalid:8096")), attic=ScriptedStreamSource([]))


class CabinStandIn:
    """What --check asks of a Jellyfin server."""

    url = "http://cabin.invalid:8096"

    def server_info(self):
        return "Jellyfin 10.10.7 (stand-in)"

    def describe_sessions(self):
        return ["nobody streams"]


class SilentClient:
    def describe(self):
        raise DownloadClientError(FailureKind.UNREACHABLE, "qBittorrent not reachable (stand-in)")


def test_check_builds_each_side_through_the_container_by_name():
    container = use_stand_ins(Container(settings=two_jellyfins("http://127.0.0.1:9")), cabin=CabinStandIn(),
                              qbittorrent=SilentClient())
    out = io.StringIO()
    assert run_check(container.settings(), out=out, container=container) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Jellyfin 'den' FAILED: ")  # the real one: nothing listens there
    assert lines[1:4] == ["Jellyfin 'cabin' OK: Jellyfin 10.10.7 (stand-in) at http://cabin.invalid:8096",
                          "  nobody streams", "qBittorrent FAILED: qBittorrent not reachable (stand-in)"]


def test_fakes_replace_the_real_adapters_by_overriding_providers():
    container = Container(settings=settings(streaming_threshold=1))
    limiter = RecordingQBittorrent()
    use_stand_ins(container, plex=ScriptedStreamSource([[REMOTE], [REMOTE], []]), qbittorrent=limiter,
                  clock=ManualClock())
    runner = container.runner(interval_sec=0, max_ticks=3)
    assert runner.run() == 0
    assert container.service().machine_state.state is StreamState.STREAMING
    # the loop stopped while streaming: restore_on_exit put the idle limit back
    assert kib(limiter.history) == [500, 0]


def test_dry_run_is_a_provider_too():
    container = Container(settings=settings(), dry_run=True)
    assert container.service().dry_run is True
