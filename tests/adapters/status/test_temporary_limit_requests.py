"""POST /override with a temporary limit, DELETE per direction, and reading behind the token
(status_token_guards_reading), through real HTTP on 127.0.0.1 with a fake backend."""
from __future__ import annotations

import base64
import json
from typing import Any, List

import pytest
import urllib3
from hypothesis import given
from hypothesis import strategies as st

from adapters.status.server import StatusClient, StatusHttpServer
from adapters.status.webhook_body import OverrideRequest, RequestError, TemporaryLimitRequest, override_request
from tests.support.status_backend import FakeBackend

TOKEN = "s3cret-t0ken"
JSON = {"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN}


@pytest.fixture
def backend():
    return FakeBackend()


@pytest.fixture
def make_server(backend):
    started: List[StatusHttpServer] = []

    def make(**kwargs: Any) -> StatusHttpServer:
        server = StatusHttpServer("127.0.0.1:0", backend, token=TOKEN, **kwargs).start()
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


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
fields = st.sampled_from(["state", "minutes", "direction", "kib", "label", "other"])


@given(st.dictionaries(fields, json_values, max_size=5))
def test_any_override_body_is_one_of_the_two_requests_or_a_400(data):
    try:
        wanted = override_request(json.dumps(data).encode())
    except RequestError as err:
        assert err.status == 400 and err.message
        return
    if "direction" in data:
        assert isinstance(wanted, TemporaryLimitRequest) and isinstance(wanted.direction, str)
        assert isinstance(wanted.kib, (int, float, str)) and not isinstance(wanted.kib, bool)
    else:
        assert isinstance(wanted, OverrideRequest) and isinstance(wanted.state, str)
    assert wanted.minutes == wanted.minutes  # finite: never NaN


def test_a_temporary_limit_reaches_the_backend_with_its_unit_and_label(make_server, backend, http):
    server = make_server()
    body = json.dumps({"direction": "upload", "kib": "1 MB/s", "minutes": 45, "label": "video call"})
    r = http.request("POST", server.url + "/override", body=body, headers=JSON)
    assert r.status == 200, r.data
    assert backend.temporary == [("upload", "1 MB/s", 45.0, "video call")]
    r = http.request("POST", server.url + "/override", body=json.dumps({"direction": "upload", "kib": 5, "minutes": 1,
                                                                         "state": "idle"}), headers=JSON)
    assert r.status == 400 and "state" in json.loads(r.data)["error"]


def test_delete_with_a_direction_ends_that_temporary_limit_only(make_server, backend, http):
    server = make_server()
    r = http.request("DELETE", server.url + "/override?direction=download", headers=JSON)
    assert r.status == 200 and backend.temporary_clears == ["download"] and backend.clears == 0
    r = http.request("DELETE", server.url + "/override?direction=sideways", headers=JSON)
    assert r.status == 400 and "direction" in json.loads(r.data)["error"]


def test_the_client_sets_and_clears_a_temporary_limit(make_server, backend):
    client = StatusClient(make_server().url, token=TOKEN, timeout_sec=5)
    assert client.set_temporary_limit("download", 2000, 30, "backup")["temporary_limits"][0]["kib"] == 2000
    client.clear_override("download")
    assert backend.temporary == [("download", 2000, 30.0, "backup")] and backend.temporary_clears == ["download"]


@pytest.mark.parametrize("path", ["/", "/metrics", "/api/history", "/api/override"])
def test_guarded_reading_needs_the_token_as_bearer_or_as_basics_password(make_server, http, path):
    server = make_server(guard_reading=True)
    refused = http.request("GET", server.url + path)
    assert refused.status == 401 and refused.headers["WWW-Authenticate"].startswith("Basic ")
    assert http.request("GET", server.url + path, headers={"Authorization": "Bearer wrong"}).status == 401
    assert http.request("GET", server.url + path, headers={"Authorization": "Bearer " + TOKEN}).status == 200
    basic = base64.b64encode(("anyone:" + TOKEN).encode()).decode()
    assert http.request("GET", server.url + path, headers={"Authorization": "Basic " + basic}).status == 200
    assert http.request("GET", server.url + path, headers={"Authorization": "Basic !!"}).status == 401


def test_guarded_health_answers_a_health_check_without_the_token_and_no_more(make_server, backend, http):
    server = make_server(guard_reading=True)
    backend.health_answer = (200, {"state": "idle", "clients": [{"name": "qbittorrent"}]})
    r = http.request("GET", server.url + "/health")
    assert r.status == 200 and json.loads(r.data) == {"status": "ok"}
    backend.health_answer = (503, {"state": "idle"})
    r = http.request("GET", server.url + "/health")
    assert r.status == 503 and json.loads(r.data) == {"status": "unhealthy"}
    r = http.request("GET", server.url + "/health", headers={"Authorization": "Bearer " + TOKEN})
    assert json.loads(r.data) == {"state": "idle"}


def test_unguarded_reading_stays_open(make_server, backend, http):
    server = make_server()
    backend.health_answer = (200, {"state": "idle"})
    assert http.request("GET", server.url + "/metrics").status == 200
    assert json.loads(http.request("GET", server.url + "/health").data) == {"state": "idle"}
