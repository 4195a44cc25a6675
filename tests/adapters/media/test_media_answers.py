"""An answer that was not read to its end and decoded completely is a failed read, never "nobody streams".

Plex, Jellyfin and Emby polls against raw-socket stand-ins that misbehave on purpose: each hostile
answer must raise StreamSourceError within the deadline (plus the decoding of a capped answer), so
the throttle holds instead of lifting on a misread.
"""
from __future__ import annotations

import gzip
import time
import tracemalloc
import zlib
from typing import Callable, Tuple

import pytest

from adapters.media.jellyfin.source import EMBY, JELLYFIN, JellyfinStreamSource, LanNetworks
from adapters.media.plex.source import PlexStreamSource
from domain.ports import FailureKind, StreamSourceError
from tests.support.hostile_http import HostileServer, endless_trailers, raw, run_bounded, trickle_body

TIMEOUT = 0.5
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
EMPTY = {"plex": b'{"MediaContainer": {"size": 0}}', "jellyfin": b"[]", "emby": b"[]"}
ONE = {
    "plex": b'{"MediaContainer": {"size": 1, "Metadata": [{"Player": {"state": "playing", "local": false}}]}}',
    "jellyfin": b'[{"NowPlayingItem": {"Name": "x"}, "RemoteEndPoint": "203.0.113.5"}]',
}
ONE["emby"] = ONE["jellyfin"]


def poller(kind: str, url: str) -> Callable[[], Tuple[object, ...]]:
    if kind == "plex":
        return PlexStreamSource(url, "token", timeout_sec=TIMEOUT).read_sessions
    source = JellyfinStreamSource(JELLYFIN if kind == "jellyfin" else EMBY, url, "key", timeout_sec=TIMEOUT)
    source._networks, source._networks_until = LanNetworks.build(), float("inf")  # no network-config request
    return source.read_sessions


def failed_read(kind: str, behaviour, bound: float = TIMEOUT + 3) -> StreamSourceError:
    with HostileServer(behaviour) as server:
        started = time.monotonic()
        error = run_bounded(poller(kind, server.url), bound)
        assert time.monotonic() - started < bound
    assert isinstance(error, StreamSourceError), error
    assert error.kind in (FailureKind.UNREACHABLE, FailureKind.MALFORMED)
    return error


def body_with(head: bytes, body: bytes) -> bytes:
    return OK + head + b"Content-Length: %d\r\n\r\n" % len(body) + body


KINDS = pytest.mark.parametrize("kind", ["plex", "jellyfin", "emby"])


@KINDS
def test_the_stand_in_answers_are_read_when_whole(kind: str) -> None:
    with HostileServer(raw(body_with(b"Content-Encoding: gzip\r\n", gzip.compress(ONE[kind])))) as server:
        assert len(poller(kind, server.url)()) == 1


@KINDS
@pytest.mark.parametrize("encoding, compress", [(b"gzip", gzip.compress), (b"deflate", zlib.compress)])
def test_a_compressed_answer_cut_before_its_end(kind: str, encoding: bytes, compress) -> None:
    packed = compress(ONE[kind])
    error = failed_read(kind, raw(body_with(b"Content-Encoding: %s\r\n" % encoding, packed[:-6])))
    assert "the compressed answer was cut before its end" in str(error)


@KINDS
def test_a_body_shorter_than_its_content_length(kind: str) -> None:
    error = failed_read(kind, raw(OK + b"Content-Length: 500\r\n\r\n" + EMPTY[kind], close=True))
    assert "the answer ended before its end" in str(error)


@KINDS
def test_bad_chunked_framing(kind: str) -> None:
    error = failed_read(kind, raw(OK + b"Transfer-Encoding: chunked\r\n\r\n" + b"2z\r\n" + EMPTY[kind], close=True))
    assert "broken chunked framing" in str(error)


@KINDS
def test_endless_trailer_lines_after_the_last_chunk(kind: str) -> None:
    tracemalloc.start()
    try:
        error = failed_read(kind, endless_trailers())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "no complete answer within 0.5 s" in str(error)
    assert peak < 2_000_000


@KINDS
def test_a_trickled_body_ends_at_the_deadline(kind: str) -> None:
    assert "no complete answer within 0.5 s" in str(failed_read(kind, trickle_body(EMPTY[kind], every_sec=0.05)))


@KINDS
@pytest.mark.parametrize("body", [b"<html><body>proxy login</body></html>", b"not json", b'{"MediaContainer": ',
                                  b"\xff\xfe\x00\x01"])
def test_a_body_that_is_not_json(kind: str, body: bytes) -> None:
    error = failed_read(kind, raw(body_with(b"", body)))
    assert error.kind is FailureKind.MALFORMED and "is not session JSON" in str(error)


@KINDS
def test_a_391_kb_answer_nested_200000_deep_fails_fast(kind: str) -> None:
    deep = b"[" * 195_000 + b"]" * 195_000
    started = time.monotonic()
    error = failed_read(kind, raw(body_with(b"", b'{"MediaContainer": {"Metadata": [' + deep + b"]}}")))
    assert time.monotonic() - started < 1.5
    assert error.kind is FailureKind.MALFORMED and "nested more than 64 deep" in str(error)


@KINDS
def test_8_mib_of_empty_objects_is_refused_in_bounded_memory(kind: str) -> None:
    body = b"[" + b"{}," * (8 * 1024 * 1024 // 3 - 2) + b"{}]"
    with HostileServer(raw(body_with(b"", body))) as server:
        read = poller(kind, server.url)
        tracemalloc.start()
        try:
            error = run_bounded(read, 10)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert isinstance(error, StreamSourceError) and error.kind is FailureKind.MALFORMED
    assert "more than 300000 values" in str(error)
    assert peak < 40_000_000  # the body, its structure bytes: not 2.8 million dicts (about 250 MB)
