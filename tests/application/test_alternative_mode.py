"""limit_mode "alternative" against a real qbittorrent-nox."""
import pytest

from adapters.fakes import ScriptedStreamSource
from application.container import Container
from tests.application.builders import REMOTE, ManualClock, settings
from tests.support.stand_ins import use_stand_ins

KIB = 1024


@pytest.fixture
def qbt(qbt_nox):
    return qbt_nox


def container_for(qbt, script, state_dir, **overrides):
    container = Container(
        settings=settings(
            qbittorrent_url=qbt.url, qbittorrent_username=qbt.username, qbittorrent_password=qbt.password,
            limit_mode="alternative", streaming_threshold=1, idle_threshold=1, state_dir=str(state_dir), **overrides,
        )
    )
    use_stand_ins(container, plex=ScriptedStreamSource(script), clock=ManualClock())
    return container


def reset(limiter):
    limiter.set_alternative_mode(False)
    limiter.set_upload_limit(0)


def test_streaming_switches_alternative_mode_on_and_idle_switches_it_off(qbt, tmp_path):
    container = container_for(qbt, [[REMOTE], [REMOTE], [], []], tmp_path)
    limiter = container.client_adapters()["qbittorrent"]
    reset(limiter)
    limiter.set_upload_limit(2000 * KIB)  # the user's own global limit: never touched in this mode
    runner = container.runner(interval_sec=0)
    runner.run_once()
    assert limiter.alternative_mode() is True
    assert limiter.alternative_upload_limit() == 500 * KIB
    runner.run_once()
    runner.run_once()
    assert limiter.alternative_mode() is False
    assert limiter.current_upload_limit() == 2000 * KIB
    reset(limiter)


def test_a_users_alternative_mode_is_left_alone(qbt, tmp_path):
    container = container_for(qbt, [[], [REMOTE], []], tmp_path)
    limiter = container.client_adapters()["qbittorrent"]
    reset(limiter)
    limiter.set_alternative_upload_limit(10 * KIB)
    limiter.set_alternative_mode(True)  # the user (or the scheduler) wants the turtle on
    runner = container.runner(interval_sec=0)
    runner.run_once()
    assert limiter.alternative_mode() is True
    runner.run_once()  # streaming: the user's turtle (10 KiB/s) is below the 500 KiB/s share: left alone
    assert limiter.alternative_upload_limit() == 10 * KIB
    runner.run_once()  # idle again: plex-helper did not switch it on, so it stays on...
    assert limiter.alternative_mode() is True
    assert limiter.alternative_upload_limit() == 10 * KIB  # ...with the user's own alternative limit
    assert container.service().restore_idle_limit() is None
    reset(limiter)


def test_exit_switches_off_what_plex_helper_switched_on(qbt, tmp_path):
    container = container_for(qbt, [[REMOTE]], tmp_path)
    limiter = container.client_adapters()["qbittorrent"]
    reset(limiter)
    runner = container.runner(interval_sec=0, max_ticks=1)
    assert runner.run() == 0
    assert limiter.alternative_mode() is False


def test_reconcile_switches_the_mode_back_on(qbt, tmp_path):
    container = container_for(qbt, [[REMOTE]], tmp_path, reconcile_interval_sec=1)
    limiter = container.client_adapters()["qbittorrent"]
    reset(limiter)
    runner = container.runner(interval_sec=0)
    clock = container.clock()
    runner.run_once()
    limiter.set_alternative_mode(False)  # someone clicked the turtle off
    clock.advance(2)
    report = runner.run_once()
    assert report.drifted_from == "alternative mode off, alternative limit 500 KiB/s"
    assert limiter.alternative_mode() is True
    reset(limiter)


def test_after_a_crash_the_next_start_still_undoes_the_alternative_mode(qbt, tmp_path):
    container = container_for(qbt, [[REMOTE]], tmp_path)
    limiter = container.client_adapters()["qbittorrent"]
    reset(limiter)
    container.runner(interval_sec=0).run_once()
    assert limiter.alternative_mode() is True
    # killed here (kill -9): no restore. The next start sees Plex idle:
    again = container_for(qbt, [[]], tmp_path)
    again.runner(interval_sec=0).run_once()
    assert limiter.alternative_mode() is False
    assert not (tmp_path / "alternative_mode.json").exists()
