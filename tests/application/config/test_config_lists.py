"""media_servers and download_clients: names, secrets from files and the environment, the flat
shorthand, and what may not be mixed."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from application.config.load import ConfigError, load_settings
from application.config.settings import DownloadClientSettings, MediaServerSettings

ROOT = Path(__file__).resolve().parents[3]
PLEX = {"name": "plex", "type": "plex", "url": "http://192.168.1.10:32400", "token": "tok"}
SEEDBOX = {"name": "seedbox", "type": "qbittorrent", "url": "http://192.168.1.10:8080", "username": "admin",
           "password": "pw", "weight": 2}


def load(tmp_path, environ=None, **config):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    os.chmod(path, 0o600)
    return load_settings(str(path), environ or {})


def problems(tmp_path, environ=None, **config):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, environ, **config)
    return info.value.problems


def test_lists_load_with_their_defaults(tmp_path):
    jellyfin = {"name": "den", "type": "jellyfin", "url": "http://192.168.1.11:8096", "api_key": "k"}
    vpn = {"name": "vpn", "type": "transmission", "url": "http://192.168.1.10:9091"}
    s = load(tmp_path, media_servers=[PLEX, jellyfin], download_clients=[SEEDBOX, vpn], limit_mode="alternative")
    assert [m.name for m in s.media_servers] == ["plex", "den"]
    assert s.media_servers[1] == MediaServerSettings("den", "jellyfin", "http://192.168.1.11:8096", "k")
    assert s.download_clients[0].weight == 2 and s.download_clients[1].weight == 1
    assert s.download_clients[1].limit_mode == "alternative"  # the global value is the default
    assert set(s.secrets()) >= {"tok", "k", "pw"}


def test_the_example_config_of_the_first_version_means_one_plex_and_one_qbittorrent(tmp_path):
    example = json.loads((ROOT / "config.example.json").read_text())
    s = load(tmp_path, **example)
    assert s.media_servers == (MediaServerSettings("plex", "plex", example["plex_url"], example["plex_token"]),)
    client = s.download_clients[0]
    assert (client.name, client.type, client.url) == ("qbittorrent", "qbittorrent", example["qbittorrent_url"])
    assert client == DownloadClientSettings(
        "qbittorrent", "qbittorrent", example["qbittorrent_url"], example.get("qbittorrent_username", ""),
        example.get("qbittorrent_password", ""), limit_mode=s.limit_mode, login_retry_sec=s.login_retry_sec)


def test_mixing_the_shorthand_with_a_list_names_both(tmp_path):
    lines = problems(tmp_path, plex_url="http://plex:32400", plex_token="t", media_servers=[PLEX],
                     qbittorrent_url="http://qbt:8080")
    assert any("plex_url: cannot be used together with media_servers" in line for line in lines), lines


def test_names_are_unique_and_plain(tmp_path):
    lines = problems(tmp_path, media_servers=[PLEX, dict(PLEX)], download_clients=[SEEDBOX])
    assert any("both named 'plex'" in line for line in lines), lines
    lines = problems(tmp_path, media_servers=[dict(PLEX, name="Living Room")], download_clients=[SEEDBOX])
    assert any("media_servers[0].name: must be 1 to 40 of a-z" in line for line in lines), lines


def test_each_kind_takes_its_own_credential(tmp_path):
    lines = problems(tmp_path, media_servers=[dict(PLEX, token="", api_key="k")], download_clients=[SEEDBOX])
    assert any("media_servers[0].api_key: Plex takes a token" in line for line in lines), lines
    jellyfin = {"name": "den", "type": "jellyfin", "url": "http://192.168.1.11:8096"}
    lines = problems(tmp_path, media_servers=[jellyfin], download_clients=[SEEDBOX])
    assert any("media_servers[0].api_key: is required for jellyfin" in line for line in lines), lines
    deluge = {"name": "d", "type": "deluge", "url": "http://127.0.0.1:8112", "limit_mode": "alternative"}
    lines = problems(tmp_path, media_servers=[PLEX], download_clients=[deluge])
    assert any("limit_mode: alternative needs qBittorrent or Transmission" in line for line in lines), lines


def test_secrets_from_files_and_from_the_environment(tmp_path):
    (tmp_path / "token").write_text("from-file\n")
    server = dict(PLEX, token_file=str(tmp_path / "token"))
    del server["token"]
    s = load(tmp_path, {"PLEX_HELPER_SEEDBOX__PASSWORD": "from-env", "PLEX_HELPER_SEEDBOX__WEIGHT": "3"},
             media_servers=[server], download_clients=[SEEDBOX])
    assert s.media_servers[0].token == "from-file"
    assert s.download_clients[0].password == "from-env" and s.download_clients[0].weight == 3


def test_a_secret_file_that_cannot_be_read_is_one_line_without_the_secret(tmp_path):
    server = {"name": "plex", "type": "plex", "url": "http://plex:32400", "token_file": str(tmp_path / "missing")}
    lines = problems(tmp_path, media_servers=[server], download_clients=[SEEDBOX])
    assert lines == ["%s: media_servers[0].token_file: cannot read %s: No such file or directory"
                     % (tmp_path / "config.json", tmp_path / "missing")]


def test_a_clients_own_limit_is_a_rate_like_the_others(tmp_path):
    s = load(tmp_path, media_servers=[PLEX], download_clients=[dict(SEEDBOX, streaming_upload_kbps="8 Mbit/s")])
    assert s.download_clients[0].streaming_upload_kbps == 976


# --- configs that explode ----------------------------------------------------------------------------

def _servers(count):
    return [dict(PLEX, name="plex%d" % i) for i in range(count)]


def _clients(count):
    return [dict(SEEDBOX, name="seedbox%d" % i) for i in range(count)]


def test_the_lists_are_capped_naming_the_field_and_the_cap(tmp_path):
    assert len(load(tmp_path, media_servers=_servers(32), download_clients=_clients(32)).media_servers) == 32
    assert problems(tmp_path, media_servers=_servers(33), download_clients=_clients(1)) == [
        "%s: media_servers: must list at most 32 entries (it lists 33)" % (tmp_path / "config.json")]
    lines = problems(tmp_path, media_servers=_servers(1), download_clients=_clients(5000))
    assert lines == ["%s: download_clients: must list at most 32 entries (it lists 5000)" % (tmp_path / "config.json")]


def test_the_cap_holds_without_the_file_too():
    from application.config.load import validate_settings

    with pytest.raises(ConfigError) as info:
        validate_settings({"media_servers": _servers(40), "download_clients": _clients(1)}, "env")
    assert "env: media_servers: must list at most 32 entries (it lists 40)" in info.value.problems


@pytest.mark.parametrize("servers, clients, first, second", [
    ([dict(PLEX, name="seed-box")], [dict(SEEDBOX, name="seed_box")], "media_servers[0] 'seed-box'",
     "download_clients[0] 'seed_box'"),
    ([PLEX], [dict(SEEDBOX, name="a-b"), dict(SEEDBOX, name="a_b")], "download_clients[0] 'a-b'", "download_clients[1] 'a_b'"),
    ([PLEX], [dict(SEEDBOX, name="plex")], "media_servers[0] 'plex'", "download_clients[0] 'plex'"),
])
def test_names_that_share_their_environment_variables_are_refused_naming_both(tmp_path, servers, clients, first, second):
    environ = {"PLEX_HELPER_SEED_BOX__PASSWORD": "secret-pw"}
    lines = problems(tmp_path, environ, media_servers=servers, download_clients=clients)
    assert len(lines) == 1
    assert first in lines[0] and second in lines[0] and "__<FIELD>" in lines[0]
    assert "secret-pw" not in lines[0]


def test_one_push_listener_per_server_with_events_on_and_none_for_the_others(tmp_path):
    import threading

    from application.wiring.parts import make_event_listeners

    servers = [dict(PLEX, name="p%d" % i, url="http://127.0.0.1:9/", events=i % 2 == 0) for i in range(8)]
    servers += [{"name": "j%d" % i, "type": "jellyfin", "url": "http://127.0.0.1:9/", "api_key": "k", "events": i == 0}
                for i in range(4)]
    settings = load(tmp_path, media_servers=servers, download_clients=[SEEDBOX])
    listeners = make_event_listeners(settings, lambda *_: None)
    assert len(listeners) == 5  # p0, p2, p4, p6 and j0
    before = threading.active_count()
    try:
        for listener in listeners.values():
            listener.start()
            listener.start()  # a second start keeps the one thread
        listening = [t for t in threading.enumerate() if t.name.endswith("-events")]
        assert len(listening) == len(listeners)  # one each, however often started
        # besides: a WebSocket handshake's deadline timer, one per Jellyfin/Emby listener while it connects
        assert threading.active_count() - before <= 2 * len(listeners)
    finally:
        for listener in listeners.values():
            listener.stop()
