"""DelugeClient against a real deluged + deluge-web (2.0.3 here) on 127.0.0.1, and a stand-in for
answers the real one does not give."""
from __future__ import annotations

import json
import logging
import traceback
from typing import Any, Callable, Dict, List, Mapping, Optional

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from adapters.clients.deluge.client import (
    DelugeClient,
    DelugeRpcError,
    choose_host,
    json_url,
    parse_bool,
    parse_host_status,
    parse_hosts,
    parse_json_rpc,
    parse_limit,
    parse_rate,
    parse_version,
)
from domain.policies import SpeedLimit
from domain.ports import (
    AlternativeSpeedMode,
    ClientAdapter,
    DownloadLimitControl,
    FailureKind,
    DownloadClientError,
    TransferRates,
    UploadLimitControl,
)
from tests.support.deluge_daemon import (  # noqa: F401  (fixtures)
    WEB_PASSWORD,
    DelugeInstance,
    deluge,
    deluge_factory,
    deluge_session,
)
from tests.support.clock import ManualClock
from tests.support.ports import free_port
from tests.support.transmission_daemon import ScriptedServer
from tests.support.waiting import wait_until

COOKIE = "c0ffee" * 10 + "abcd"  # the stand-in's session cookie


def client(instance: DelugeInstance, password: Optional[str] = None, clock: Optional[ManualClock] = None,
           timeout_sec: float = 5.0, daemon_host: Optional[str] = None, url: Optional[str] = None) -> DelugeClient:
    return DelugeClient(
        url or instance.url, instance.password if password is None else password, timeout_sec=timeout_sec,
        login_retry_sec=300.0, clock=clock or ManualClock(), daemon_host=daemon_host,
    )


def error_of(call: Callable[[], object]) -> DownloadClientError:
    with pytest.raises(DownloadClientError) as info:
        call()
    return info.value


def held(instance: DelugeInstance, key: str = "max_upload_speed") -> Any:
    return instance.json("core.get_config_values", [key])["result"][key]


def disconnect(instance: DelugeInstance) -> None:
    instance.json("web.disconnect")
    assert instance.json("web.connected")["result"] is False


def hosts(instance: DelugeInstance) -> List[List[Any]]:
    return instance.json("web.get_hosts")["result"]


# ---------------------------------------------------------------------------------- real daemon


def test_it_offers_its_ports_and_no_alternative_mode(deluge: DelugeInstance) -> None:
    dl = client(deluge)
    for port in (ClientAdapter, UploadLimitControl, DownloadLimitControl, TransferRates):
        assert isinstance(dl, port)
    assert not isinstance(dl, AlternativeSpeedMode)


@pytest.mark.parametrize("kib", [1, 7, 250, 500, 1000, 100000])
def test_upload_limit_round_trip_in_kib(deluge: DelugeInstance, kib: int) -> None:
    dl = client(deluge)
    dl.write_upload_limit(SpeedLimit(kib))
    assert dl.read_upload_limit() == SpeedLimit(kib)
    assert held(deluge) == float(kib)


def test_unlimited_is_minus_one_and_zero_reads_as_unlimited(deluge: DelugeInstance) -> None:
    dl = client(deluge)
    dl.write_upload_limit(SpeedLimit(0))
    assert held(deluge) == -1.0
    assert dl.read_upload_limit() == SpeedLimit(0)
    for users_value, meant in [(0, SpeedLimit(0)), (-5, SpeedLimit(0)), (2.5, SpeedLimit(2)), (0.5, SpeedLimit(1))]:
        deluge.json("core.set_config", {"max_upload_speed": users_value})  # as a user or another tool may
        assert dl.read_upload_limit() == meant


def test_download_limit_round_trip(deluge: DelugeInstance) -> None:
    dl = client(deluge)
    dl.write_download_limit(SpeedLimit(800))
    assert dl.read_download_limit() == SpeedLimit(800)
    assert held(deluge, "max_download_speed") == 800.0
    dl.write_download_limit(SpeedLimit(0))
    assert held(deluge, "max_download_speed") == -1.0
    assert dl.read_download_limit() == SpeedLimit(0)


def test_current_upload_rate_is_zero_without_torrents(deluge: DelugeInstance) -> None:
    assert client(deluge).current_upload_rate() == SpeedLimit(0)


def test_connects_the_web_ui_to_its_daemon_when_it_is_not(
    deluge: DelugeInstance, caplog: pytest.LogCaptureFixture
) -> None:
    disconnect(deluge)
    with caplog.at_level(logging.INFO, logger="plex_helper.deluge"):
        assert client(deluge).describe() == "Deluge 2.0.3 (daemon 127.0.0.1:%d), login: password" % deluge.daemon_port
    assert deluge.json("web.connected")["result"] is True
    assert [r.getMessage() for r in caplog.records] == [
        "connected Deluge's web UI at %s/json to its daemon at 127.0.0.1:%d" % (deluge.url, deluge.daemon_port)
    ]
    # connected already: nothing to do, and nothing said
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="plex_helper.deluge"):
        assert client(deluge).describe() == "Deluge 2.0.3, login: password"
    assert caplog.records == []


def test_daemon_host_picks_the_entry(deluge: DelugeInstance) -> None:
    host_id = hosts(deluge)[0][0]
    for named in ("127.0.0.1:%d" % deluge.daemon_port, host_id):
        disconnect(deluge)
        dl = client(deluge, daemon_host=named)
        assert dl.describe() == "Deluge 2.0.3 (daemon 127.0.0.1:%d), login: password" % deluge.daemon_port
    err = error_of(client(deluge, daemon_host="127.0.0.1:1").read_upload_limit)
    assert err.kind is FailureKind.REJECTED
    assert str(err) == (
        "deluge daemon_host '127.0.0.1:1' is not in the Connection Manager of Deluge's web UI at %s/json (it "
        "knows: 127.0.0.1:%d); add it there" % (deluge.url, deluge.daemon_port)
    )


def test_a_host_entry_whose_daemon_is_down_is_explained(deluge: DelugeInstance) -> None:
    dead = free_port()
    added = deluge.json("web.add_host", "127.0.0.1", dead, "localclient", "x")["result"]
    try:
        err = error_of(client(deluge, daemon_host="127.0.0.1:%d" % dead).read_upload_limit)
        assert err.kind is FailureKind.UNREACHABLE
        assert str(err) == (
            "Deluge's web UI at %s/json could not connect to its daemon at 127.0.0.1:%d (Offline): is deluged "
            "running, and are the host's user and password in the Connection Manager right?" % (deluge.url, dead)
        )
    finally:
        deluge.json("web.remove_host", added[1])
    assert client(deluge).read_upload_limit() is not None  # back on the real daemon


def test_no_known_daemon_is_explained(deluge: DelugeInstance) -> None:
    disconnect(deluge)
    (entry,) = hosts(deluge)
    deluge.json("web.remove_host", entry[0])
    try:
        err = error_of(client(deluge).read_upload_limit)
        assert err.kind is FailureKind.REJECTED
        assert str(err) == (
            "Deluge's web UI at %s/json is not connected to a daemon and knows none: add deluged in its "
            "Connection Manager" % deluge.url
        )
    finally:
        deluge._point_host_entry_at_daemon()  # what the user does next
    assert client(deluge).read_upload_limit() is not None


def test_a_deleted_session_means_one_new_login(deluge: DelugeInstance, caplog: pytest.LogCaptureFixture) -> None:
    dl = client(deluge)
    dl.write_upload_limit(SpeedLimit(123))
    deluge.json_as("_session_id=%s" % dl._session, "auth.delete_session")  # its cookie, for this test only
    with caplog.at_level(logging.DEBUG, logger="plex_helper.deluge"):
        assert dl.read_upload_limit() == SpeedLimit(123)
        assert dl.read_upload_limit() == SpeedLimit(123)
    assert [r.getMessage() for r in caplog.records if "logging in again" in r.getMessage()] == [
        "Deluge at %s/json: not authenticated; logging in again" % deluge.url
    ]


def test_a_restarted_web_ui_is_connected_again(deluge: DelugeInstance) -> None:
    # deluge-web 2.0.3 keeps its sessions in web.conf: they survive; its daemon connection does not
    dl = client(deluge)
    dl.write_upload_limit(SpeedLimit(321))
    deluge.restart_web()
    assert deluge.json("web.connected")["result"] is False
    assert dl.read_upload_limit() == SpeedLimit(321)
    assert deluge.json("web.connected")["result"] is True


def test_a_restarted_daemon_is_connected_again(deluge: DelugeInstance, caplog: pytest.LogCaptureFixture) -> None:
    dl = client(deluge, timeout_sec=2.0)  # deluge-web lets the first call hang until our deadline
    dl.write_upload_limit(SpeedLimit(222))
    deluge.restart_daemon()
    with caplog.at_level(logging.DEBUG, logger="plex_helper.deluge"):
        assert dl.read_upload_limit() == SpeedLimit(222)
    assert any("lost its daemon; connecting again" in r.getMessage() for r in caplog.records)


def test_a_wrong_password_is_sent_once_per_retry_time(deluge: DelugeInstance) -> None:
    clock = ManualClock()
    dl = client(deluge, password="wrong-password", clock=clock)

    def settled_count() -> int:
        # a request of our own (no User-Agent) that is logged after everything sent before it
        marks = deluge.requests_logged("-")
        deluge.json("web.connected")
        assert wait_until(lambda: deluge.requests_logged("-") > marks, timeout=5)
        return deluge.requests_logged()

    before = settled_count()
    err = error_of(dl.read_upload_limit)
    assert err.kind is FailureKind.REJECTED
    assert str(err) == "Deluge's web UI rejected the password at %s/json" % deluge.url
    for _ in range(5):
        clock.now += 50
        err = error_of(lambda: dl.write_upload_limit(SpeedLimit(100)))
        assert err.kind is FailureKind.REJECTED and "next attempt in" in str(err)
    assert settled_count() == before + 1
    clock.now += 51
    error_of(dl.read_upload_limit)
    assert settled_count() == before + 2


def test_json_url_rules() -> None:
    assert json_url("http://nas:8112") == "http://nas:8112/json"
    assert json_url("http://u:p@nas:8112/") == "http://nas:8112/json"
    assert json_url("https://nas/deluge/") == "https://nas/deluge/json"
    assert json_url("http://nas:8112/json") == "http://nas:8112/json"


def test_choose_host() -> None:
    entries = parse_hosts([["a" * 32, "127.0.0.1", 58846, "localclient"], ["b" * 32, "NAS", 60000, "x"]])
    assert choose_host(entries, None) is None
    assert choose_host(entries, "127.0.0.1") == entries[0]  # the default port
    assert choose_host(entries, "nas:60000") == entries[1]
    assert choose_host(entries, "B" * 32) == entries[1]
    assert choose_host(entries, "nas") is None


# ---------------------------------------------------------------------------------- stand-in answers


def rpc_reply(result: Any = None, error: Any = None, cookie: bool = False) -> Any:
    headers = {"Content-Type": "application/json"}
    if cookie:
        headers["Set-Cookie"] = "_session_id=%s; Expires=Sun, 29 Nov 2099 19:13:37 GMT; Path=/json" % COOKIE
    return (200, headers, json.dumps({"result": result, "error": error, "id": 1}).encode())


def stand_in(core_reply: Callable[[str, List[Any]], Any]) -> Callable[..., Any]:
    """A web UI that logs in, is connected, and answers daemon calls with `core_reply`."""

    def respond(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Any:
        request = json.loads(body)
        name = request["method"]
        if name == "auth.login":
            return rpc_reply(request["params"] == [WEB_PASSWORD], cookie=request["params"] == [WEB_PASSWORD])
        if name == "web.connected":
            return rpc_reply(True)
        return core_reply(name, request["params"])

    return respond


def test_error_messages_are_never_quoted_and_not_authenticated_twice_is_a_rejection() -> None:
    echo = rpc_reply(error={"message": "TypeError: ... %s ..." % WEB_PASSWORD, "code": 3})
    with ScriptedServer(stand_in(lambda *a: echo)) as server:
        err = error_of(DelugeClient(server.url, WEB_PASSWORD).read_upload_limit)
        assert err.kind is FailureKind.MALFORMED
        assert str(err) == "Deluge at %s/json answered core.get_config_values with error code 3" % server.url
    never = rpc_reply(error={"message": "Not authenticated", "code": 1})
    with ScriptedServer(stand_in(lambda *a: never)) as server:
        err = error_of(DelugeClient(server.url, WEB_PASSWORD).read_upload_limit)
        assert err.kind is FailureKind.REJECTED and "even after a fresh login" in str(err)
        assert [json.loads(r[3])["method"] for r in server.requests].count("auth.login") == 2


def test_a_proxy_or_another_server_is_explained() -> None:
    with ScriptedServer(lambda *a: (403, {}, b"Forbidden")) as server:
        err = error_of(DelugeClient(server.url, WEB_PASSWORD).read_upload_limit)
        assert err.kind is FailureKind.REJECTED and "is a proxy in front of it asking for a login?" in str(err)
    with ScriptedServer(lambda *a: (200, {}, b"<html>hello</html>")) as server:
        err = error_of(DelugeClient(server.url, WEB_PASSWORD).read_upload_limit)
        assert err.kind is FailureKind.MALFORMED and "an HTML page; is deluge_url its web UI address?" in str(err)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4),
    max_leaves=12,
)
keyed = st.dictionaries(st.sampled_from(["max_upload_speed", "upload_rate", "x"]), json_values, max_size=3)


def _value_or_malformed(call: Callable[[], object]) -> None:
    try:
        call()
    except DownloadClientError as exc:
        assert exc.kind is FailureKind.MALFORMED and str(exc)


@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode())
       | st.builds(lambda r, e: json.dumps({"result": r, "error": e}).encode(), json_values, json_values))
def test_parse_json_rpc_gives_a_result_an_rpc_error_or_malformed(body: bytes) -> None:
    try:
        parse_json_rpc(body, "core.get_config_values")
    except DelugeRpcError as err:
        assert err.known_message in ("", "Not authenticated", "Unknown method")
    except DownloadClientError as exc:
        assert exc.kind is FailureKind.MALFORMED


@given(json_values | keyed)
def test_every_result_parser_gives_a_value_or_malformed(result: Any) -> None:
    _value_or_malformed(lambda: parse_limit(result, "max_upload_speed"))
    _value_or_malformed(lambda: parse_rate(result))
    _value_or_malformed(lambda: parse_version(result))
    _value_or_malformed(lambda: parse_bool(result, "web.connected"))
    _value_or_malformed(lambda: parse_hosts(result))
    _value_or_malformed(lambda: parse_host_status(result))


@pytest.fixture(scope="module")
def fuzz_server():
    state: Dict[str, Any] = {"result": None}
    with ScriptedServer(stand_in(lambda name, params: rpc_reply(state["result"]))) as server:
        yield server, state


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(json_values | keyed, st.sampled_from(["read_upload_limit", "read_download_limit", "current_upload_rate",
                                             "describe", "write_upload_limit"]))
def test_the_client_gives_a_value_or_malformed_for_any_answer(fuzz_server: Any, result: Any, call: str) -> None:
    server, state = fuzz_server
    state["result"] = result
    dl = DelugeClient(server.url, WEB_PASSWORD, timeout_sec=5.0)
    method = getattr(dl, call)
    _value_or_malformed(lambda: method(SpeedLimit(100)) if call.startswith("write") else method())
    dl.close()


# ---------------------------------------------------------------------------------- secrets


def _texts(exc: Optional[BaseException], caplog: pytest.LogCaptureFixture, dl: DelugeClient) -> List[str]:
    texts = [r.getMessage() for r in caplog.records] + [caplog.text, repr(dl)]
    if exc is not None:
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))]
    return texts


def _assert_clean(texts: List[str], secrets: List[str]) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, "a secret leaked into: %s" % text[:200]


def _run(call: Callable[[], object]) -> Optional[DownloadClientError]:
    try:
        call()
    except DownloadClientError as exc:
        return exc
    return None


def test_no_secret_in_any_log_line_error_or_repr(deluge: DelugeInstance, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wr0ng-Pa55word"
    secrets = [WEB_PASSWORD, wrong, COOKIE]
    good = client(deluge)
    assert _run(lambda: good.write_upload_limit(SpeedLimit(10))) is None  # login (and connect), success
    secrets.append(good._session)
    deluge.json_as("_session_id=%s" % good._session, "auth.delete_session")
    assert _run(good.read_upload_limit) is None  # "Not authenticated", a new login
    secrets.append(good._session)
    assert secrets[-1] != secrets[-2]
    _assert_clean(_texts(None, caplog, good), secrets)

    cases = [
        (client(deluge, password=wrong), FailureKind.REJECTED),
        (DelugeClient("http://127.0.0.1:%d" % free_port(), WEB_PASSWORD), FailureKind.UNREACHABLE),
    ]
    for dl, kind in cases:
        exc = _run(dl.read_upload_limit)
        assert exc is not None and exc.kind is kind
        _assert_clean(_texts(exc, caplog, dl), secrets)
    for reply in [(403, {}, b"Forbidden"), rpc_reply({"max_upload_speed": COOKIE}),
                  rpc_reply(error={"message": "echo %s %s" % (WEB_PASSWORD, COOKIE), "code": 3})]:
        with ScriptedServer(stand_in(lambda *a, reply=reply: reply)) as server:
            dl = DelugeClient(server.url, WEB_PASSWORD)
            exc = _run(dl.read_upload_limit)
            assert exc is not None
            _assert_clean(_texts(exc, caplog, dl), secrets)
    assert caplog.records
