"""A reload hands over what plex-helper changed in qBittorrent, so it can still be undone."""
import json
import logging
import os

from adapters.fakes import RecordingQBittorrent, ScriptedStreamSource
from application.container import Container
from application.reload import ConfigReloader
from domain.policies import SpeedLimit
from tests.application.builders import REMOTE, ManualClock
from tests.support.stand_ins import use_stand_ins

KIB = 1024


class FakeQBittorrentModes(RecordingQBittorrent):
    """The fake limiter plus qBittorrent's alternative speed mode."""

    def __init__(self):
        super().__init__()
        self.mode = False
        self.alt_limit = 10 * KIB

    def alternative_mode(self):
        return self.mode

    def set_alternative_mode(self, on):
        self.mode = on

    def alternative_upload_limit(self):
        return self.alt_limit

    def set_alternative_upload_limit(self, bytes_per_sec):
        self.alt_limit = bytes_per_sec

    def read_alternative_upload_limit(self):
        return SpeedLimit.from_bytes(self.alt_limit)

    def write_alternative_upload_limit(self, limit):
        self.alt_limit = limit.bytes_per_sec


def config(tmp_path, **fields):
    data = {"plex_url": "http://plex:32400", "plex_token": "t", "qbittorrent_url": "http://qbt:8080",
            "streaming_threshold": 1, "idle_threshold": 1, "plex_events": False, "state_dir": str(tmp_path / "state"),
            "idle_upload_kbps": 0}
    data.update(fields)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    os.chmod(path, 0o600)
    return str(path)


def daemon(tmp_path, fake, script, **fields):
    from application.config.load import load_settings

    path = config(tmp_path, **fields)
    source = ScriptedStreamSource(script)  # Plex goes on as it was across the reload

    def build(settings):
        container = Container(settings=settings)
        use_stand_ins(container, plex=source, qbittorrent=fake, clock=ManualClock())
        return container

    settings = load_settings(path, {})
    runner = build(settings).runner(interval_sec=0)
    return path, runner, ConfigReloader(path, settings, runner, build, logging.getLogger("plex_helper.test"))


def test_a_new_password_keeps_the_alternative_mode_undoable(tmp_path):
    fake = FakeQBittorrentModes()
    path, runner, reload = daemon(tmp_path, fake, [[REMOTE], [REMOTE], []], limit_mode="alternative")
    runner.run_once()
    assert fake.mode and fake.alt_limit == 500 * KIB
    config(tmp_path, limit_mode="alternative", qbittorrent_username="admin", qbittorrent_password="rotated")
    assert reload()
    runner.run_once()
    runner.run_once()  # idle: the new enforcer knows plex-helper switched the mode on
    assert fake.mode is False and fake.alt_limit == 10 * KIB


def test_changing_the_mode_undoes_the_old_one_first(tmp_path):
    fake = FakeQBittorrentModes()
    path, runner, reload = daemon(tmp_path, fake, [[REMOTE]], limit_mode="alternative")
    runner.run_once()
    assert fake.mode
    config(tmp_path, limit_mode="global")
    assert reload()
    assert fake.mode is False and fake.alt_limit == 10 * KIB
    runner.run_once()  # still streaming: now through the global limit
    assert fake.limit_bytes == 500 * KIB
    assert runner.service.restore_idle_limit() == "upload limit restored to unlimited"


def test_global_to_alternative_restores_the_global_limit(tmp_path):
    fake = FakeQBittorrentModes()
    path, runner, reload = daemon(tmp_path, fake, [[REMOTE]])
    runner.run_once()
    assert fake.limit_bytes == 500 * KIB
    config(tmp_path, limit_mode="alternative")
    assert reload()
    assert fake.limit_bytes == 0


def test_a_mode_change_that_cannot_undo_the_old_throttle_is_not_applied(tmp_path, caplog):
    fake = FakeQBittorrentModes()
    path, runner, reload = daemon(tmp_path, fake, [[REMOTE]])
    runner.run_once()
    assert fake.limit_bytes == 500 * KIB
    fake.fail_with("qBittorrent not reachable at http://qbt:8080: connection refused")
    config(tmp_path, limit_mode="alternative")
    assert reload() is False
    assert "config reload not applied" in caplog.text
    fake.recover()
    assert runner.service.restore_idle_limit() == "upload limit restored to unlimited"  # still undoable
    assert fake.limit_bytes == 0


def test_a_new_qbittorrent_url_undoes_the_throttle_on_the_old_one(tmp_path):
    fake = FakeQBittorrentModes()
    path, runner, reload = daemon(tmp_path, fake, [[REMOTE]], limit_mode="alternative")
    runner.run_once()
    assert fake.mode
    config(tmp_path, limit_mode="alternative", qbittorrent_url="http://other-qbt:8080")
    assert reload()
    assert fake.mode is False and fake.alt_limit == 10 * KIB
