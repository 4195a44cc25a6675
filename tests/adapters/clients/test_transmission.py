"""TransmissionClient against a real transmission-daemon (3.00 here) on 127.0.0.1, and a stand-in for
answers the real one does not give."""
from __future__ import annotations

import http.client
import json
import logging
import re
import traceback
from typing import Any, Callable, Dict, List, Mapping, Optional

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from adapters.clients.transmission.client import (
    TransmissionClient,
    parse_flag,
    parse_limit,
    parse_rate,
    parse_rpc_answer,
    parse_speed_bytes,
    parse_version,
    rpc_url,
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
from tests.support.clock import ManualClock
from tests.support.ports import free_port
from tests.support.transmission_daemon import (  # noqa: F401  (fixtures)
    TR_PASSWORD,
    TR_USER,
    ScriptedServer,
    TransmissionDaemon,
    transmission,
    transmission_auth,
    transmission_factory,
    transmission_session,
)

Factory = Callable[..., TransmissionDaemon]
SESSION_ID = "Se55ionIdThatMustNeverBeLogged0123456789abcdefXYZ"


def client(daemon: TransmissionDaemon, password: Optional[str] = None, clock: Optional[ManualClock] = None,
           url: Optional[str] = None) -> TransmissionClient:
    return TransmissionClient(
        url or daemon.url, daemon.username, daemon.password if password is None else password, timeout_sec=5.0,
        login_retry_sec=300.0, clock=clock or ManualClock(),
    )


def error_of(call: Callable[[], object]) -> DownloadClientError:
    with pytest.raises(DownloadClientError) as info:
        call()
    return info.value


def held_limit(daemon: TransmissionDaemon, key: str = "speed-limit-up") -> Dict[str, Any]:
    answer = daemon.rpc("session-get", {"fields": [key, key + "-enabled"]})
    return answer["json"]["arguments"]


def wrong_login(daemon: TransmissionDaemon) -> str:
    """One request with a wrong password; Transmission's 401 page counts the failed logins so far."""
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=5)
    conn.request("POST", "/transmission/rpc", body=b"{}", headers={"Authorization": "Basic eDp5"})  # x:y
    body = conn.getresponse().read().decode()
    conn.close()
    return body


def failed_logins_counted(daemon: TransmissionDaemon) -> int:
    """The daemon's count of failed logins, including the one this question costs."""
    return int(re.search(r"(\d+) unsuccessful login attempts", wrong_login(daemon)).group(1))


def session_id_of(daemon: TransmissionDaemon) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=5)
    headers = {"Authorization": "Basic %s" % __import__("base64").b64encode(
        ("%s:%s" % (daemon.username, daemon.password)).encode()).decode()} if daemon.username else {}
    conn.request("POST", "/transmission/rpc", body=b"{}", headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.getheader("X-Transmission-Session-Id")


# ---------------------------------------------------------------------------------- real daemon


def test_it_offers_every_port_but_nothing_else(transmission: TransmissionDaemon) -> None:
    tr = client(transmission)
    for port in (ClientAdapter, UploadLimitControl, DownloadLimitControl, AlternativeSpeedMode, TransferRates):
        assert isinstance(tr, port)


@pytest.mark.parametrize("kib", [1, 7, 250, 500, 1000, 100000])
def test_upload_limit_round_trip_in_kib(transmission_auth: TransmissionDaemon, kib: int) -> None:
    tr = client(transmission_auth)
    tr.write_upload_limit(SpeedLimit(kib))
    assert tr.read_upload_limit() == SpeedLimit(kib)
    # what the daemon holds: kB/s (speed-bytes 1000), rounded down, switched on
    assert held_limit(transmission_auth) == {"speed-limit-up": kib * 1024 // 1000, "speed-limit-up-enabled": True}


def test_unlimited_switches_the_limit_off_and_keeps_the_value(transmission: TransmissionDaemon) -> None:
    tr = client(transmission)
    tr.write_upload_limit(SpeedLimit(300))
    tr.write_upload_limit(SpeedLimit(0))
    assert held_limit(transmission) == {"speed-limit-up": 307, "speed-limit-up-enabled": False}
    assert tr.read_upload_limit() == SpeedLimit(0)


def test_download_limit_round_trip(transmission: TransmissionDaemon) -> None:
    tr = client(transmission)
    tr.write_download_limit(SpeedLimit(800))
    assert tr.read_download_limit() == SpeedLimit(800)
    assert held_limit(transmission, "speed-limit-down") == {"speed-limit-down": 819, "speed-limit-down-enabled": True}
    tr.write_download_limit(SpeedLimit(0))
    assert tr.read_download_limit() == SpeedLimit(0)


def test_alternative_mode_on_and_off(transmission: TransmissionDaemon) -> None:
    tr = client(transmission)
    tr.write_alternative_upload_limit(SpeedLimit(300))
    assert tr.read_alternative_upload_limit() == SpeedLimit(300)
    assert transmission.rpc("session-get", {"fields": ["alt-speed-up"]})["json"]["arguments"] == {"alt-speed-up": 307}
    tr.set_alternative_mode(True)
    assert tr.alternative_mode() is True
    tr.set_alternative_mode(True)  # idempotent
    assert tr.alternative_mode() is True
    tr.set_alternative_mode(False)
    assert tr.alternative_mode() is False
    err = error_of(lambda: tr.write_alternative_upload_limit(SpeedLimit(0)))
    assert "cannot be unlimited" in str(err)
    assert tr.read_alternative_upload_limit() == SpeedLimit(300)


def test_current_upload_rate_is_zero_without_torrents(transmission: TransmissionDaemon) -> None:
    assert client(transmission).current_upload_rate() == SpeedLimit(0)


def test_describe(transmission: TransmissionDaemon, transmission_auth: TransmissionDaemon) -> None:
    pattern = r"Transmission [0-9][0-9A-Za-z.+-]* \(rpc-version [0-9]+\), login: %s"
    assert re.fullmatch(pattern % "none", client(transmission).describe())
    assert re.fullmatch(pattern % "password", client(transmission_auth).describe())
    assert client(transmission).describe().startswith("Transmission 3.00 (rpc-version 16)")  # Debian 12


@pytest.mark.parametrize("suffix", ["", "/", "/transmission/rpc", "/transmission/rpc/", "/transmission/web/"])
def test_base_url_with_or_without_the_rpc_path(transmission: TransmissionDaemon, suffix: str) -> None:
    assert "login: none" in client(transmission, url=transmission.url + suffix).describe()


def test_rpc_url_rules() -> None:
    assert rpc_url("http://nas:9091") == "http://nas:9091/transmission/rpc"
    assert rpc_url(" http://u:p@nas:9091/ ") == "http://nas:9091/transmission/rpc"
    assert rpc_url("https://nas/tr/rpc") == "https://nas/tr/rpc"
    assert rpc_url("http://nas:9091/transmission") == "http://nas:9091/transmission/rpc"
    assert rpc_url("http://nas:9091/transmission/web/") == "http://nas:9091/transmission/rpc"


def test_a_restart_renews_the_session_id_and_the_limit_survives(
    transmission_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = transmission_factory(TR_USER, TR_PASSWORD)
    tr = client(daemon)
    with caplog.at_level(logging.DEBUG, logger="plex_helper.transmission"):
        tr.write_upload_limit(SpeedLimit(500))
        first_id = session_id_of(daemon)
        daemon.restart()
        assert session_id_of(daemon) != first_id
        assert tr.read_upload_limit() == SpeedLimit(500)  # a 409 with the new id, resent once
        tr.write_upload_limit(SpeedLimit(250))
        assert tr.read_upload_limit() == SpeedLimit(250)
    renewals = [r for r in caplog.records if "new session id" in r.getMessage()]
    assert len(renewals) == 2 and all(r.levelno == logging.DEBUG for r in renewals)
    daemon.stop()
    err = error_of(tr.read_upload_limit)
    assert err.kind is FailureKind.UNREACHABLE
    assert str(err) == "Transmission not reachable at %s/transmission/rpc: connection refused" % daemon.url


def test_a_wrong_password_is_sent_once_per_retry_time(transmission_factory: Factory) -> None:
    daemon = transmission_factory(TR_USER, TR_PASSWORD)
    clock = ManualClock()
    tr = client(daemon, password="wrong-password", clock=clock)
    before = failed_logins_counted(daemon)
    first = error_of(tr.read_upload_limit)
    assert first.kind is FailureKind.REJECTED
    assert str(first) == "Transmission rejected the username or password at %s" % daemon.rpc_url
    for _ in range(5):
        clock.now += 50
        err = error_of(lambda: tr.write_upload_limit(SpeedLimit(100)))
        assert err.kind is FailureKind.REJECTED and "next attempt in" in str(err)
    after = failed_logins_counted(daemon)
    assert after == before + 2  # one from the client in 250 s, one for asking
    clock.now += 51  # 301 s after the failure: one more attempt
    error_of(tr.read_upload_limit)
    assert failed_logins_counted(daemon) == after + 2
    right = client(daemon, clock=clock)
    assert right.read_upload_limit() == SpeedLimit(0)


def test_no_credentials_for_a_daemon_that_wants_them(transmission_auth: TransmissionDaemon) -> None:
    tr = TransmissionClient(transmission_auth.url, timeout_sec=5.0, clock=ManualClock())
    err = error_of(tr.read_upload_limit)
    assert err.kind is FailureKind.REJECTED
    assert "requires a login (rpc-authentication-required)" in str(err)
    assert "next attempt in" in str(error_of(tr.read_upload_limit))


def test_a_locked_rpc_says_to_restart_the_daemon(transmission_factory: Factory) -> None:
    daemon = transmission_factory(TR_USER, TR_PASSWORD)
    # Transmission 3.00 locks its RPC after more than 100 failed logins
    assert any("Too many unsuccessful login attempts" in wrong_login(daemon) for _ in range(150))
    err = error_of(client(daemon).read_upload_limit)
    assert err.kind is FailureKind.REJECTED
    assert "too many failed logins: fix the password, then restart transmission-daemon" in str(err)


def test_an_address_outside_rpc_whitelist_is_explained(transmission_factory: Factory) -> None:
    daemon = transmission_factory(allowed="10.9.9.9")
    err = error_of(client(daemon).read_upload_limit)
    assert err.kind is FailureKind.REJECTED
    assert str(err) == (
        "Transmission refused this address: add it to rpc-whitelist in settings.json or disable "
        "rpc-whitelist-enabled (%s)" % daemon.rpc_url
    )


# ---------------------------------------------------------------------------------- stand-in answers


def scripted(*replies: Any) -> Callable[..., Any]:
    """Replies in turn; the last one repeats."""
    queue: List[Any] = list(replies)

    def respond(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Any:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return respond


CONFLICT = (409, {"X-Transmission-Session-Id": SESSION_ID}, b"<h1>409: Conflict</h1>" + SESSION_ID.encode())


def ok(arguments: Dict[str, Any]) -> Any:
    body = json.dumps({"arguments": arguments, "result": "success"}).encode()
    return (200, {"Content-Type": "application/json"}, body)


def test_the_session_id_is_sent_back_and_a_second_409_in_a_row_is_an_error() -> None:
    with ScriptedServer(scripted(CONFLICT, ok({"uploadSpeed": 2048}))) as server:
        assert TransmissionClient(server.url).current_upload_rate() == SpeedLimit(2)
        assert "X-Transmission-Session-Id" not in server.requests[0][2]
        assert server.requests[1][2]["X-Transmission-Session-Id"] == SESSION_ID
    with ScriptedServer(scripted(CONFLICT)) as server:
        err = error_of(TransmissionClient(server.url).current_upload_rate)
        assert err.kind is FailureKind.MALFORMED and "changed its session id twice in a row" in str(err)
        assert len(server.requests) == 2
    with ScriptedServer(scripted((409, {}, b"no header"))) as server:
        err = error_of(TransmissionClient(server.url).current_upload_rate)
        assert "409 without a usable session id" in str(err)


def test_a_host_name_outside_rpc_host_whitelist_is_explained() -> None:
    body = b"<h1>421: Misdirected Request</h1><p>... 'rpc-host-whitelist' ...</p>"
    with ScriptedServer(scripted((421, {}, body))) as server:
        err = error_of(TransmissionClient(server.url).read_upload_limit)
    assert err.kind is FailureKind.REJECTED and "rpc-host-whitelist" in str(err)


def test_a_failed_rpc_result_is_quoted_only_when_it_is_plain_words() -> None:
    refused = (200, {}, json.dumps({"arguments": {}, "result": "method name not recognized"}).encode())
    with ScriptedServer(scripted(refused)) as server:
        assert str(error_of(TransmissionClient(server.url).current_upload_rate)) == (
            "Transmission refused session-stats: method name not recognized"
        )
    odd = (200, {}, json.dumps({"arguments": {}, "result": SESSION_ID}).encode())
    with ScriptedServer(scripted(odd)) as server:
        assert SESSION_ID not in str(error_of(TransmissionClient(server.url).current_upload_rate))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4),
    max_leaves=12,
)
session_keys = st.sampled_from(
    ["speed-limit-up", "speed-limit-up-enabled", "alt-speed-up", "alt-speed-enabled", "units", "version",
     "rpc-version", "uploadSpeed"]
)
arguments = st.dictionaries(session_keys, json_values | st.fixed_dictionaries({"speed-bytes": json_values}))


def _value_or_malformed(call: Callable[[], object]) -> None:
    try:
        call()
    except DownloadClientError as exc:
        assert exc.kind is FailureKind.MALFORMED and str(exc)


@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_parse_rpc_answer_gives_arguments_or_malformed(body: bytes) -> None:
    _value_or_malformed(lambda: parse_rpc_answer(body, "session-get"))


@given(arguments, st.integers(min_value=1, max_value=1 << 20))
def test_every_argument_parser_gives_a_value_or_malformed(args: Dict[str, Any], speed_bytes: int) -> None:
    _value_or_malformed(lambda: parse_speed_bytes(args))
    _value_or_malformed(lambda: parse_limit(args, "speed-limit-up", "speed-limit-up-enabled", speed_bytes))
    _value_or_malformed(lambda: parse_limit(args, "alt-speed-up", None, speed_bytes))
    _value_or_malformed(lambda: parse_flag(args, "alt-speed-enabled"))
    _value_or_malformed(lambda: parse_rate(args))
    _value_or_malformed(lambda: parse_version(args))


@pytest.fixture(scope="module")
def fuzz_server():
    state: Dict[str, Any] = {"reply": ok({})}
    with ScriptedServer(lambda *a: state["reply"]) as server:
        yield server, state


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arguments, st.sampled_from(["read_upload_limit", "read_alternative_upload_limit", "alternative_mode",
                                   "current_upload_rate", "describe", "write_upload_limit"]))
def test_the_client_gives_a_value_or_malformed_for_any_answer(
    fuzz_server: Any, args: Dict[str, Any], call: str
) -> None:
    server, state = fuzz_server
    state["reply"] = ok(args)
    tr = TransmissionClient(server.url, timeout_sec=5.0)
    method = getattr(tr, call)
    _value_or_malformed(lambda: method(SpeedLimit(100)) if call.startswith("write") else method())
    tr.close()


# ---------------------------------------------------------------------------------- secrets


def _assert_clean(texts: List[str], secrets: List[str]) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, "a secret leaked into: %s" % text[:200]


def _texts(exc: Optional[BaseException], caplog: pytest.LogCaptureFixture, tr: TransmissionClient) -> List[str]:
    texts = [r.getMessage() for r in caplog.records] + [caplog.text, repr(tr)]
    if exc is not None:
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))]
    return texts


def _run(call: Callable[[], object]) -> Optional[BaseException]:
    try:
        call()
    except DownloadClientError as exc:
        return exc
    return None


def test_no_secret_in_any_log_line_error_or_repr(
    transmission_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    daemon = transmission_factory(TR_USER, TR_PASSWORD)
    fenced = transmission_factory(TR_USER, TR_PASSWORD, allowed="10.9.9.9")
    wrong = "wr0ng-Pa55word"
    secrets = [TR_PASSWORD, wrong, session_id_of(daemon), SESSION_ID, "cGxleC1oZWxwZXI6"]  # base64 of "plex-helper:"

    good = client(daemon)  # 409 exchange, then success
    assert _run(lambda: good.write_upload_limit(SpeedLimit(10))) is None
    _assert_clean(_texts(None, caplog, good), secrets)
    daemon.restart()  # a later 409 with a new id
    secrets.append(session_id_of(daemon))
    assert _run(good.read_upload_limit) is None
    _assert_clean(_texts(None, caplog, good), secrets)

    cases = [
        (client(daemon, password=wrong), FailureKind.REJECTED),  # 401
        (client(fenced), FailureKind.REJECTED),  # 403 rpc-whitelist
        (TransmissionClient("http://127.0.0.1:%d" % free_port(), TR_USER, TR_PASSWORD), FailureKind.UNREACHABLE),
    ]
    for tr, kind in cases:
        exc = _run(tr.read_upload_limit)
        assert exc is not None and exc.kind is kind
        _assert_clean(_texts(exc, caplog, tr), secrets)
    with ScriptedServer(scripted(CONFLICT, (200, {}, b'{"result": "success", "arguments": {"units": 5}}'))) as server:
        tr = TransmissionClient(server.url, TR_USER, TR_PASSWORD)
        exc = _run(tr.read_upload_limit)  # 409 (with the id in the body too), then malformed
        assert exc is not None and exc.kind is FailureKind.MALFORMED
        _assert_clean(_texts(exc, caplog, tr), secrets)
    assert caplog.records  # the matrix really logged something
