"""SabnzbdClient against the SABnzbd stand-in (SABnzbd is not packaged in Debian), on 127.0.0.1."""
from __future__ import annotations

import json
import logging
import traceback
from typing import Iterator, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.clients.sabnzbd import AUTH_WORDS, SabnzbdClient
from domain.policies import SpeedLimit
from domain.ports import ClientAdapter, DownloadLimitControl, FailureKind, DownloadClientError, UploadLimitControl
from tests.support.clock import ManualClock
from tests.support.ports import free_port
from tests.support.sabnzbd_server import VERSION, SabnzbdStandIn, sab_limit_speed

KEY = "5ec12e7a9b0c4d1f8a3b6c7d8e9f0a1b"
WRONG = "0000aaaa1111bbbb2222cccc3333dddd"


@pytest.fixture(scope="module")
def standin() -> Iterator[SabnzbdStandIn]:
    with SabnzbdStandIn(api_key=KEY) as sab:
        yield sab


@pytest.fixture
def sab(standin: SabnzbdStandIn) -> SabnzbdStandIn:
    """The shared stand-in, reset to a fresh SABnzbd 5.0 for each test."""
    standin.reset()
    return standin


def client(sab: SabnzbdStandIn, key: str = KEY, clock: Optional[ManualClock] = None, url: str = "") -> SabnzbdClient:
    return SabnzbdClient(url or sab.url, key, timeout_sec=3.0, login_retry_sec=300.0, clock=clock or ManualClock())


def closed_port() -> int:
    return free_port()  # nothing listens there


def error_of(call) -> DownloadClientError:
    with pytest.raises(DownloadClientError) as info:
        call()
    return info.value


def all_text_of(err: BaseException) -> str:
    """What a log line, a traceback or a debugger could show of the error."""
    return "\n".join([str(err), repr(err), "".join(traceback.format_exception(type(err), err, err.__traceback__))])


# ------------------------------------------------------------------------------------ the ports


def test_implements_the_download_ports_only(sab):
    c = client(sab)
    assert isinstance(c, ClientAdapter) and isinstance(c, DownloadLimitControl)
    assert not isinstance(c, UploadLimitControl)


def test_describe_names_kind_version_url_and_auth_without_the_key(sab):
    line = client(sab).describe()
    assert line == "SABnzbd %s at %s, %s" % (VERSION, sab.url, AUTH_WORDS)
    assert KEY not in line
    assert sab.requests[0] == {"mode": "version", "output": "json"}  # asked without the key
    assert sab.requests[1]["mode"] == "queue" and sab.requests[1]["apikey"] == KEY  # the key is proven


@pytest.mark.parametrize("kib", [1, 7, 500, 100000])
def test_round_trip_with_an_explicit_unit(sab, kib):
    c = client(sab)
    c.write_download_limit(SpeedLimit(kib))
    assert sab.limit_values == ["%dK" % kib]
    assert sab.bandwidth_limit == kib * 1024  # absolute, never a percentage of the line speed
    assert c.read_download_limit() == SpeedLimit(kib)


def test_unlimited_is_zero_and_reads_back_unlimited(sab):
    c = client(sab)
    c.write_download_limit(SpeedLimit(300))
    c.write_download_limit(SpeedLimit(0))
    assert sab.limit_values == ["300K", "0"]
    assert sab.bandwidth_limit == 0
    assert c.read_download_limit() == SpeedLimit(0)  # speedlimit_abs "0" = no limit


def test_small_limit_with_a_line_speed_set_stays_absolute(sab):
    sab.speed.bandwidth_max = 10 * 1024 * 1024  # "Maximum line speed" 10M: a bare 50 would be 50% = 5 MiB/s
    c = client(sab)
    c.write_download_limit(SpeedLimit(50))
    assert sab.bandwidth_limit == 50 * 1024
    assert c.read_download_limit() == SpeedLimit(50)


def test_reads_a_percentage_the_user_set_as_its_absolute_value(sab):
    sab.speed.bandwidth_max = 1000 * 1024
    sab_limit_speed(sab.speed, "25")  # 25% of 1000 KiB/s, set in SABnzbd's own UI
    assert client(sab).read_download_limit() == SpeedLimit(250)


def test_reads_3x_float_text(sab):
    sab.abs_as_float = True
    c = client(sab)
    c.write_download_limit(SpeedLimit(500))
    assert sab.requests[-1]["value"] == "500K"
    assert c.read_download_limit() == SpeedLimit(500)  # "512000.0"


def test_write_needs_sabnzbds_confirmation(sab):
    sab.override("config", 200, b'{"queue": {}}')
    err = error_of(lambda: client(sab).write_download_limit(SpeedLimit(10)))
    assert err.kind is FailureKind.MALFORMED and "did not confirm" in str(err)


# ------------------------------------------------------------------------------------ the key


@pytest.mark.parametrize("style", ["json200", "text403", "empty403"])
def test_wrong_key_is_rejected_and_held_back(sab, style):
    sab.key_style = style
    clock = ManualClock()
    c = client(sab, key=WRONG, clock=clock)
    first = error_of(c.read_download_limit)
    assert first.kind is FailureKind.REJECTED
    if style != "empty403":
        assert str(first).startswith("SABnzbd rejected the API key at %s" % sab.url)
    assert sab.wrong_key_requests == 1
    for call in (c.read_download_limit, lambda: c.write_download_limit(SpeedLimit(5)), c.describe):
        later = error_of(call)
        assert later.kind is FailureKind.REJECTED and "next attempt in" in str(later)
    assert sab.wrong_key_requests == 1  # held back: nothing more reached SABnzbd with that key
    assert sab.limit_values == []
    clock.now += 301
    assert error_of(c.read_download_limit).kind is FailureKind.REJECTED
    assert sab.wrong_key_requests == 2
    for err in (first, later):
        assert WRONG not in all_text_of(err)


def test_missing_key_is_named(sab):
    err = error_of(client(sab, key="").read_download_limit)
    assert err.kind is FailureKind.REJECTED and "wants an API key" in str(err)


def test_a_right_key_after_a_fix_clears_the_hold_back(sab):
    clock = ManualClock()
    c = client(sab, key=WRONG, clock=clock)
    error_of(c.read_download_limit)
    c._api_key = KEY  # the user fixed the config (a reload builds a new client; this is the same path)
    clock.now += 301
    assert c.read_download_limit() == SpeedLimit(0)
    assert c.read_download_limit() == SpeedLimit(0)


def test_the_key_never_reaches_logs_messages_or_reprs(sab, caplog):
    caplog.set_level(logging.DEBUG)  # everything, urllib3's request lines included
    clock = ManualClock()
    good = client(sab, clock=clock, url=sab.url + "/?apikey=" + KEY)
    errors = []
    good.describe()
    good.write_download_limit(SpeedLimit(123))
    good.read_download_limit()
    sab.html = True
    errors.append(error_of(good.read_download_limit))
    sab.html = False
    sab.override("queue", 200, json.dumps({"status": False, "error": "bad %s" % KEY}).encode())
    errors.append(error_of(good.read_download_limit))
    sab.clear_overrides()
    sab.override("queue", 500, b"oops " + KEY.encode())
    errors.append(error_of(good.read_download_limit))
    sab.clear_overrides()
    errors.append(error_of(client(sab, key=WRONG).read_download_limit))
    unreachable = SabnzbdClient("http://127.0.0.1:%d" % closed_port(), KEY, timeout_sec=2)
    errors.append(error_of(unreachable.read_download_limit))
    for err in errors:
        assert KEY not in all_text_of(err) and WRONG not in all_text_of(err)
    assert "apikey=***" in caplog.text  # urllib3 did log its request lines, with the key blanked
    assert KEY not in caplog.text and WRONG not in caplog.text
    for record in caplog.records:
        assert KEY not in record.getMessage()
    assert KEY not in repr(good) and KEY not in good.url


# ------------------------------------------------------------------------------------ misbehaviour


def test_html_instead_of_json_is_malformed(sab):
    sab.html = True
    err = error_of(client(sab).read_download_limit)
    assert err.kind is FailureKind.MALFORMED
    assert "HTML page" in str(err) and sab.url in str(err)
    assert "HTML page" in str(error_of(client(sab).describe))


def test_wrong_path_is_named(sab):
    err = error_of(client(sab, url=sab.url + "/sabnzbd").read_download_limit)
    assert err.kind is FailureKind.MALFORMED and "404" in str(err)


def test_locked_configuration_is_a_refusal(sab):
    sab.override("config", 200, b'{"status": false, "error": "Configuration locked"}')
    err = error_of(lambda: client(sab).write_download_limit(SpeedLimit(10)))
    assert err.kind is FailureKind.REJECTED and "locked" in str(err)


def test_server_error_and_closed_port_are_unreachable(sab):
    sab.override("queue", 503, b"busy")
    assert error_of(client(sab).read_download_limit).kind is FailureKind.UNREACHABLE
    err = error_of(SabnzbdClient("http://127.0.0.1:%d" % closed_port(), KEY, timeout_sec=2).read_download_limit)
    assert err.kind is FailureKind.UNREACHABLE and "connection refused" in str(err)
    assert err.__context__ is None and err.__cause__ is None


def test_an_oversized_answer_is_cut_and_refused(sab):
    sab.override("queue", 200, b'{"queue": {"slots": "' + b"x" * 400_000 + b'"}}')
    err = error_of(client(sab).read_download_limit)
    assert err.kind is FailureKind.MALFORMED and "longer than" in str(err)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
queue_like = st.fixed_dictionaries({"queue": st.fixed_dictionaries({"speedlimit_abs": json_values})})
bodies = (json_values | queue_like).map(lambda v: json.dumps(v).encode()) | st.binary(max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, status=st.sampled_from([200, 200, 200, 401, 403, 404, 500]))
def test_any_answer_gives_a_limit_or_a_clean_error(sab, body, status):
    sab.override("queue", status, body)
    try:
        limit = client(sab).read_download_limit()
    except DownloadClientError as err:
        assert str(err) and KEY not in all_text_of(err)
    else:
        assert isinstance(limit, SpeedLimit)
