"""The status server through real HTTP on 127.0.0.1, with a fake backend; and its client."""
from __future__ import annotations

import json
import urllib.request
import logging
import os
import socket
import threading
import time
from typing import Any, Dict, List, Tuple

import pytest
import urllib3

from adapters.status.server import (
    METRICS_CONTENT_TYPE,
    StatusClient,
    StatusClientError,
    StatusHttpServer,
    StatusServerError,
    parse_listen,
    url_for_listen,
)
from tests.support.status_backend import FakeBackend
from application.observers.metrics import MetricsRegistry
from tests.support.ports import free_port
from tests.support.waiting import wait_until

TOKEN = "s3cret-t0ken"


@pytest.fixture
def backend():
    return FakeBackend()


@pytest.fixture
def make_server(backend):
    started: List[StatusHttpServer] = []

    def make(token: str = "", **kwargs: Any) -> StatusHttpServer:
        server = StatusHttpServer("127.0.0.1:0", backend, token=token, **kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server):
    return make_server()


@pytest.fixture
def secured(make_server):
    return make_server(token=TOKEN)


@pytest.fixture
def http():
    pool = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=5), retries=False)
    yield pool
    pool.clear()


def body_of(response) -> Any:
    assert response.headers["Content-Type"] == "application/json"
    return json.loads(response.data)


def bearer(token: str = TOKEN) -> Dict[str, str]:
    return {"Authorization": "Bearer " + token}


def raw_connection(server: StatusHttpServer) -> socket.socket:
    sock = socket.create_connection(server.address, timeout=5)
    return sock


def read_response(sock: socket.socket) -> Tuple[int, Dict[str, str], bytes]:
    """Reads one response with a Content-Length from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


# --- Plex's webhook, as Plex Media Server sends it -------------------------------------------------

PLEX_BOUNDARY = "------------------------d74496d66958873e"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + os.urandom(4000) + b"\xff\xd9"


def plex_payload(event: str = "media.play") -> Dict[str, Any]:
    return {
        "event": event,
        "user": True,
        "owner": True,
        "Account": {"id": 1, "thumb": "https://plex.tv/users/1a2b3c/avatar?c=1", "title": "owner"},
        "Server": {"title": "NAS", "uuid": "54664a3d8acc39983675640ec9ce00b70af9cc36"},
        "Player": {
            "local": False,
            "publicAddress": "203.0.113.7",
            "title": "Living Room TV",
            "uuid": "r7ze4b4fvvq0b1ffbd3dnnvx",
        },
        "Metadata": {
            "librarySectionType": "movie",
            "ratingKey": "1936",
            "key": "/library/metadata/1936",
            "guid": "plex://movie/5d776826880197001ec90b9a",
            "studio": "Blender Foundation",
            "type": "movie",
            "title": "Big Buck Bunny – “quoted” ünïcode",
            "librarySectionTitle": "Movies",
            "librarySectionID": 1,
            "contentRating": "G",
            "summary": "A giant rabbit...\nsecond line",
            "year": 2008,
            "thumb": "/library/metadata/1936/thumb/1700000000",
            "addedAt": 1700000000,
        },
    }


def plex_multipart(payload: Any, with_thumb: bool = True, boundary: str = PLEX_BOUNDARY) -> Tuple[bytes, Dict[str, str]]:
    """The body and headers of Plex's webhook POST (multipart/form-data, payload + optional thumb)."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode("utf-8")
    parts = [
        b"--" + boundary.encode() + b"\r\n"
        b'Content-Disposition: form-data; name="payload"\r\n'
        b"Content-Type: application/json\r\n\r\n" + raw + b"\r\n",
    ]
    if with_thumb:
        parts.append(
            b"--" + boundary.encode() + b"\r\n"
            b'Content-Disposition: form-data; name="thumb"; filename="image.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + JPEG + b"\r\n"
        )
    body = b"".join(parts) + b"--" + boundary.encode() + b"--\r\n"
    headers = {
        "Content-Type": "multipart/form-data; boundary=" + boundary,
        "User-Agent": "PlexMediaServer/1.40.2.8395-c67dce28e",
        "Accept": "*/*",
    }
    return body, headers


# --- GET routes -------------------------------------------------------------------------------------


def test_health_passes_the_backend_status_and_document(server, backend, http):
    r = http.request("GET", server.url + "/health")
    assert r.status == 200
    assert body_of(r) == {"status": "ok", "state": "idle"}
    backend.health_answer = (503, {"status": "plex unreachable"})
    r = http.request("GET", server.url + "/health")
    assert r.status == 503
    assert body_of(r) == {"status": "plex unreachable"}


def test_metrics_are_prometheus_text(server, backend, http):
    backend.metrics.set_state("streaming")
    r = http.request("GET", server.url + "/metrics")
    assert r.status == 200
    assert r.headers["Content-Type"] == METRICS_CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
    text = r.data.decode("utf-8")
    assert 'plex_helper_state{state="streaming"} 1' in text
    assert text == backend.metrics.render()


def test_gets_are_open_when_a_token_is_set(secured, http):
    assert http.request("GET", secured.url + "/health").status == 200
    assert http.request("GET", secured.url + "/metrics").status == 200


def test_head_has_headers_and_no_body(server):
    sock = raw_connection(server)
    with sock:
        sock.sendall(b"HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, headers, _ = read_response_head_only(sock)
        assert status == 200 and int(headers["content-length"]) > 0
        status, _, body = read_response(sock)  # the same connection carries on with the next request
        assert status == 200 and json.loads(body)["status"] == "ok"


def read_response_head_only(sock: socket.socket):
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(1)
    lines = data.decode("latin-1").split("\r\n")
    headers = {l.partition(":")[0].lower(): l.partition(":")[2].strip() for l in lines[1:] if l}
    return int(lines[0].split()[1]), headers, b""


def test_unknown_path_is_404_json(server, http):
    r = http.request("GET", server.url + "/nope")
    assert r.status == 404
    assert "no such path" in body_of(r)["error"]
    r = http.request("POST", server.url + "/nope", body=b"{}")
    assert r.status == 404


@pytest.mark.parametrize("method, path, allow", [
    ("POST", "/health", "GET, HEAD"),
    ("PUT", "/override", "POST, DELETE"),
    ("GET", "/override", "POST, DELETE"),
    ("GET", "/webhook", "POST"),
    ("PATCH", "/metrics", "GET, HEAD"),
    ("BREW", "/metrics", "GET, HEAD"),
])
def test_wrong_method_is_405_json_with_allow(server, http, method, path, allow):
    r = http.request(method, server.url + path)
    assert r.status == 405
    assert r.headers["Allow"] == allow
    assert "does not accept" in body_of(r)["error"]


def test_a_garbage_request_line_gets_a_json_400_and_the_server_carries_on(server, http):
    with raw_connection(server) as sock:
        sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        status, headers, body = read_response(sock)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert "error" in json.loads(body)
    assert http.request("GET", server.url + "/health").status == 200


# --- override ---------------------------------------------------------------------------------------


def test_post_override_calls_the_backend(server, backend, http):
    r = http.request("POST", server.url + "/override", json={"state": "streaming", "minutes": 90})
    assert r.status == 200
    assert body_of(r) == {"override": {"state": "streaming", "minutes": 90.0}}
    assert backend.overrides == [("streaming", 90.0)]


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", ""])
def test_an_override_that_is_not_json_is_415_naming_the_header(server, backend, http, content_type):
    # the content types a cross-site form or a no-cors fetch can send (curl -d sends a form)
    headers = {"Content-Type": content_type} if content_type else {}
    r = http.request("POST", server.url + "/override", body=b'{"state":"idle","minutes":1.5}', headers=headers)
    assert r.status == 415
    assert "Content-Type: application/json" in body_of(r)["error"]
    assert backend.overrides == []


@pytest.mark.parametrize("body, message", [
    (b"not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"state": "streaming"}', "'minutes' must be a number"),
    (b'{"minutes": 5}', "'state' must be"),
    (b'{"state": 1, "minutes": 5}', "'state' must be"),
    (b'{"state": "idle", "minutes": true}', "'minutes' must be a number"),
    (b'{"state": "idle", "minutes": "5"}', "'minutes' must be a number"),
    (b'{"state": "idle", "minutes": NaN}', "'minutes' must be a number"),
    (b'{"state": "idle", "minutes": 5, "extra": 1}', "unknown field(s): extra"),
    (b'{"state": "paused", "minutes": 5}', 'state must be "streaming" or "idle"'),  # the backend's ValueError
    (b'{"state": "idle", "minutes": -1}', "minutes must be more than 0"),
    (b"\xff\xfe", "not valid JSON"),
    (b"", "not valid JSON"),
])
def test_bad_override_requests_are_400_with_the_message(server, backend, http, body, message):
    r = http.request("POST", server.url + "/override", body=body, headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert message in body_of(r)["error"]
    assert backend.overrides == []


def test_delete_override_clears_it(server, backend, http):
    r = http.request("DELETE", server.url + "/override")
    assert r.status == 200
    assert body_of(r) == {"override": None, "temporary_limits": []}
    assert backend.clears == 1 and backend.temporary_clears == [None]  # the override and every temporary limit


# --- auth -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, bearer("wrong"), bearer(TOKEN + "x"), bearer(""), {"Authorization": TOKEN},
                                     {"Authorization": "Basic " + TOKEN}])
@pytest.mark.parametrize("method, path, body", [
    ("POST", "/override", b'{"state": "idle", "minutes": 5}'),
    ("DELETE", "/override", None),
    ("POST", "/webhook", json.dumps(plex_payload()).encode()),
])
def test_posts_and_deletes_need_the_token(secured, backend, http, headers, method, path, body):
    r = http.request(method, secured.url + path, body=body, headers={"Content-Type": "application/json", **headers})
    assert r.status == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "token" in body_of(r)["error"]
    assert backend.overrides == [] and backend.clears == 0 and backend.triggers == []


def test_the_right_token_is_accepted(secured, backend, http):
    r = http.request("POST", secured.url + "/override", json={"state": "idle", "minutes": 5}, headers=bearer())
    assert r.status == 200
    r = http.request("DELETE", secured.url + "/override", headers={"Authorization": "bearer  " + TOKEN})
    assert r.status == 200
    assert backend.overrides == [("idle", 5.0)] and backend.clears == 1


def test_without_a_token_configured_no_auth_is_needed(server, backend, http):
    assert http.request("DELETE", server.url + "/override").status == 200
    assert http.request("DELETE", server.url + "/override", headers=bearer("anything")).status == 200


def test_plex_can_put_the_token_in_the_webhook_url_but_only_there(secured, backend, http):
    body, headers = plex_multipart(plex_payload("media.play"))
    r = http.request("POST", secured.url + "/webhook?token=" + TOKEN, body=body, headers=headers)
    assert r.status == 200
    assert backend.triggers == ["plex webhook media.play"]
    r = http.request("POST", secured.url + "/webhook?token=wrong", body=body, headers=headers)
    assert r.status == 401
    r = http.request("DELETE", secured.url + "/override?token=" + TOKEN)
    assert r.status == 401
    assert backend.clears == 0


def test_the_token_is_never_logged(secured, http, caplog):
    caplog.set_level(logging.DEBUG)
    body, headers = plex_multipart(plex_payload())
    http.request("POST", secured.url + "/webhook?token=" + TOKEN, body=body, headers=headers)
    http.request("POST", secured.url + "/override", json={"state": "idle", "minutes": 5}, headers=bearer())
    http.request("POST", secured.url + "/override", json={"state": "idle", "minutes": 5}, headers=bearer(TOKEN + "!"))
    with raw_connection(secured) as sock:  # a malformed request line holding the token
        sock.sendall(("GET /x?token=%s HTTP/1.1 junk\r\n\r\n" % TOKEN).encode())
        read_response(sock)
    ours = [r for r in caplog.records if r.name == "plex_helper.status"]  # (urllib3 logs the test's own URLs)
    messages = [r.getMessage() for r in ours]
    assert any(m.startswith("status 127.0.0.1 POST /webhook 200") for m in messages)  # the access log, at DEBUG
    assert all(r.levelno <= logging.INFO for r in ours)
    assert not any(TOKEN in m for m in messages)
    assert not any("Authorization" in m or "Bearer" in m for m in messages)


# --- webhook ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", ["media.play", "media.resume", "media.pause", "media.stop"])
def test_plex_webhook_playback_events_trigger_an_observation(server, backend, http, event):
    body, headers = plex_multipart(plex_payload(event))
    r = http.request("POST", server.url + "/webhook", body=body, headers=headers)
    assert r.status == 200
    assert body_of(r) == {"triggered": True, "event": event}
    assert backend.triggers == ["plex webhook " + event]


@pytest.mark.parametrize("event", ["media.scrobble", "media.rate", "library.new", "library.on.deck", "admin.database.backup"])
def test_other_plex_events_do_not_trigger(server, backend, http, event):
    body, headers = plex_multipart(plex_payload(event))
    r = http.request("POST", server.url + "/webhook", body=body, headers=headers)
    assert r.status == 200
    assert body_of(r) == {"triggered": False, "event": event}
    assert backend.triggers == []


def test_webhook_without_a_thumb_part(server, backend, http):
    body, headers = plex_multipart(plex_payload("media.resume"), with_thumb=False)
    r = http.request("POST", server.url + "/webhook", body=body, headers=headers)
    assert r.status == 200 and body_of(r)["triggered"] is True


def test_webhook_as_json_and_as_a_form_for_curl_users(server, backend, http):
    r = http.request("POST", server.url + "/webhook", json={"event": "media.stop"})
    assert r.status == 200 and body_of(r) == {"triggered": True, "event": "media.stop"}
    r = http.request("POST", server.url + "/webhook", fields={"payload": json.dumps({"event": "media.play"})}, encode_multipart=False)
    assert r.status == 200 and body_of(r) == {"triggered": True, "event": "media.play"}
    # urllib3's own multipart encoder (a different boundary style) also works
    r = http.request("POST", server.url + "/webhook", fields={"payload": json.dumps({"event": "media.pause"}), "thumb": ("t.jpg", JPEG, "image/jpeg")})
    assert r.status == 200 and body_of(r) == {"triggered": True, "event": "media.pause"}
    assert backend.triggers == ["plex webhook media.stop", "plex webhook media.play", "plex webhook media.pause"]


def test_a_chunked_webhook_body_is_411_length_required(server, backend, http):
    # http.server does not de-chunk, and no sender needs it: Plex, Jellyfin and Emby send a length
    body, headers = plex_multipart(plex_payload("media.play"))
    pieces = [body[i:i + 1000] for i in range(0, len(body), 1000)]
    r = http.request("POST", server.url + "/webhook", body=iter(pieces), headers=headers, chunked=True)
    assert r.status == 411
    assert "Content-Length" in body_of(r)["error"]
    assert r.headers["Connection"] == "close"
    assert backend.triggers == []
    assert http.request("GET", server.url + "/health").status == 200


def _malformed_cases():
    good, headers = plex_multipart(plex_payload())
    ctype = headers["Content-Type"]
    return [
        ("no boundary", good, "multipart/form-data", "without a boundary"),
        ("wrong boundary", good, "multipart/form-data; boundary=somethingelse", "malformed multipart"),
        ("truncated", good[: len(good) // 3], ctype, "malformed multipart"),
        ("not multipart at all", b"hello", ctype, "malformed multipart"),
        ("no payload part", plex_multipart(b"{}", boundary="b0undary")[0].replace(b'name="payload"', b'name="other"'),
         "multipart/form-data; boundary=b0undary", "no 'payload' or 'data' part"),
        ("payload not json", plex_multipart(b"{nope")[0], ctype, "not valid JSON"),
        ("payload not an object", plex_multipart(b'"media.play"')[0], ctype, "must be a JSON object"),
        ("payload without event", plex_multipart({"Account": {}})[0], ctype, "has no 'event'"),
        ("event not a string", plex_multipart({"event": 3})[0], ctype, "has no 'event'"),
        ("form without an event", b"other=1", "application/x-www-form-urlencoded", "has no 'event' (Plex), 'NotificationType'"),
        ("text not json", b"event=media.play", "text/plain", "not valid JSON"),
        ("json not an object", b"[]", "application/json", "must be a JSON object"),
    ]


@pytest.mark.parametrize("name, body, content_type, message", _malformed_cases(), ids=[c[0] for c in _malformed_cases()])
def test_malformed_webhooks_are_400_with_a_clear_message(server, backend, http, name, body, content_type, message):
    r = http.request("POST", server.url + "/webhook", body=body, headers={"Content-Type": content_type})
    assert r.status == 400
    assert message in body_of(r)["error"]
    assert backend.triggers == []


def test_webhook_with_an_unsupported_content_type_is_415(server, http):
    r = http.request("POST", server.url + "/webhook", body=b"<event/>", headers={"Content-Type": "application/xml"})
    assert r.status == 415
    assert "multipart/form-data" in body_of(r)["error"]


# --- robustness -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, path, body, failing", [
    ("GET", "/health", None, "health"),
    ("GET", "/metrics", None, "metrics_text"),
    ("POST", "/webhook", json.dumps({"event": "media.play"}).encode(), "trigger_observation"),
    ("POST", "/override", b'{"state": "idle", "minutes": 5}', "set_override"),
    ("DELETE", "/override", None, "clear_override"),
])
def test_a_backend_that_raises_gives_500_and_the_server_keeps_serving(server, backend, http, caplog, method, path, body, failing):
    backend.fail[failing] = RuntimeError("boom in " + failing)
    r = http.request(method, server.url + path, body=body, headers={"Content-Type": "application/json"})
    assert r.status == 500
    assert "internal error" in body_of(r)["error"]
    assert any(rec.levelno == logging.ERROR and failing in rec.getMessage() for rec in caplog.records)
    del backend.fail[failing]
    r = http.request(method, server.url + path, body=body, headers={"Content-Type": "application/json"})
    assert r.status == 200


def test_a_health_answer_that_is_not_json_able_is_a_500(server, backend, http):
    backend.health_answer = ("200", {})
    assert http.request("GET", server.url + "/health").status == 500
    backend.health_answer = (200, {"when": object()})  # serialised with str(), not a crash
    assert http.request("GET", server.url + "/health").status == 200


def test_an_oversized_body_is_413(make_server, backend, http):
    server = make_server(max_body_bytes=64 * 1024)
    big = b'{"event": "media.play", "pad": "' + b"x" * (200 * 1024) + b'"}'
    r = http.request("POST", server.url + "/webhook", body=big, headers={"Content-Type": "application/json"})
    assert r.status == 413
    assert "too large" in body_of(r)["error"]
    assert backend.triggers == []
    # chunked, where the size would show only while reading: refused from its headers
    r = http.request("POST", server.url + "/webhook", body=iter([big[i:i + 8192] for i in range(0, len(big), 8192)]),
                     headers={"Content-Type": "application/json"}, chunked=True)
    assert r.status == 411
    assert http.request("GET", server.url + "/health").status == 200


def test_an_oversized_body_is_refused_from_its_headers_alone(server):
    with raw_connection(server) as sock:
        sock.sendall(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (50 * 1024 * 1024))
        status, headers, body = read_response(sock)
    assert status == 413
    assert headers["connection"] == "close"


def test_expect_100_continue_is_refused_before_the_body_is_sent(secured):
    with raw_connection(secured) as sock:
        sock.sendall(b"POST /override HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 30\r\nExpect: 100-continue\r\n\r\n")
        status, _, _ = read_response(sock)
    assert status == 401
    with raw_connection(secured) as sock:
        request = b'{"state": "idle", "minutes": 5}'
        sock.sendall(b"POST /override HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TOKEN.encode() +
                     b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(request))
        assert sock.recv(100).startswith(b"HTTP/1.1 100")
        sock.sendall(request)
        status, _, body = read_response(sock)
    assert status == 200, body


def test_a_slow_client_does_not_block_others_and_is_dropped(make_server, http):
    server = make_server(read_timeout_sec=0.5)
    slow = raw_connection(server)
    slow.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # ... and never finishes its headers
    started = time.monotonic()
    for _ in range(5):
        assert http.request("GET", server.url + "/health").status == 200
    assert time.monotonic() - started < 0.5
    slow.settimeout(5)
    assert slow.recv(1000) == b""  # dropped after the read timeout
    assert time.monotonic() - started < 2
    slow.close()
    assert http.request("GET", server.url + "/health").status == 200


def test_a_body_trickled_byte_by_byte_hits_the_body_deadline(make_server, http):
    server = make_server(read_timeout_sec=0.5)  # body deadline: 3 read timeouts
    trickle = raw_connection(server)
    trickle.sendall(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    stop = threading.Event()

    def drip():  # one byte every 0.1 s: never idle long enough for the read timeout
        while not stop.wait(0.1):
            try:
                trickle.sendall(b" ")
            except OSError:
                return

    dripper = threading.Thread(target=drip, daemon=True)
    started = time.monotonic()
    dripper.start()
    try:
        assert http.request("GET", server.url + "/health").status == 200  # others are served meanwhile
        status, headers, body = read_response(trickle)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        dripper.join(2)
        trickle.close()
    assert status == 408 and b"did not arrive in time" in body
    assert headers["connection"] == "close"
    assert 1.2 < elapsed < 4


def test_stop_is_prompt_and_idempotent_even_with_clients_connected(backend, http):
    server = StatusHttpServer("127.0.0.1:0", backend).start()
    url = server.url
    assert http.request("GET", url + "/health").status == 200  # leaves a keep-alive connection open
    idle = raw_connection(server)
    idle.sendall(b"GET /health HTTP/1.1\r\n")  # half a request
    time.sleep(0.1)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0
    idle.settimeout(2)
    assert idle.recv(100) == b""  # its connection was closed by stop()
    idle.close()
    server.stop()  # again: nothing happens
    assert not server.running
    with pytest.raises(OSError):
        socket.create_connection(server.address, timeout=2).close()


def test_stop_without_start_is_harmless(backend):
    StatusHttpServer("127.0.0.1:0", backend).stop()


def test_too_many_connections_get_a_quick_503(make_server, http):
    server = make_server(max_connections=2)
    held = [raw_connection(server) for _ in range(2)]
    for sock in held:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(sock)[0] == 200  # both held open (keep-alive)
    with raw_connection(server) as sock:
        status, _, body = read_response(sock)
    assert status == 503 and b"too many connections" in body
    for sock in held:
        sock.close()
    assert wait_until(lambda: http.request("GET", server.url + "/health").status == 200)


def test_concurrent_requests(server, backend, http):
    results = []

    def hit():
        pool = urllib3.PoolManager(timeout=5, retries=False)
        for _ in range(10):
            results.append(pool.request("POST", server.url + "/webhook", json={"event": "media.play"}).status)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results == [200] * 80
    assert len(backend.triggers) == 80


# --- addresses --------------------------------------------------------------------------------------


@pytest.mark.parametrize("listen, expected", [
    ("127.0.0.1:9911", ("127.0.0.1", 9911)),
    ("[::1]:9911", ("::1", 9911)),
    ("localhost:0", ("localhost", 0)),
    (":9911", ("", 9911)),
    ("0.0.0.0:65535", ("0.0.0.0", 65535)),
])
def test_parse_listen(listen, expected):
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["9911", "127.0.0.1", "::1:9911", "[::1]9911", "[::1", "host:99999", "host:-1", "host:http", ""])
def test_parse_listen_refuses(listen):
    with pytest.raises(ValueError):
        parse_listen(listen)


@pytest.mark.parametrize("listen, url", [
    ("127.0.0.1:9911", "http://127.0.0.1:9911"),
    ("0.0.0.0:9911", "http://127.0.0.1:9911"),
    (":9911", "http://127.0.0.1:9911"),
    ("[::]:9911", "http://[::1]:9911"),
    ("[::1]:9911", "http://[::1]:9911"),
    ("nas.local:1", "http://nas.local:1"),
])
def test_url_for_listen(listen, url):
    assert url_for_listen(listen) == url


def test_address_and_url_report_the_bound_port(server):
    host, port = server.address
    assert host == "127.0.0.1" and port > 0
    assert server.url == "http://127.0.0.1:%d" % port


def test_ipv6_loopback(backend, http):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        server = StatusHttpServer("[::1]:0", backend).start()
    except StatusServerError as err:
        pytest.skip("cannot bind ::1 here: %s" % err)
    try:
        assert server.url.startswith("http://[::1]:")
        assert http.request("GET", server.url + "/health").status == 200
    finally:
        server.stop()


def test_a_taken_port_is_a_clear_error(server, backend):
    with pytest.raises(StatusServerError, match="cannot listen on 127.0.0.1:%d" % server.address[1]):
        StatusHttpServer("127.0.0.1:%d" % server.address[1], backend).start()


# --- the client -------------------------------------------------------------------------------------


def test_client_round_trip(secured, backend):
    client = StatusClient(secured.url, token=TOKEN, timeout_sec=5)
    assert client.set_override("streaming", 90) == {"override": {"state": "streaming", "minutes": 90.0}}
    assert client.clear_override() == {"override": None, "temporary_limits": []}
    assert client.health() == {"status": "ok", "state": "idle"}
    assert backend.overrides == [("streaming", 90.0)] and backend.clears == 1


def test_client_health_when_the_daemon_is_unhealthy(server, backend):
    backend.health_answer = (503, {"status": "qbittorrent unreachable"})
    assert StatusClient(server.url).health() == {"status": "qbittorrent unreachable"}


def test_client_400_carries_the_servers_message(server):
    with pytest.raises(StatusClientError) as caught:
        StatusClient(server.url).set_override("paused", 5)
    assert str(caught.value) == 'plex-helper answered 400: state must be "streaming" or "idle"'
    assert caught.value.status == 400


def test_client_wrong_or_missing_token(secured):
    with pytest.raises(StatusClientError, match="rejected the token") as caught:
        StatusClient(secured.url, token="wrong").clear_override()
    assert caught.value.status == 401
    assert "wrong" not in str(caught.value)
    with pytest.raises(StatusClientError, match="requires a token"):
        StatusClient(secured.url).clear_override()


def test_client_500(server, backend):
    backend.fail["clear_override"] = RuntimeError("boom")
    with pytest.raises(StatusClientError, match=r"^plex-helper answered 500: internal error"):
        StatusClient(server.url).clear_override()


def test_client_daemon_not_running():
    port = free_port()  # nothing listens there
    url = "http://127.0.0.1:%d" % port
    with pytest.raises(StatusClientError) as caught:
        StatusClient(url, token=TOKEN, timeout_sec=2).set_override("idle", 5)
    assert str(caught.value).startswith("plex-helper is not reachable at %s (connection refused)" % url)
    assert TOKEN not in str(caught.value)


def test_client_daemon_not_answering():
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = "http://127.0.0.1:%d" % listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(StatusClientError, match="not reachable at .*read timed out"):
            StatusClient(url, timeout_sec=0.3).health()
        assert time.monotonic() - started < 3


def test_client_talking_to_something_else(http):
    import http.server as hs

    class Html(hs.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"<html>")

        def log_message(self, *args):
            pass

    other = hs.HTTPServer(("127.0.0.1", 0), Html)
    thread = threading.Thread(target=other.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with pytest.raises(StatusClientError, match="not plex-helper's JSON"):
            StatusClient("http://127.0.0.1:%d" % other.server_address[1]).health()
    finally:
        other.shutdown()
        other.server_close()


@pytest.mark.parametrize("url", ["127.0.0.1:9911", "ftp://x:1", "http://", ""])
def test_client_refuses_a_bad_url(url):
    with pytest.raises(StatusClientError, match="status URL"):
        StatusClient(url)


def test_client_never_shows_credentials_from_the_url():
    port = free_port()  # nothing listens there
    with pytest.raises(StatusClientError) as caught:
        StatusClient("http://user:pw@127.0.0.1:%d/" % port, timeout_sec=1).health()
    assert "pw" not in str(caught.value) and "127.0.0.1:%d" % port in str(caught.value)


@pytest.mark.parametrize("body, triggered", [
    (b'{"NotificationType": "PlaybackStart", "UserName": "friend"}', True),
    (b'{"Event": "playback.start", "User": {"Name": "friend"}}', True),
    (b'{"NotificationType": "ItemAdded"}', False),
])
def test_jellyfin_and_emby_webhooks_trigger_an_observation(body, triggered):
    backend = _WebhookBackend()
    with StatusHttpServer("127.0.0.1:0", backend, token="") as server:
        request = urllib.request.Request(server.url + "/webhook", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
            assert json.loads(response.read())["triggered"] is triggered
    assert bool(backend.triggers) is triggered


class _WebhookBackend:
    def __init__(self):
        self.triggers = []

    def health(self):
        return 200, {}

    def metrics_text(self):
        return ""

    def trigger_observation(self, reason):
        self.triggers.append(reason)

    def set_override(self, state, minutes):
        return {}

    def clear_override(self):
        return {}

    def history(self, since, until, max_points):
        return {}
