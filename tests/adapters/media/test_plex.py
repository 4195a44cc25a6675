"""PlexStreamSource against a local fake Plex, and parse_sessions on its own."""
from __future__ import annotations

import json
import time
from typing import Any, Dict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.media.plex.source import PlexStreamSource
from adapters.media.plex.sessions import DEFAULT_STREAM_KBPS, SessionPayloadError, parse_sessions
from domain.ports import FailureKind, StreamSourceError
from domain.sessions import PlaybackSession, RemoteStreamRule
from tests.support.plex_payloads import (
    container,
    lan_track,
    legacy_string_typed,
    plexamp_track,
    relayed_episode,
    remote_movie,
    session_item,
    without_session,
)
from tests.support.plex_server import EVENTS_PATH, SESSIONS_PATH, PlexTestServer
from tests.support.ports import free_port

FACTS_EXAMPLE = json.loads("""{"MediaContainer":{"size":2,"Metadata":[
 {"ratingKey":"4021","sessionKey":"12","type":"movie","title":"Heat",
  "User":{"id":"48213752","title":"friend"},
  "Player":{"address":"203.0.113.45","product":"Plex for Android (TV)","remotePublicAddress":"203.0.113.45",
   "state":"playing","title":"SHIELD Android TV","local":false,"relayed":false,"secure":true,"userID":48213752},
  "Session":{"id":"k7w2rm1pq9x3z5c8v0b4n6m1","bandwidth":8127,"location":"wan"},
  "TranscodeSession":{"key":"/transcode/sessions/0f3c2a","throttled":false}},
 {"ratingKey":"67085","sessionKey":"203","type":"track","title":"Some Song",
  "User":{"id":"1","title":"owner"},
  "Player":{"address":"10.10.10.171","product":"Plex for Windows","remotePublicAddress":"198.51.100.20",
   "state":"paused","title":"DESKTOP","local":true,"relayed":false,"secure":true,"userID":1},
  "Session":{"id":"93h7e00ncblxncqw9lkfaoxi","bandwidth":1050,"location":"lan"}}]}}""")


def source(server: PlexTestServer, **kw: Any) -> PlexStreamSource:
    kw.setdefault("timeout_sec", 2.0)
    return PlexStreamSource(base_url=server.url, token=kw.pop("token", server.token), **kw)


def failure(server: PlexTestServer, **kw: Any) -> StreamSourceError:
    with pytest.raises(StreamSourceError) as caught:
        source(server, **kw).read_sessions()
    assert server.token not in str(caught.value)
    return caught.value


# -- payload variants through HTTP ---------------------------------------------------------------
def test_no_metadata_means_no_sessions(plex_server: PlexTestServer) -> None:
    plex_server.set_payload(b'{"MediaContainer":{"size":0}}')
    assert source(plex_server).read_sessions() == ()


def test_one_remote_session(plex_server: PlexTestServer) -> None:
    plex_server.set_sessions([remote_movie(user="friend", bandwidth=8127)])
    assert source(plex_server).read_sessions() == (
        PlaybackSession(state="playing", local=False, location="wan", relayed=False, bandwidth_kbps=8127,
                        user="friend", player="SHIELD Android TV", address="203.0.113.45"),
    )


def test_facts_file_example(plex_server: PlexTestServer) -> None:
    plex_server.set_payload(json.dumps(FACTS_EXAMPLE).encode())
    remote, lan = source(plex_server).read_sessions()
    assert remote == PlaybackSession("playing", False, "wan", False, 8127, "friend", "SHIELD Android TV", "203.0.113.45")
    assert lan == PlaybackSession("paused", True, "lan", False, 1050, "owner", "DESKTOP", "10.10.10.171")


def test_mixed_sessions_keep_order_and_feed_the_rule(plex_server: PlexTestServer) -> None:
    plex_server.set_sessions([lan_track(state="playing"), remote_movie(user="a"), relayed_episode(user="b"),
                              remote_movie(user="c", state="paused")])
    sessions = source(plex_server).read_sessions()
    assert [s.user for s in sessions] == ["owner", "a", "b", "c"]
    assert [s.user for s in RemoteStreamRule().remote_sessions(sessions)] == ["a", "b"]


def test_string_typed_old_server(plex_server: PlexTestServer) -> None:
    plex_server.set_sessions([legacy_string_typed(bandwidth=4000), legacy_string_typed(user="me", local=True)])
    far, near = source(plex_server).read_sessions()
    assert (far.local, far.location, far.relayed, far.bandwidth_kbps) == (False, "wan", False, 4000)
    assert (near.local, near.location, near.user) == (True, "lan", "me")


def test_without_session_leaves_location_unknown(plex_server: PlexTestServer) -> None:
    plex_server.set_sessions([without_session(local=False), without_session(user="home", local=True)])
    far, near = source(plex_server).read_sessions()
    assert (far.location, far.local, far.bandwidth_kbps) == (None, False, DEFAULT_STREAM_KBPS)
    assert (near.location, near.local) == (None, True)
    assert RemoteStreamRule().remote_sessions((far, near)) == (far,)


def test_without_session_a_stream_reserves_its_media_bitrate_else_the_configured_default(
    plex_server: PlexTestServer,
) -> None:
    plex_server.set_sessions([plexamp_track(bitrate=1411), plexamp_track(user="other", bitrate=None)])
    flac, unknown = source(plex_server, default_stream_kbps=3000).read_sessions()
    assert (flac.player, flac.location, flac.local, flac.bandwidth_kbps) == ("Plexamp", None, False, 1411)
    assert unknown.bandwidth_kbps == 3000
    assert RemoteStreamRule().remote_sessions((flac, unknown)) == (flac, unknown)


def test_the_selected_media_gives_the_bitrate() -> None:
    item = plexamp_track(bitrate=320)
    item["Media"].insert(0, {"id": "1", "bitrate": 9000, "selected": False})
    assert parse_sessions(container([item]))[0].bandwidth_kbps == 320
    item["Media"] = [{"id": "1", "bitrate": "nan"}, "odd"]
    assert parse_sessions(container([item]), default_stream_kbps=500)[0].bandwidth_kbps == 500


def test_relayed_by_flag_and_by_loopback_public_address(plex_server: PlexTestServer) -> None:
    plex_server.set_sessions([relayed_episode(flag=True), relayed_episode(flag=False)])
    assert [s.relayed for s in source(plex_server).read_sessions()] == [True, True]


def test_ipv4_mapped_address_is_unmapped(plex_server: PlexTestServer) -> None:
    plex_server.set_sessions([remote_movie(address="::ffff:203.0.113.45")])
    assert source(plex_server).read_sessions()[0].address == "203.0.113.45"


@pytest.mark.parametrize(
    "body, content_type, hint",
    [
        (b'<?xml version="1.0"?><MediaContainer size="0"/>', "text/xml", "XML"),
        (b"<html><body>Sign in</body></html>", "text/html", "HTML"),
        (b'{"MediaContainer":{"size":1,"Metadata":[{"Player":', "application/json", "truncated"),
        (b'{"errors":[{"code":1001}]}', "application/json", "MediaContainer"),
        (b'[{"MediaContainer":{}}]', "application/json", "not a JSON object"),
        (b'{"MediaContainer":{"size":1,"Metadata":"x"}}', "application/json", "Metadata"),
        (b"", "application/json", "empty"),
        (b"\xff\xfe\x00garbage", "application/octet-stream", "JSON"),
    ],
)
def test_not_session_json_is_malformed(plex_server: PlexTestServer, body: bytes, content_type: str, hint: str) -> None:
    plex_server.set_payload(body, content_type)
    error = failure(plex_server)
    assert error.kind is FailureKind.MALFORMED
    assert str(error).startswith("Plex returned something that is not session JSON")
    assert hint in str(error)


def test_client_that_forgets_accept_gets_xml_which_is_malformed(plex_server: PlexTestServer) -> None:
    # The fake answers XML like Plex when Accept lacks JSON; the adapter must say so, not "no streams".
    import urllib3

    plex_server.set_sessions([remote_movie()])
    raw = urllib3.request("GET", plex_server.url + SESSIONS_PATH, headers={"X-Plex-Token": plex_server.token})
    assert raw.data.startswith(b"<?xml") and b'<Player address="203.0.113.45"' in raw.data
    plex_server.set_payload(raw.data, "text/xml")
    assert failure(plex_server).kind is FailureKind.MALFORMED


# -- HTTP failures -------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [401, 403])
def test_rejected_token(plex_server: PlexTestServer, status: int) -> None:
    if status == 401:
        error = failure(plex_server, token="wrong-token")  # the fake's own 401 with an HTML body
    else:
        plex_server.set_status(403)
        error = failure(plex_server)
    assert error.kind is FailureKind.REJECTED
    assert str(error) == "Plex rejected the token (%d) at %s" % (status, plex_server.url)
    assert "wrong-token" not in str(error)


def test_server_error_is_unreachable(plex_server: PlexTestServer) -> None:
    plex_server.set_status(500)
    error = failure(plex_server)
    assert error.kind is FailureKind.UNREACHABLE
    assert str(error) == "Plex answered 500 at %s" % plex_server.url


def test_not_found_points_at_the_url(plex_server: PlexTestServer) -> None:
    plex_server.set_status(404)
    error = failure(plex_server)
    assert error.kind is FailureKind.MALFORMED
    assert str(error).startswith("Plex answered 404 at %s" % plex_server.url)


def test_server_that_never_answers_times_out(plex_server: PlexTestServer) -> None:
    plex_server.set_delay(30)
    started = time.monotonic()
    error = failure(plex_server, timeout_sec=0.5)
    assert time.monotonic() - started < 5
    assert error.kind is FailureKind.UNREACHABLE
    assert str(error) == "Plex not reachable at %s: no complete answer within 0.5 s (timed out)" % plex_server.url


def test_connection_refused() -> None:
    port = free_port()  # nothing listens there
    adapter = PlexStreamSource(base_url="http://127.0.0.1:%d" % port, token="secret-token", timeout_sec=2)
    with pytest.raises(StreamSourceError) as caught:
        adapter.read_sessions()
    assert caught.value.kind is FailureKind.UNREACHABLE
    assert str(caught.value) == "Plex not reachable at http://127.0.0.1:%d: connection refused" % port


def test_messages_drop_userinfo_query_and_trailing_slash(plex_server: PlexTestServer) -> None:
    plex_server.set_status(500)
    url = plex_server.url.replace("http://", "http://admin:hunter2@") + "/?X-Plex-Token=" + plex_server.token
    adapter = PlexStreamSource(base_url=url, token=plex_server.token)
    with pytest.raises(StreamSourceError) as caught:
        adapter.read_sessions()
    assert str(caught.value) == "Plex answered 500 at %s" % plex_server.url
    assert plex_server.requests[-1].target == SESSIONS_PATH


def test_bad_url_and_bad_token_fail_at_construction_without_echoing_the_token() -> None:
    with pytest.raises(ValueError):
        PlexStreamSource(base_url="127.0.0.1:32400", token="t")
    with pytest.raises(ValueError) as caught:
        PlexStreamSource(base_url="http://127.0.0.1:32400", token="abc\r\nX-Evil: 1")
    assert "abc" not in str(caught.value)


# -- headers, connection reuse, identity ---------------------------------------------------------
def test_token_only_in_header_and_plex_headers_sent(plex_server: PlexTestServer) -> None:
    source(plex_server, client_identifier="test-client", product_version="1.2.3").read_sessions()
    request = plex_server.requests[-1]
    assert request.target == SESSIONS_PATH and plex_server.token not in request.target
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["x-plex-token"] == plex_server.token
    assert headers["accept"] == "application/json"
    assert headers["x-plex-product"] == "plex-helper"
    assert headers["x-plex-version"] == "1.2.3"
    assert headers["x-plex-client-identifier"] == "test-client"
    assert [v for k, v in headers.items() if k != "x-plex-token" and plex_server.token in v] == []


def test_reads_reuse_one_connection(plex_server: PlexTestServer) -> None:
    adapter = source(plex_server)
    plex_server.set_sessions([remote_movie()])
    for _ in range(5):
        assert len(adapter.read_sessions()) == 1
    plex_server.set_status(500)  # an error answer with a body keeps the connection usable too
    for _ in range(2):
        with pytest.raises(StreamSourceError):
            adapter.read_sessions()
    assert plex_server.request_count[SESSIONS_PATH] == 7
    assert plex_server.connection_count == 1


def test_recovers_after_server_comes_back(plex_server: PlexTestServer) -> None:
    adapter = source(plex_server)
    plex_server.set_status(503)
    with pytest.raises(StreamSourceError):
        adapter.read_sessions()
    plex_server.set_sessions([remote_movie()])
    assert len(adapter.read_sessions()) == 1


def test_server_version(plex_server: PlexTestServer) -> None:
    assert source(plex_server).server_version() == plex_server.version
    assert plex_server.request_count["/identity"] == 1


def test_token_with_whitespace_is_trimmed(plex_server: PlexTestServer) -> None:
    PlexStreamSource(base_url=plex_server.url, token=" %s\n" % plex_server.token).read_sessions()


# -- the fake's event stream (for the SSE watcher's tests) ---------------------------------------
def test_fake_event_stream_delivers_playing_events() -> None:
    import urllib3

    with PlexTestServer(ping_interval=0.2) as server:
        pool = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2, read=2), retries=False)
        stream = pool.request("GET", server.url + EVENTS_PATH + "?filters=playing",
                              headers={"X-Plex-Token": server.token}, preload_content=False)
        assert stream.status == 200 and stream.headers["Content-Type"] == "text/event-stream"
        assert server.wait_for_sse_clients(1, timeout=2)
        assert server.emit_playing_event(state="paused", session_key=None) == 1
        first = stream.readline() + stream.readline()
        message = json.loads(first.decode().split("data: ", 1)[1])
        notification = message["NotificationContainer"]["PlaySessionStateNotification"][0]
        assert notification["state"] == "paused" and "sessionKey" not in notification
        assert stream.readline() + stream.readline() == b"event: ping\n" + b"data: {}\n"
        stream.release_conn()
    assert time.monotonic()  # stop() returned although the stream was open


# -- parse_sessions on its own -------------------------------------------------------------------
@pytest.mark.parametrize("payload", [None, [], "x", 3, {}, {"MediaContainer": None}, {"MediaContainer": []},
                                     {"MediaContainer": {"Metadata": 5}}])
def test_parse_rejects_non_containers(payload: object) -> None:
    with pytest.raises(SessionPayloadError):
        parse_sessions(payload)


def test_parse_skips_items_without_player_or_not_objects() -> None:
    good = remote_movie(user="kept")
    no_player = remote_movie(user="dropped")
    del no_player["Player"]
    assert [s.user for s in parse_sessions(container([1, "x", None, no_player, good]))] == ["kept"]


@pytest.mark.parametrize(
    "raw, expected",
    [(True, True), (False, False), (1, True), (0, False), ("1", True), ("0", False), ("true", True),
     ("False", False), (" TRUE ", True), ("yes", None), (2, None), (None, None), ([], None)],
)
def test_parse_reads_booleans_defensively(raw: object, expected: object) -> None:
    (session,) = parse_sessions(container([session_item(local=raw, location=None)]))
    assert session.local is expected


@pytest.mark.parametrize(
    "raw, expected",
    [(8127, 8127), ("8127", 8127), (" 8127 ", 8127), (8127.9, 8127), ("8127.5", 8127), (10_000_000, 10_000_000)]
    # unreadable or not positive: the configured estimate, never 0 (no Media bitrate in these items)
    + [(raw, DEFAULT_STREAM_KBPS) for raw in (None, "", "fast", -5, 0, True, "nan", "1e999", [1])],
)
def test_parse_reads_bandwidth_defensively(raw: object, expected: int) -> None:
    item = session_item()
    item["Session"]["bandwidth"] = raw
    assert parse_sessions(container([item]))[0].bandwidth_kbps == expected


def test_parse_relayed_rules() -> None:
    def relayed(**kw: Any) -> bool:
        return parse_sessions(container([session_item(**kw)]))[0].relayed

    assert relayed(relayed=True, location="lan", local=True)  # the flag always wins
    assert relayed(remote_public_address="127.0.0.1", location="wan")
    assert relayed(remote_public_address="::ffff:127.0.0.1", location="cellular")
    assert not relayed(remote_public_address="127.0.0.1", location="lan")  # a player on the server itself
    assert not relayed(remote_public_address="127.0.0.1", location=None, local=True)
    assert relayed(remote_public_address="127.0.0.1", location=None, local=None)
    assert not relayed(remote_public_address="198.51.100.20", location="wan")


def test_parse_field_fallbacks() -> None:
    item: Dict[str, Any] = {"Player": {"state": "Playing", "product": "Plexamp", "address": "::FFFF:10.0.0.2"},
                            "Session": [{"location": "WAN", "bandwidth": "10"}], "unknown": {"x": 1}}
    (session,) = parse_sessions(container([item]))
    assert session == PlaybackSession(state="playing", local=None, location="wan", relayed=False,
                                      bandwidth_kbps=10, user="", player="Plexamp", address="10.0.0.2")
    v6 = session_item(address="2001:db8::1")
    assert parse_sessions(container([v6]))[0].address == "2001:db8::1"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
field_values = st.one_of(json_values, st.sampled_from(["1", "0", "true", "lan", "wan", "127.0.0.1", "::ffff:1.2.3.4"]))
fuzzed_item = st.fixed_dictionaries(
    {},
    optional={
        "Player": st.dictionaries(st.sampled_from(["state", "local", "relayed", "address", "title", "product",
                                                   "remotePublicAddress"]), field_values) | json_values,
        "Session": st.dictionaries(st.sampled_from(["location", "bandwidth", "id"]), field_values) | json_values,
        "User": st.dictionaries(st.sampled_from(["title", "id"]), field_values) | json_values,
        "Media": st.lists(st.dictionaries(st.sampled_from(["bitrate", "selected"]), field_values), max_size=3)
        | json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, st.lists(fuzzed_item | json_values, max_size=5).map(container)))
def test_parse_never_crashes(payload: object) -> None:
    try:
        sessions = parse_sessions(payload)
    except SessionPayloadError:
        return
    for session in sessions:
        assert isinstance(session.state, str) and isinstance(session.user, str) and isinstance(session.player, str)
        assert isinstance(session.bandwidth_kbps, int) and session.bandwidth_kbps >= 1
        assert session.local in (True, False, None) and isinstance(session.relayed, bool)
        assert not session.address.lower().startswith("::ffff:") or "." not in session.address


@settings(max_examples=100, deadline=None)
@given(st.lists(st.builds(session_item, user=st.text(max_size=10), bandwidth=st.integers(1, 10**6),
                          state=st.sampled_from(["playing", "paused", "buffering"]),
                          location=st.sampled_from(["lan", "wan", "cellular"]), local=st.booleans(),
                          relayed=st.booleans()), max_size=5))
def test_parse_round_trips_builder_items(items: list) -> None:
    sessions = parse_sessions(json.loads(json.dumps(container(items))))
    assert [(s.user, s.bandwidth_kbps, s.state, s.location, s.local) for s in sessions] == [
        (i["User"]["title"], i["Session"]["bandwidth"], i["Player"]["state"], i["Session"]["location"],
         i["Player"]["local"]) for i in items
    ]


def test_survives_the_server_dropping_idle_connections(plex_server: PlexTestServer) -> None:
    adapter = source(plex_server)
    plex_server.set_sessions([remote_movie()])
    assert len(adapter.read_sessions()) == 1
    plex_server.drop_connections()
    time.sleep(0.05)  # let the FIN arrive, as it would during a poll interval
    assert len(adapter.read_sessions()) == 1
    assert plex_server.connection_count == 2


def test_oversized_body_is_malformed_and_does_not_poison_the_pool(plex_server: PlexTestServer) -> None:
    import adapters.media.plex.source as plex_module

    adapter = source(plex_server)
    plex_server.set_sessions([remote_movie()] * 3)
    limit = plex_module.MAX_BODY_BYTES
    try:
        plex_module.MAX_BODY_BYTES = 100
        error = pytest.raises(StreamSourceError, adapter.read_sessions).value
    finally:
        plex_module.MAX_BODY_BYTES = limit
    assert error.kind is FailureKind.MALFORMED and "over 100 bytes" in str(error)
    assert len(adapter.read_sessions()) == 3


def test_fake_counters_reset(plex_server: PlexTestServer) -> None:
    adapter = source(plex_server)
    adapter.read_sessions()
    plex_server.reset_counters()
    assert plex_server.request_count[SESSIONS_PATH] == 0 and plex_server.requests == []
    adapter.read_sessions()
    assert plex_server.request_count[SESSIONS_PATH] == 1 and plex_server.connection_count == 1


def test_https_verifies_by_default_and_accepts_a_ca_file_or_no_verify(plex_tls_server: PlexTestServer) -> None:
    plex_tls_server.set_sessions([remote_movie()])
    assert plex_tls_server.url.startswith("https://")
    error = failure(plex_tls_server)
    assert error.kind is FailureKind.UNREACHABLE
    assert str(error).startswith("Plex not reachable at %s: TLS " % plex_tls_server.url)
    assert len(source(plex_tls_server, ca_file=plex_tls_server.tls[0]).read_sessions()) == 1
    assert len(source(plex_tls_server, verify_tls=False).read_sessions()) == 1
    assert source(plex_tls_server, ca_file=plex_tls_server.tls[0]).server_version() == plex_tls_server.version


def test_untrusted_certificate_is_named_as_such(plex_tls_server: PlexTestServer) -> None:
    assert "TLS certificate not trusted" in str(failure(plex_tls_server))
