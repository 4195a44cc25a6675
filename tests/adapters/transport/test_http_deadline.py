"""Every request to Plex or qBittorrent has one deadline for the whole exchange and a size cap.

The stand-ins misbehave the way a hostile test round found: a status line or a body one byte at a
time (each socket read gets a byte, so a per-read timeout never fires), a Content-Length of 1 GiB,
TLS on one side only, and qbittorrent_url pointing at Plex.
"""
from __future__ import annotations

import tracemalloc

import pytest

from adapters.transport.http import HttpClient, HttpTransportError
from adapters.media.plex.source import PlexStreamSource
from adapters.clients.qbittorrent.client import MAX_ANSWER_BYTES, QBittorrentClient
from domain.ports import FailureKind, StreamSourceError, DownloadClientError
from tests.support.hostile_http import (
    HostileServer,
    answer,
    endless_body,
    run_bounded,
    tls_alert,
    trickle_body,
    trickle_head,
)

TIMEOUT = 0.5
BOUND = 10  # before the change these calls took 200 s and more


def plex(server: HostileServer) -> PlexStreamSource:
    return PlexStreamSource(server.url, "token", timeout_sec=TIMEOUT)


def qbittorrent(server: HostileServer) -> QBittorrentClient:
    return QBittorrentClient(server.url, timeout_sec=TIMEOUT)


@pytest.mark.parametrize("behaviour", [trickle_head(), trickle_body()], ids=["head", "body"])
def test_a_trickling_plex_is_a_failed_read_within_the_deadline(behaviour):
    with HostileServer(behaviour) as server:
        error = run_bounded(plex(server).read_sessions, BOUND)
    assert isinstance(error, StreamSourceError), error
    assert error.kind is FailureKind.UNREACHABLE
    assert str(error) == "Plex not reachable at %s: no complete answer within 0.5 s (timed out)" % server.url


@pytest.mark.parametrize("behaviour", [trickle_head(), trickle_body(b"1000")], ids=["head", "body"])
def test_a_trickling_qbittorrent_is_unreachable_within_the_deadline(behaviour):
    with HostileServer(behaviour) as server:
        error = run_bounded(qbittorrent(server).current_upload_limit, BOUND)
    assert isinstance(error, DownloadClientError), error
    assert error.kind is FailureKind.UNREACHABLE and "no complete answer within 0.5 s" in str(error)


def test_the_next_request_after_a_cut_one_works_on_a_new_connection():
    calls = []

    def first_trickles_then_answers(conn, server):
        calls.append(1)
        behaviour = trickle_body() if len(calls) == 1 else answer(200, b"2048")
        behaviour(conn, server)

    with HostileServer(first_trickles_then_answers) as server:
        limiter = qbittorrent(server)
        assert isinstance(run_bounded(limiter.current_upload_limit, BOUND), DownloadClientError)
        assert limiter.current_upload_limit() == 2048


def test_a_gigabyte_from_qbittorrent_is_refused_after_the_cap_without_reading_it():
    with HostileServer(endless_body()) as server:
        limiter = qbittorrent(server)
        tracemalloc.start()
        try:
            error = run_bounded(limiter.current_upload_limit, BOUND)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert isinstance(error, DownloadClientError), error
    assert error.kind is FailureKind.MALFORMED
    assert "more than %d bytes" % MAX_ANSWER_BYTES in str(error)
    assert peak < 8 * MAX_ANSWER_BYTES  # the answer was not read into memory


def test_the_client_cap_holds_for_any_caller():
    with HostileServer(endless_body()) as server:
        client = HttpClient(TIMEOUT, max_body_bytes=1000)
        got = client.request("GET", server.url + "/")
    assert got.truncated and len(got.body) == 1000


def test_a_plain_request_to_a_tls_port_says_to_use_https():
    with HostileServer(tls_alert()) as server:
        error = run_bounded(qbittorrent(server).current_upload_limit, BOUND)
    assert isinstance(error, DownloadClientError)
    assert "speaks HTTPS on this port: use an https:// URL" in str(error)


def test_an_https_url_to_a_plain_http_server_asks_whether_it_is_https(plex_server):
    url = plex_server.url.replace("http://", "https://")
    with pytest.raises(StreamSourceError) as info:
        PlexStreamSource(url, "token", timeout_sec=2).read_sessions()
    assert "TLS handshake failed (is the server HTTPS?" in str(info.value)


PLEX_401 = b"<html><head><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>"


@pytest.mark.parametrize("headers", [b"X-Plex-Protocol: 1.0\r\n", b"Content-Type: text/html\r\n"])
def test_qbittorrent_url_pointing_at_plex_says_so(headers):
    with HostileServer(answer(401, PLEX_401, headers)) as server:
        limiter = QBittorrentClient(server.url, username="admin", password="pw", timeout_sec=TIMEOUT)
        with pytest.raises(DownloadClientError) as info:
            limiter.current_upload_limit()
    message = str(info.value)
    assert "does not look like qBittorrent's Web UI: it answers like Plex Media Server" in message
    assert "Host header" not in message and "password" not in message


def test_qbittorrent_s_own_401_still_points_at_the_host_check():
    with HostileServer(answer(401, b"Unauthorized")) as server:
        with pytest.raises(DownloadClientError) as info:
            qbittorrent(server).current_upload_limit()
    assert "host/port must match" in str(info.value)


def test_transport_errors_never_carry_the_url():
    with HostileServer(trickle_head()) as server:
        with pytest.raises(HttpTransportError) as info:
            HttpClient(0.3).request("GET", server.url + "/secret-path?token=abc")
    assert "secret" not in str(info.value) and "abc" not in str(info.value)
