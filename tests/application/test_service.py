from adapters.fakes import RecordingQBittorrent
from domain.policies import SpeedLimit
from domain.ports import FailureKind
from domain.state import StreamState, TransitionReason
from tests.application.builders import DOWN, LAN, REMOTE, ManualClock, kib, make_service


def ticks(service, n):
    return [service.tick() for _ in range(n)]


def test_first_observation_with_a_remote_stream_throttles_at_once():
    service, _, limiter = make_service([[REMOTE]])
    report = service.tick()
    assert report.after.state is StreamState.STREAMING
    assert report.applied == SpeedLimit(500)
    assert kib(limiter.history) == [500]


def test_idle_start_with_qbittorrent_already_at_the_idle_limit_writes_nothing():
    service, _, limiter = make_service([[]])
    report = service.tick()
    assert report.after.state is StreamState.IDLE and report.applied is None
    assert limiter.history == [] and limiter.reads == 1


def test_hysteresis_then_throttle_then_restore():
    script = [[], [REMOTE], [], [REMOTE], [REMOTE, LAN], [REMOTE], [], [LAN], [], []]
    service, _, limiter = make_service(script)
    reports = ticks(service, len(script))
    states = [r.after.state.value for r in reports]
    assert states == ["idle"] * 4 + ["streaming"] * 4 + ["idle"] * 2
    assert kib(limiter.history) == [500, 0]
    changed = [i for i, r in enumerate(reports) if r.state_changed]
    assert changed == [0, 4, 8]


def test_steady_state_sends_nothing_to_qbittorrent():
    clock = ManualClock()
    service, _, limiter = make_service([[REMOTE]], clock=clock, reconcile_interval_sec=0)
    service.tick()
    reads, writes = limiter.reads, len(limiter.history)
    for _ in range(100):
        clock.advance(10)
        service.tick()
    assert (limiter.reads, len(limiter.history)) == (reads, writes)


def test_reconcile_reads_at_its_interval_and_sets_the_limit_back():
    clock = ManualClock()
    service, _, limiter = make_service([[REMOTE]], clock=clock, reconcile_interval_sec=60)
    service.tick()
    assert limiter.reads == 1
    clock.advance(30)
    service.tick()
    assert limiter.reads == 1
    limiter.limit_bytes = 0  # someone lifted the limit in qBittorrent's UI
    clock.advance(30)
    report = service.tick()
    assert limiter.reads == 2
    assert report.applied == SpeedLimit(500) and report.drifted_from == "unlimited"
    assert kib(limiter.history) == [500, 500]
    clock.advance(60)
    report = service.tick()
    assert report.applied is None and len(limiter.history) == 2


def test_failed_plex_reads_hold_the_state():
    service, _, limiter = make_service([[REMOTE], DOWN, DOWN, DOWN])
    reports = ticks(service, 4)
    assert all(r.after.state is StreamState.STREAMING for r in reports)
    assert [r.source_error is not None for r in reports] == [False, True, True, True]
    assert kib(limiter.history) == [500]


def test_plex_down_for_longer_than_the_restore_time_restores_the_idle_limit():
    clock = ManualClock()
    service, _, limiter = make_service([[REMOTE]] + [DOWN] * 40, clock=clock, plex_down_restore_after_sec=300)
    service.tick()
    for _ in range(31):  # the outage clock starts at the first failure, 10 s after the success
        clock.advance(10)
        report = service.tick()
        assert report.after.state is StreamState.STREAMING
    clock.advance(10)
    report = service.tick()
    assert report.after.state is StreamState.IDLE
    assert report.after.last_reason is TransitionReason.SOURCE_DOWN
    assert kib(limiter.history) == [500, 0]


def test_qbittorrent_down_is_retried_every_tick_until_it_answers():
    limiter = RecordingQBittorrent()
    limiter.fail_with()
    service, _, _ = make_service([[REMOTE]], limiter=limiter)
    reports = ticks(service, 3)
    assert all(r.limiter_error is not None and r.limiter_error.kind is FailureKind.UNREACHABLE for r in reports)
    assert all(r.after.state is StreamState.STREAMING for r in reports)
    limiter.recover()
    report = service.tick()
    assert report.applied == SpeedLimit(500) and kib(limiter.history) == [500]


def test_dry_run_never_touches_qbittorrent():
    service, _, limiter = make_service([[REMOTE], [REMOTE], [], [], []], dry_run=True, idle_threshold=1)
    reports = ticks(service, 3)
    assert reports[0].applied == SpeedLimit(500) and reports[0].dry_run
    assert reports[1].applied is None
    assert reports[2].applied == SpeedLimit(0)
    assert limiter.history == [] and limiter.reads == 0
    assert service.restore_idle_limit() is None


def test_restore_idle_limit_only_when_plex_helper_lowered_it():
    service, _, limiter = make_service([[]])
    service.tick()
    assert service.restore_idle_limit() is None
    service, _, limiter = make_service([[REMOTE]])
    service.tick()
    assert service.restore_idle_limit() == "upload limit restored to unlimited"
    assert kib(limiter.history) == [500, 0]


def test_restore_after_a_failed_write_still_tries():
    limiter = RecordingQBittorrent()
    service, _, _ = make_service([[REMOTE]], limiter=limiter)
    limiter.set_upload_limit = lambda b: (_ for _ in ()).throw(__import__("domain.ports").ports.DownloadClientError(FailureKind.UNREACHABLE, "x"))
    report = service.tick()
    assert report.limiter_error is not None
    del limiter.set_upload_limit
    assert service.restore_idle_limit() == "upload limit restored to unlimited"


def test_limit_already_in_place_is_not_written_again():
    limiter = RecordingQBittorrent(initial_bytes_per_sec=500 * 1024)
    service, _, _ = make_service([[REMOTE]], limiter=limiter)
    report = service.tick()
    assert report.applied is None and limiter.history == []
    assert service.enforced_limit == SpeedLimit(500)


def streams_of(*bandwidths):
    from domain.sessions import PlaybackSession

    return [PlaybackSession(state="playing", local=False, location="wan", user="u%d" % i, bandwidth_kbps=b) for i, b in enumerate(bandwidths)]


def test_dynamic_policy_writes_only_when_the_limit_moves_past_the_deadband():
    script = [streams_of(8000), streams_of(8200), streams_of(8000, 8000), streams_of(8000, 8000)]
    service, _, limiter = make_service(
        script, limit_policy="dynamic", upload_capacity_kbps=5000, min_upload_kbps=50, dynamic_deadband_percent=10,
    )
    reports = ticks(service, 4)
    # 5000 - 8000 kbit/s * 1.2 = 3828 KiB/s; 8200 kbit/s moves it by 29 (< 10 %): no write;
    # a second stream takes it to 2656 (> 10 %): written
    assert kib(limiter.history) == [3828, 2656]
    assert reports[1].desired == SpeedLimit(3798) and reports[1].applied is None


def test_tiers_follow_the_stream_count():
    script = [streams_of(1), streams_of(1, 1), streams_of(1, 1, 1), streams_of(1)]
    service, _, limiter = make_service(
        script, limit_policy="tiers", streaming_tiers=((1, 800), (2, 400), (3, 100)), streaming_threshold=1,
    )
    ticks(service, 4)
    assert kib(limiter.history) == [800, 400, 100, 800]


def test_flap_guard_stays_throttled_beyond_the_hourly_limit():
    from domain.state import StreamState

    clock = ManualClock()
    script = [[REMOTE], [], [REMOTE], [], [REMOTE], [], [], []]
    service, _, limiter = make_service(script, clock=clock, streaming_threshold=1, idle_threshold=1, max_transitions_per_hour=2)
    reports = []
    for _ in script:
        reports.append(service.tick())
        clock.advance(60)
    # switches: ->idle, ->streaming; the third (->idle) is held (the first decision is no switch)
    assert [r.after.state for r in reports[:5]] == [StreamState.STREAMING, StreamState.IDLE, StreamState.STREAMING, StreamState.STREAMING, StreamState.STREAMING]
    assert reports[3].flap_held
    assert all(r.after.state is StreamState.STREAMING for r in reports[3:])
    assert kib(limiter.history) == [500, 0, 500]


def test_flap_guard_never_holds_the_plex_down_restore():
    from domain.state import StreamState

    clock = ManualClock()
    script = [[REMOTE], [], [REMOTE]] + [DOWN] * 5
    service, _, limiter = make_service(script, clock=clock, streaming_threshold=1, idle_threshold=1, max_transitions_per_hour=1, plex_down_restore_after_sec=100)
    for _ in script:
        report = service.tick()
        clock.advance(60)
    assert report.after.state is StreamState.IDLE


def test_an_override_forces_the_state_until_it_ends():
    from domain.overrides import Override
    from domain.state import StreamState

    wall = ManualClock(start=1_700_000_000.0)
    service, _, limiter = make_service([[]] * 5)
    service._wall_clock = wall
    service.tick()
    service.set_override(Override(StreamState.STREAMING, until=wall.now + 90 * 60))
    report = service.tick()
    assert report.effective_state is StreamState.STREAMING and report.after.state is StreamState.IDLE
    assert report.applied == SpeedLimit(500)
    wall.advance(90 * 60)
    report = service.tick()
    assert report.override_expired is not None and service.override is None
    assert report.effective_state is StreamState.IDLE and report.applied == SpeedLimit(0)


def test_triggered_observations_do_not_make_hysteresis_sloppier():
    from domain.state import StreamState

    clock = ManualClock()
    service, _, limiter = make_service([[]] + [[REMOTE]] * 10, clock=clock, streaming_threshold=2)
    service.min_count_interval_sec = 5
    service.tick()
    for _ in range(5):  # a burst of events within a second: none advances the streak
        clock.advance(0.2)
        assert service.tick(triggered=True).after.contrary_streak == 0
    clock.advance(5)
    assert service.tick(triggered=True).after.contrary_streak == 1  # half an interval later: it counts
    clock.advance(10)
    assert service.tick().after.state is StreamState.STREAMING


def test_a_triggered_observation_decides_at_once_with_a_threshold_of_1():
    from domain.state import StreamState

    clock = ManualClock()
    service, _, limiter = make_service([[], [REMOTE]], clock=clock, streaming_threshold=1)
    service.min_count_interval_sec = 5
    service.tick()
    clock.advance(0.3)
    assert service.tick(triggered=True).after.state is StreamState.STREAMING


def test_a_triggered_observation_still_resets_a_streak():
    clock = ManualClock()
    service, _, limiter = make_service([[REMOTE], [], [REMOTE], [], []], clock=clock, idle_threshold=2)
    service.min_count_interval_sec = 5
    service.tick()
    clock.advance(10)
    assert service.tick().after.contrary_streak == 1
    clock.advance(1)
    assert service.tick(triggered=True).after.contrary_streak == 0  # a remote stream again: reset
