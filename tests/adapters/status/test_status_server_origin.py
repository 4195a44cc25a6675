"""Nothing on the LAN, nor a web page elsewhere, can steer the status server: Host names served
(DNS rebinding), same-origin changes, the override JSON-only and, without a token, from this machine."""
from __future__ import annotations

import json
import logging
from typing import Any, Dict

import pytest
import urllib3
from hypothesis import given
from hypothesis import strategies as st

from adapters.status.request_origin import (
    ServedHosts,
    cross_site_refusal,
    from_this_machine,
    same_origin,
    split_host,
)
from adapters.status.server import StatusHttpServer
from tests.support.status_backend import FakeBackend

TOKEN = "s3cret-t0ken"
OVERRIDE = {"state": "streaming", "minutes": 30}


@pytest.fixture
def backend():
    return FakeBackend()


@pytest.fixture
def make_server(backend):
    started = []

    def make(**kwargs: Any) -> StatusHttpServer:
        server = StatusHttpServer("127.0.0.1:0", backend, **kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


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


def post_override(http, server, headers: Dict[str, str], body: Any = None):
    return http.request("POST", server.url + "/override", json=OVERRIDE if body is None else body, headers=headers)


# --- DNS rebinding: only the Host names it serves --------------------------------------------------

@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:9911", "localhost.attacker.example",
                                  "127.0.0.1.nip.io", "", "a b"])
def test_a_host_name_it_does_not_serve_is_421_naming_it_and_the_setting(make_server, backend, http, host, caplog):
    server = make_server()
    for method, path in (("GET", "/health"), ("GET", "/api/history"), ("POST", "/override")):
        r = http.request(method, server.url + path, json=OVERRIDE if method == "POST" else None, headers={"Host": host})
        assert r.status == 421, (method, path)
        error = body_of(r)["error"]
        assert repr(host) in error and "status_allowed_hosts" in error
    assert backend.overrides == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "status_allowed_hosts" in r.getMessage()]
    assert len(warnings) == 1  # once per name, not once per request


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:9911", "localhost.", "127.0.0.1", "127.0.0.1:1",
                                  "[::1]:9911", "192.168.1.20:9911", "nas.home.arpa", "NAS.home.arpa.:443"])
def test_served_names_and_any_address_are_answered(make_server, http, host):
    server = make_server(allowed_hosts=["nas.home.arpa"])
    assert http.request("GET", server.url + "/health", headers={"Host": host}).status == 200


def test_the_machine_names_are_served(make_server, http):
    import socket

    server = make_server()
    for name in (socket.gethostname(), socket.getfqdn()):
        assert http.request("GET", server.url + "/health", headers={"Host": name + ":1"}).status == 200, name


def test_a_request_without_host_is_no_browsers_and_is_answered(make_server):
    import socket

    server = make_server()
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200")


def test_served_hosts_describe_the_names():
    served = ServedHosts.for_listen("0.0.0.0", ["nas.home.arpa"], ["box", "box.lan"])
    assert served.describe() == "box, box.lan, localhost, nas.home.arpa and any IP address of this machine"
    assert ServedHosts.for_listen("192.168.1.5", ()).names == frozenset({"localhost", "192.168.1.5"})


@given(st.text(max_size=60))
def test_host_reading_never_raises(host):
    name, port = split_host(host)
    assert name is None or (name == name.lower() and not name.endswith("."))
    ServedHosts.for_listen("", ["nas"]).admits(host)
    same_origin(host, host)


# --- cross-site requests ----------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"Origin": "http://127.0.0.1:8000"},  # another port is another origin
    {"Origin": "http://127.0.0.2:{port}"},  # another address
    {"Origin": "null"},  # a sandboxed frame, a file:// page
    {"Origin": "https://attacker.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:8000"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:{port}"},  # the browser's word decides
])
@pytest.mark.parametrize("token", ["", TOKEN])
def test_a_change_from_another_origin_is_403_with_or_without_the_token(make_server, backend, http, headers, token):
    server = make_server(token=token)
    port = server.address[1]
    headers = {k: v.format(port=port) for k, v in headers.items()}
    if token:
        headers.update(bearer())
    for method, path in (("POST", "/override"), ("DELETE", "/override"), ("POST", "/webhook")):
        body = OVERRIDE if path == "/override" else {"event": "media.play"}
        r = http.request(method, server.url + path, json=body if method == "POST" else None, headers=headers)
        assert r.status == 403, (method, path)
        assert "another" in body_of(r)["error"]
    assert backend.overrides == [] and backend.clears == 0 and backend.triggers == []


@pytest.mark.parametrize("headers", [
    {"Origin": "http://127.0.0.1:{port}"},
    {"Origin": "http://localhost:{port}", "Host": "localhost:{port}"},
    {"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:{port}"},
    {"Sec-Fetch-Site": "same-origin", "Origin": "https://nas.home.arpa"},  # behind a TLS proxy that rewrites Host
    {"Sec-Fetch-Site": "none"},
    {},  # curl, the CLI
])
def test_a_change_from_the_same_origin_or_no_browser_is_accepted(make_server, backend, http, headers):
    server = make_server()
    port = server.address[1]
    r = post_override(http, server, {k: v.format(port=port) for k, v in headers.items()})
    assert r.status == 200, r.data
    assert backend.overrides == [("streaming", 30.0)]


@pytest.mark.parametrize("origin, host, same", [
    ("http://nas:80", "nas", True), ("https://nas", "nas", True), ("https://nas", "nas:443", True),
    ("http://nas", "nas:9911", False), ("http://NAS.:9911", "nas:9911", True), ("ftp://nas", "nas", False),
    ("http://[::1]:9911", "[::1]:9911", True), ("http://nas:x", "nas", False), ("http://nas", None, False),
])
def test_same_origin(origin, host, same):
    assert same_origin(origin, host) is same


def test_cross_site_refusal_reads_the_browsers_headers():
    assert cross_site_refusal({}) is None
    assert cross_site_refusal({"Sec-Fetch-Site": "same-origin"}) is None
    assert "Sec-Fetch-Site: cross-site" in cross_site_refusal({"Sec-Fetch-Site": "cross-site"})


# --- the override: JSON only, and without a token from this machine only ---------------------------

def test_without_a_token_a_proxied_request_is_not_from_this_machine(make_server, backend, http):
    server = make_server()
    for proxy in ({"X-Forwarded-For": "192.168.1.30"}, {"Forwarded": "for=192.168.1.30"}, {"X-Real-IP": "10.0.0.2"}):
        r = post_override(http, server, proxy)
        assert r.status == 403
        error = body_of(r)["error"]
        assert "status_token" in error and "status_allow_lan_override: true" in error
        access = body_of(http.request("GET", server.url + "/api/override", headers=proxy))
        assert access == {"allowed": False, "why_not": error, "token": False}
        assert http.request("DELETE", server.url + "/override", headers=proxy).status == 403
    assert backend.overrides == [] and backend.clears == 0
    # the webhook is no override: the media servers on the LAN may still wake the loop
    assert http.request("POST", server.url + "/webhook", json={"event": "media.play"},
                        headers={"X-Forwarded-For": "192.168.1.30"}).status == 200


def test_allow_lan_override_or_a_token_lets_the_lan_set_it(make_server, backend, http):
    proxied = {"X-Forwarded-For": "192.168.1.30"}
    assert post_override(http, make_server(allow_lan_override=True), proxied).status == 200
    assert post_override(http, make_server(token=TOKEN), dict(proxied, **bearer())).status == 200
    assert len(backend.overrides) == 2


def test_api_override_says_this_machine_may_set_it(make_server, http):
    server = make_server()
    assert body_of(http.request("GET", server.url + "/api/override")) == {"allowed": True, "why_not": None, "token": False}
    secured = make_server(token=TOKEN)
    assert body_of(http.request("GET", secured.url + "/api/override"))["token"] is True


@pytest.mark.parametrize("peer, local", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("::ffff:127.0.0.1", True), ("192.168.1.5", False),
    ("::ffff:192.168.1.5", False), ("fe80::1%eth0", False), ("", False), ("not an address", False),
])
def test_from_this_machine(peer, local):
    assert from_this_machine(peer, {}) is local
    assert from_this_machine(peer, {"X-Forwarded-For": "127.0.0.1"}) is False


# --- what the media servers really send ------------------------------------------------------------

from tests.support.webhook_payloads import NON_PLAYBACK, PLAYBACK  # noqa: E402


@pytest.mark.parametrize("name", sorted(NON_PLAYBACK))
def test_every_non_playback_event_is_answered_200_and_ignored(make_server, backend, http, name):
    content_type, body = NON_PLAYBACK[name]
    r = http.request("POST", make_server().url + "/webhook", body=body, headers={"Content-Type": content_type})
    assert r.status == 200, r.data
    assert body_of(r)["triggered"] is False
    assert backend.triggers == []


@pytest.mark.parametrize("name", sorted(PLAYBACK))
def test_every_playback_event_wakes_the_loop(make_server, backend, http, name):
    content_type, body = PLAYBACK[name]
    r = http.request("POST", make_server().url + "/webhook", body=body, headers={"Content-Type": content_type})
    assert r.status == 200, r.data
    assert body_of(r)["triggered"] is True
    assert len(backend.triggers) == 1


@given(st.sampled_from(["multipart/form-data; boundary=b", "application/x-www-form-urlencoded", "text/plain",
                        "application/json", "", "image/png"]), st.binary(max_size=400))
def test_webhook_reading_refuses_only_with_a_request_error(content_type, body):
    from adapters.media.jellyfin.webhook import media_server_event
    from adapters.status.webhook_body import RequestError, webhook_object

    try:
        data = webhook_object(content_type, body)
    except RequestError as err:
        assert err.status in (400, 415)
        return
    assert isinstance(data, dict)
    found = media_server_event(data)
    assert found is None or (len(found.event) <= 64 and found.reason.endswith(found.event))


@given(st.dictionaries(st.sampled_from(["Origin", "Sec-Fetch-Site", "Host"]), st.text(max_size=40)))
def test_cross_site_refusal_never_raises_and_admits_only_same_origin(headers):
    refusal = cross_site_refusal(headers)
    if refusal is None and "Sec-Fetch-Site" in headers:
        assert headers["Sec-Fetch-Site"].strip().lower() in ("same-origin", "none")
    if refusal is None and "Sec-Fetch-Site" not in headers and "Origin" in headers:
        assert same_origin(headers["Origin"], headers.get("Host"))
