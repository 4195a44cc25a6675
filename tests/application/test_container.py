from adapters.fakes import RecordingUploadLimiter, ScriptedStreamSource
from adapters.media.plex.source import PlexStreamSource
from adapters.clients.qbittorrent.client import QBittorrentUploadLimiter
from application.container import Container
from domain.state import StreamState
from tests.application.builders import REMOTE, ManualClock, kib, settings


def test_container_wires_the_real_adapters_from_settings():
    container = Container(settings=settings())
    assert isinstance(container.stream_source(), PlexStreamSource)
    assert isinstance(container.upload_limiter(), QBittorrentUploadLimiter)
    assert container.runner().interval_sec == 10


def test_fakes_replace_the_real_adapters_by_overriding_providers():
    container = Container(settings=settings(streaming_threshold=1))
    limiter = RecordingUploadLimiter()
    clock = ManualClock()
    container.override_providers(
        stream_source=ScriptedStreamSource([[REMOTE], [REMOTE], []]),
        upload_limiter=limiter,
        clock=clock,
    )
    runner = container.runner(interval_sec=0, max_ticks=3)
    assert runner.run() == 0
    assert container.service().machine_state.state is StreamState.STREAMING
    # the loop stopped while streaming: restore_on_exit put the idle limit back
    assert kib(limiter.history) == [500, 0]


def test_dry_run_is_a_provider_too():
    container = Container(settings=settings(), dry_run=True)
    assert container.service().dry_run is True
