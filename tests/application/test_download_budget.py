"""SABnzbd and NZBGet are touched only with a download budget: then they share it while streaming,
and get back their own limit when idle."""
from __future__ import annotations

from adapters.fakes import ScriptedStreamSource
from application.container import Container
from domain.policies import SpeedLimit
from tests.application.builders import REMOTE, ManualClock
from tests.support.sabnzbd_server import SabnzbdStandIn
from tests.support.stand_ins import use_stand_ins


def test_usenet_clients_are_left_alone_without_a_download_budget(tmp_path):
    from application.config.load import load_settings
    import json

    with SabnzbdStandIn() as sab:
        config = {"plex_url": "http://plex:32400", "plex_token": "t", "download_clients": [
            {"name": "qbt", "type": "qbittorrent", "url": "http://qbt:8080"},
            {"name": "sab", "type": "sabnzbd", "url": sab.url, "api_key": sab.api_key}]}
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        s = load_settings(str(path), {})
        container = Container(settings=s)
        use_stand_ins(container, plex=ScriptedStreamSource([[REMOTE]]), clock=ManualClock())
        assert [slot.name for slot in container.service().clients] == ["qbt"]
        config["streaming_download_kbps"] = "40 Mbit/s"
        path.write_text(json.dumps(config))
        s = load_settings(str(path), {})
        container = Container(settings=s)
        slots = container.service().clients
        assert [(slot.name, slot.direction) for slot in slots] == [("qbt", "upload"), ("sab", "download")]


def test_the_download_budget_is_held_while_streaming_and_the_own_limit_comes_back(tmp_path):
    from adapters.clients.sabnzbd import SabnzbdClient
    from application.config.load import load_settings
    import json

    with SabnzbdStandIn() as sab:
        client = SabnzbdClient(sab.url, sab.api_key, timeout_sec=2)
        client.write_download_limit(SpeedLimit(3000))  # the user's own cap
        config = {"plex_url": "http://plex:32400", "plex_token": "t", "streaming_threshold": 1, "idle_threshold": 1,
                  "streaming_download_kbps": 800, "state_dir": str(tmp_path), "download_clients": [
                      {"name": "sab", "type": "sabnzbd", "url": sab.url, "api_key": sab.api_key}]}
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        container = Container(settings=load_settings(str(path), {}))
        use_stand_ins(container, plex=ScriptedStreamSource([[REMOTE], []]), clock=ManualClock())
        runner = container.runner(interval_sec=0)
        runner.run_once()
        assert client.read_download_limit() == SpeedLimit(800)
        runner.run_once()
        assert client.read_download_limit() == SpeedLimit(3000)
