"""Jellyfin / Emby sessions: the pure parser (cases, properties, arbitrary JSON) and the adapter against
the local stand-in servers."""
from __future__ import annotations

import ipaddress
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.media.jellyfin.source import (
    EMBY, JELLYFIN, LanNetworks, MAX_BODY_BYTES, JellyfinStreamSource, SessionPayloadError,
    describe_sessions_payload, endpoint_address, is_playback_webhook, judge_session, parse_sessions, parse_time,
    reverse_proxy_warning,
)
from domain.policies import MAX_SESSION_KBPS
from domain.ports import FailureKind, StreamSourceError
from domain.sessions import RemoteStreamRule, SessionReason
from tests.support import jellyfin_payloads as jp
from tests.support.jellyfin_server import DEFAULT_API_KEY, JellyfinTestServer

NOW = jp.NOW
PRIVATE = LanNetworks.build()


def parse(entries: Any, networks: LanNetworks = PRIVATE, **kw: Any) -> Any:
    return parse_sessions(entries, JELLYFIN, networks, NOW, server="jf", **kw)


def only(entry: Any, **kw: Any) -> Any:
    sessions = parse([entry], **kw)
    assert len(sessions) == 1
    return sessions[0]


# ----------------------------------------------------------------------------------- the cases


def test_direct_play_remote_uses_the_media_source_bitrate() -> None:
    s = only(jp.direct_play_remote())
    assert (s.state, s.local, s.location, s.address) == ("playing", False, "wan", "203.0.113.5")
    assert s.bandwidth_kbps == 12_000 and s.user == "friend" and s.player == "Jellyfin Android" and s.server == "jf"


def test_transcoding_uses_transcoding_info() -> None:
    assert only(jp.transcoding_remote(bitrate=4_321_000)).bandwidth_kbps == 4321


def test_paused_is_paused() -> None:
    assert only(jp.paused_remote()).state == "paused"


def test_idle_session_without_now_playing_item_is_skipped() -> None:
    sessions = parse([jp.idle_session(), jp.direct_play_remote(client="Infuse")])
    assert [s.player for s in sessions] == ["Infuse"]


def test_lan_and_ipv6_endpoints() -> None:
    assert only(jp.lan_session("192.168.1.20")).local is True
    assert only(jp.lan_session("10.0.0.5:51234")).location == "lan"
    s = only(jp.ipv6_session("[2001:db8::7]:51234"))
    assert (s.address, s.local) == ("2001:db8::7", False)
    assert only(jp.ipv6_session("[fd00::5]:8096")).local is True  # ULA
    assert only(jp.ipv6_session("::ffff:192.168.1.9")).address == "192.168.1.9"


@pytest.mark.parametrize("raw, bare", [
    ("203.0.113.5", "203.0.113.5"), ("203.0.113.5:51234", "203.0.113.5"), ("[2001:db8::1]:51234", "2001:db8::1"),
    ("2001:db8::1", "2001:db8::1"), ("::ffff:10.0.0.5", "10.0.0.5"), ("[::ffff:10.0.0.5]:1", "10.0.0.5"),
    ("fe80::1%eth0", "fe80::1"), ("", ""), (None, ""), (17, "17"), ("  10.0.0.5  ", "10.0.0.5"),
])
def test_endpoint_address(raw: Any, bare: str) -> None:
    assert endpoint_address(raw) == bare


def test_cgnat_is_remote_unless_listed() -> None:
    entry = jp.session(remote_end_point="100.101.102.103")
    assert only(entry).local is False
    listed = LanNetworks.build(None, [ipaddress.ip_network("100.64.0.0/10")])
    assert only(entry, networks=listed).local is True


def test_server_subnets_replace_the_private_ranges() -> None:
    networks = LanNetworks.build(["192.168.50.0/24", "eth0", "10.1.2.3"])
    assert only(jp.lan_session("192.168.50.7"), networks=networks).local is True
    assert only(jp.lan_session("192.168.1.7"), networks=networks).local is False  # private, but not this LAN
    assert only(jp.lan_session("10.1.2.3"), networks=networks).local is True
    assert only(jp.lan_session("127.0.0.1"), networks=networks).local is True  # loopback always


def test_unknown_address_counts_as_remote_for_the_rule() -> None:
    s = only(jp.session(remote_end_point=None))
    assert s.local is None and s.location is None
    assert RemoteStreamRule().reason(s) is SessionReason.UNKNOWN_LOCATION


def test_the_domain_rule_reads_the_verdict() -> None:
    rule = RemoteStreamRule()
    assert rule.is_remote(only(jp.direct_play_remote()))
    assert not rule.is_remote(only(jp.lan_session()))
    assert not rule.is_remote(only(jp.paused_remote()))  # count_states is playing only
    assert RemoteStreamRule(count_states=frozenset({"playing", "paused"})).is_remote(only(jp.paused_remote()))


def test_stale_sessions_are_skipped() -> None:
    assert parse([jp.session(check_in_age=300, activity_age=300)]) == ()
    assert len(parse([jp.session(check_in_age=300, activity_age=10)])) == 1  # the newest of the two counts
    assert len(parse([jp.session(check_in_age=None, activity_age=None)])) == 1  # cannot tell: kept
    assert len(parse([jp.session(check_in_age=-30)])) == 1  # a server clock ahead of ours


def test_stale_threshold_is_a_parameter() -> None:
    entry = jp.session(check_in_age=60, activity_age=60)
    assert parse([entry], stale_after_sec=30) == () and len(parse([entry])) == 1


@pytest.mark.parametrize("text, expected", [
    ("2025-06-15T15:13:20.0000000Z", 1_750_000_400.0), ("2025-06-15T15:13:20Z", 1_750_000_400.0),
    ("2025-06-15T17:13:20.5+02:00", 1_750_000_400.5), ("2025-06-15T15:13:20", 1_750_000_400.0),
    ("0001-01-01T00:00:00.0000000Z", -62135596800.0), ("yesterday", None), ("2025-13-40T00:00:00Z", None),
    (None, None), (1750000000, None),
])
def test_parse_time(text: Any, expected: Any) -> None:
    assert parse_time(text) == expected


def test_bitrate_fallbacks() -> None:
    item = jp.media_item(source_bitrate=None)  # no Bitrate: the sum of the streams (10 + 2 Mbit/s)
    assert only(jp.session(item=item)).bandwidth_kbps == 12_000
    item = jp.media_item(source_bitrate=None, stream_bitrates=[None, "x"])
    assert only(jp.session(item=item)).bandwidth_kbps == 8000  # the default estimate
    assert only(jp.session(item=item), default_stream_kbps=3000).bandwidth_kbps == 3000
    assert only(jp.transcoding_remote(bitrate=0)).bandwidth_kbps == 12_000  # 0 is no figure
    assert only(jp.transcoding_remote(bitrate="5000000")).bandwidth_kbps == 5000


def test_the_playing_media_source_is_chosen() -> None:
    other = {"Id": "src-other", "Bitrate": 40_000_000, "MediaStreams": []}
    item = jp.media_item(source_id="src-1", source_bitrate=6_000_000, extra_sources=[other])
    assert only(jp.session(item=item, media_source_id="src-1")).bandwidth_kbps == 6000
    assert only(jp.session(item=item, media_source_id=None)).bandwidth_kbps == 40_000  # none named: the first


def test_absurd_bitrates_are_clamped() -> None:
    assert only(jp.transcoding_remote(bitrate=10 ** 15)).bandwidth_kbps == MAX_SESSION_KBPS


def test_mistyped_fields_never_crash() -> None:
    s = only(jp.mistyped_session())
    assert s.state == "playing" and s.user == "42" and s.player == "" and s.local is None
    assert s.bandwidth_kbps == 8000


def test_bare_session() -> None:
    s = only(jp.bare_session())
    assert (s.state, s.local, s.user, s.bandwidth_kbps) == ("playing", None, "", 8000)


def test_non_objects_inside_the_list_are_skipped() -> None:
    assert parse([None, 1, "x", [], jp.direct_play_remote()]) != ()


@pytest.mark.parametrize("payload", [{}, {"Items": []}, "[]", None, 3])
def test_the_envelope_must_be_a_list(payload: Any) -> None:
    with pytest.raises(SessionPayloadError):
        parse(payload)


def test_200_sessions() -> None:
    sessions = parse(jp.many_sessions(200))
    assert len(sessions) == 200 - sum(1 for i in range(200) if i % 6 == 3)  # every sixth is idle
    assert {s.state for s in sessions} == {"playing", "paused"}


# ----------------------------------------------------------------------------------- properties

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=40,
)
KEYS = st.sampled_from(["NowPlayingItem", "PlayState", "IsPaused", "RemoteEndPoint", "TranscodingInfo", "Bitrate",
                        "MediaSources", "MediaStreams", "BitRate", "MediaSourceId", "Id", "UserName", "Client",
                        "LastPlaybackCheckIn", "LastActivityDate", "DeviceName"])
SESSIONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=8),
    max_leaves=60,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, st.lists(SESSIONISH, max_size=6)))
def test_arbitrary_json_gives_sessions_or_a_clean_failure(payload: Any) -> None:
    try:
        sessions = parse(payload)
    except SessionPayloadError:
        return
    for s in sessions:
        assert s.state in ("playing", "paused") and 1 <= s.bandwidth_kbps <= MAX_SESSION_KBPS
        assert (s.local is None) == (s.location is None)
    describe_sessions_payload(payload, JELLYFIN, PRIVATE, NOW)


@given(st.ip_addresses(v=4) | st.ip_addresses(v=6), st.booleans(), st.integers(0, 65535))
def test_address_verdict_follows_the_networks(ip: Any, paused: bool, port: int) -> None:
    endpoint = ("%s:%d" % (ip, port)) if ip.version == 4 else "[%s]:%d" % (ip, port)
    s = only(jp.session(remote_end_point=endpoint, paused=paused))
    private = any(ip.version == n.version and ip in n for n in PRIVATE.networks)
    mapped = ip.version == 6 and ip.ipv4_mapped is not None
    if not mapped:
        assert s.local is private and s.location == ("lan" if private else "wan")
    assert s.state == ("paused" if paused else "playing")


@given(st.integers(0, 10 ** 12), st.integers(0, 10 ** 12))
def test_transcoding_wins_over_the_source(transcode: int, source: int) -> None:
    entry = jp.session(transcode_bitrate=transcode, item=jp.media_item(source_bitrate=source))
    kbps = only(entry).bandwidth_kbps
    expected = transcode if transcode >= 1000 else (source if source >= 1000 else 12_000_000)
    assert kbps == min(max(1, int(expected / 1000)), MAX_SESSION_KBPS)


# ----------------------------------------------------------------------------------- --check helpers


def test_reverse_proxy_warning() -> None:
    assert "KnownProxies" in reverse_proxy_warning(["172.18.0.2"] * 3)
    assert reverse_proxy_warning(["172.18.0.2"]) is None  # one session proves nothing
    assert reverse_proxy_warning(["172.18.0.2", "172.18.0.3"]) is None
    assert reverse_proxy_warning(["203.0.113.5"] * 2) is None  # a public address: not a local proxy
    assert reverse_proxy_warning(["127.0.0.1", "127.0.0.1"], EMBY) is not None


def test_describe_explains_each_session() -> None:
    lines = describe_sessions_payload(
        [jp.direct_play_remote(), jp.lan_session(), jp.idle_session(), jp.session(check_in_age=999, activity_age=999)],
        JELLYFIN, PRIVATE, NOW)
    assert "remote: 203.0.113.5 is outside the private ranges, 12000 kbit/s" in lines[0]
    assert "LAN: 192.168.1.20 is in the private ranges" in lines[1]
    assert "skipped, nothing playing" in lines[2] and "skipped, stale" in lines[3]
    proxied = describe_sessions_payload(jp.proxied_sessions(), JELLYFIN, PRIVATE, NOW)
    assert "KnownProxies" in proxied[-1]


def test_judge_session_reasons() -> None:
    assert judge_session("x", PRIVATE, NOW) == (None, "not a session object")
    session, why = judge_session(jp.session(remote_end_point="example.org:443"), PRIVATE, NOW)
    assert session.local is None and "no IP address" in why


# ----------------------------------------------------------------------------------- webhooks


@pytest.mark.parametrize("content_type, body, expected", [
    ("application/json", b'{"NotificationType": "PlaybackStart", "ServerName": "nas"}',
     "jellyfin webhook PlaybackStart"),
    ("application/json; charset=utf-8", b'{"NotificationType": "PlaybackStop"}', "jellyfin webhook PlaybackStop"),
    ("application/x-www-form-urlencoded", b"NotificationType=PlaybackStart&Name=Heat",
     "jellyfin webhook PlaybackStart"),
    ("application/json", b'{"NotificationType": "ItemAdded"}', None),
    ("application/json", b'{"NotificationType": "PlaybackProgress"}', None),
    ("application/json", b'{"Event": "playback.start", "Session": {"RemoteEndPoint": "1.2.3.4"}}',
     "emby webhook playback.start"),
    ("application/json", b'{"Event": "playback.unpause"}', "emby webhook playback.unpause"),
    ("application/json", b'{"Event": "library.new"}', None),
    ("application/json", b'{"event": "media.play"}', None),  # Plex's: for the caller's Plex path
    ("application/json", b"[1, 2]", None),
    ("application/json", b"{" * 100, None),
    ("application/json", b"\xff\xfe", None),
    ("image/png", b"\x89PNG", None),
])
def test_is_playback_webhook(content_type: str, body: bytes, expected: Any) -> None:
    assert is_playback_webhook(content_type, body) == expected


def test_emby_multipart_webhook_and_plex_multipart() -> None:
    emby = (b'--b\r\nContent-Disposition: form-data; name="data"\r\n\r\n{"Event": "playback.stop"}\r\n--b--\r\n')
    assert is_playback_webhook("multipart/form-data; boundary=b", emby) == "emby webhook playback.stop"
    plex = (b'--b\r\nContent-Disposition: form-data; name="payload"\r\n\r\n{"event": "media.play"}\r\n--b--\r\n')
    assert is_playback_webhook("multipart/form-data; boundary=b", plex) is None


@given(st.text(max_size=40), st.binary(max_size=300))
def test_is_playback_webhook_never_raises(content_type: str, body: bytes) -> None:
    result = is_playback_webhook(content_type, body)
    assert result is None or result.startswith(("jellyfin webhook ", "emby webhook "))


# ----------------------------------------------------------------------------------- the adapter


@pytest.fixture(params=[JELLYFIN, EMBY], ids=["jellyfin", "emby"])
def server(request: Any) -> Any:
    with JellyfinTestServer(request.param) as s:
        yield s


def source_for(server: JellyfinTestServer, **kw: Any) -> JellyfinStreamSource:
    kw.setdefault("timeout_sec", 3.0)
    return JellyfinStreamSource(server.kind, server.url, kw.pop("api_key", server.api_key), name="media", **kw)


def test_reads_sessions_with_the_kinds_auth(server: JellyfinTestServer) -> None:
    now = time.time()
    server.set_sessions([jp.direct_play_remote(now=now), jp.lan_session(now=now), jp.idle_session(now=now)])
    source = source_for(server)
    sessions = source.read_sessions()
    assert [(s.local, s.server) for s in sessions] == [(False, "media"), (True, "media")]
    path, headers = next(r for r in server.requests if r[0].endswith("/Sessions"))
    if server.kind is JELLYFIN:
        assert path == "/Sessions" and headers["Authorization"] == 'MediaBrowser Token="%s"' % DEFAULT_API_KEY
        assert "X-Emby-Token" not in headers
    else:
        assert path == "/emby/Sessions" and headers["X-Emby-Token"] == DEFAULT_API_KEY
    source.close()


def test_the_servers_lan_subnets_are_used(server: JellyfinTestServer) -> None:
    now = time.time()
    server.set_network(["192.168.50.0/24"])
    server.set_sessions([jp.lan_session("192.168.1.20", now=now), jp.lan_session("192.168.50.20", now=now)])
    clock = [now]
    source = source_for(server, clock=lambda: clock[0])
    assert [s.local for s in source.read_sessions()] == [False, True]
    asked = sum(1 for path, _ in server.requests if "Configuration" in path)
    source.read_sessions()
    assert sum(1 for path, _ in server.requests if "Configuration" in path) == asked  # cached
    assert "LocalNetworkSubnets" in source.describe_sessions()[-1]


def test_unreadable_network_config_falls_back_to_private_ranges(server: JellyfinTestServer) -> None:
    now = time.time()
    server.set_network(None, status=403)
    server.set_sessions([jp.lan_session("192.168.1.20", now=now)])
    assert [s.local for s in source_for(server).read_sessions()] == [True]


def test_configured_lan_networks_count(server: JellyfinTestServer) -> None:
    server.set_sessions([jp.session(remote_end_point="100.100.1.1", now=time.time())])
    source = source_for(server, lan_networks=[ipaddress.ip_network("100.64.0.0/10")])
    assert source.read_sessions()[0].local is True


def test_wrong_key_is_rejected_without_the_key(server: JellyfinTestServer) -> None:
    with pytest.raises(StreamSourceError) as info:
        source_for(server, api_key="wrong-key-123").read_sessions()
    assert info.value.kind is FailureKind.REJECTED and "check the API key" in str(info.value)
    assert "wrong-key-123" not in str(info.value)


def test_malformed_answers(server: JellyfinTestServer) -> None:
    source = source_for(server)
    for body, status in [(b"<html>login</html>", 200), (b'{"Items": []}', 200), (b"[1,", 200), (b"", 404)]:
        server.set_payload(body, status)
        with pytest.raises(StreamSourceError) as info:
            source.read_sessions()
        assert info.value.kind is FailureKind.MALFORMED and server.api_key not in str(info.value)
    server.set_payload(b"[]", 503)
    with pytest.raises(StreamSourceError) as info:
        source.read_sessions()
    assert info.value.kind is FailureKind.UNREACHABLE


def test_oversized_answer_is_malformed(server: JellyfinTestServer) -> None:
    server.set_payload(b"[" + b" " * (MAX_BODY_BYTES + 10) + b"]")
    with pytest.raises(StreamSourceError) as info:
        source_for(server).read_sessions()
    assert info.value.kind is FailureKind.MALFORMED and "over" in str(info.value)


def test_unreachable_is_plain() -> None:
    with JellyfinTestServer(JELLYFIN) as s:
        url = s.url
    with pytest.raises(StreamSourceError) as info:
        JellyfinStreamSource(JELLYFIN, url, "the-key-xyz", timeout_sec=2).read_sessions()
    assert info.value.kind is FailureKind.UNREACHABLE and "the-key-xyz" not in str(info.value)


def test_server_info(server: JellyfinTestServer) -> None:
    info = source_for(server, api_key="not-needed").server_info()
    assert info.version == "10.10.7" and info.name == "nas"
    assert str(info).startswith("Jellyfin Server" if server.kind is JELLYFIN else "Emby Server")
    assert source_for(server).server_version() == "10.10.7"


def test_200_sessions_over_http(server: JellyfinTestServer) -> None:
    server.set_sessions(jp.many_sessions(200, now=time.time()))
    assert len(source_for(server).read_sessions()) == len(parse(jp.many_sessions(200)))


@pytest.mark.parametrize("url", ["ftp://x", "http://", "host:8096", "http://[::1"])
def test_bad_urls_and_keys(url: str) -> None:
    with pytest.raises(ValueError):
        JellyfinStreamSource(JELLYFIN, url, "key")
    with pytest.raises(ValueError):
        JellyfinStreamSource(JELLYFIN, "http://127.0.0.1:8096", 'bad"key')


def test_url_is_cleaned_of_secrets() -> None:
    source = JellyfinStreamSource(EMBY, "https://user:pw@[::1]:8920/base/?api_key=x#f", "key")
    assert source.url == "https://[::1]:8920/base"
