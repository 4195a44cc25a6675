"""NzbgetClient against a real nzbget (Debian's 21.0 here) on 127.0.0.1."""
from __future__ import annotations

import logging
import traceback
from typing import Optional

import pytest

from adapters.clients.nzbget import MAX_RATE_KIB, NzbgetClient, rpc_result
from domain.policies import SpeedLimit
from domain.ports import ClientAdapter, DownloadLimitControl, FailureKind, DownloadClientError, UploadLimitControl
from tests.support.clock import ManualClock
from tests.support.nzbget_daemon import NzbgetInstance  # its fixtures come from tests/conftest.py
from tests.support.ports import free_port
from tests.support.waiting import wait_until


def client(nzb: NzbgetInstance, password: Optional[str] = None, clock: Optional[ManualClock] = None,
           username: Optional[str] = None) -> NzbgetClient:
    return NzbgetClient(
        nzb.url, username=nzb.username if username is None else username,
        password=nzb.password if password is None else password, timeout_sec=5.0, login_retry_sec=300.0,
        clock=clock or ManualClock(),
    )


def error_of(call) -> DownloadClientError:
    with pytest.raises(DownloadClientError) as info:
        call()
    return info.value


def all_text_of(err: BaseException) -> str:
    return "\n".join([str(err), repr(err), "".join(traceback.format_exception(type(err), err, err.__traceback__))])


def test_implements_the_download_ports_only(nzbget_daemon):
    c = client(nzbget_daemon)
    assert isinstance(c, ClientAdapter) and isinstance(c, DownloadLimitControl)
    assert not isinstance(c, UploadLimitControl)


def test_describe_names_kind_version_url_and_user(nzbget_daemon):
    line = client(nzbget_daemon).describe()
    assert line.startswith("NZBGet ") and line.endswith(" at %s, logged in as nzbget" % nzbget_daemon.url)
    version = line.split()[1]
    assert version == nzbget_daemon.rpc("version")["result"]  # "21.0" on Debian 12
    assert nzbget_daemon.password not in line


@pytest.mark.parametrize("kib", [1, 7, 500, 100000, 0])
def test_round_trip_on_the_real_daemon(nzbget_daemon, kib):
    c = client(nzbget_daemon)
    c.write_download_limit(SpeedLimit(kib))
    assert nzbget_daemon.download_limit_bytes() == kib * 1024  # NZBGet's own reading, bytes/s
    assert c.read_download_limit() == SpeedLimit(kib)


def test_unlimited_after_a_limit(nzbget_daemon):
    c = client(nzbget_daemon)
    c.write_download_limit(SpeedLimit(250))
    c.write_download_limit(SpeedLimit(0))
    assert nzbget_daemon.download_limit_bytes() == 0
    assert c.read_download_limit() == SpeedLimit(0)


def test_a_huge_limit_is_capped_below_nzbgets_wrap_not_turned_unlimited(nzbget_daemon):
    c = client(nzbget_daemon)
    c.write_download_limit(SpeedLimit(4194304))  # sent as is, NZBGet would store 0: unlimited
    assert nzbget_daemon.download_limit_bytes() == MAX_RATE_KIB * 1024
    assert c.read_download_limit() == SpeedLimit(MAX_RATE_KIB)


def test_a_wrapped_negative_limit_reads_as_unlimited(nzbget_daemon):
    assert nzbget_daemon.rpc("rate", 2097152)["result"] is True  # what a naive client could do
    assert nzbget_daemon.download_limit_bytes() == -(2**31)
    assert client(nzbget_daemon).read_download_limit() == SpeedLimit(0)
    nzbget_daemon.rpc("rate", 0)


def test_nzbgets_error_object_is_a_plain_message(nzbget_daemon):
    answer = nzbget_daemon.rpc("rate", -1)  # the real error object
    assert answer["error"]["message"] == "Invalid parameter"
    err = error_of(lambda: rpc_result(answer, "rate", "NZBGet at %s" % nzbget_daemon.url))
    assert err.kind is FailureKind.MALFORMED
    assert str(err) == "NZBGet at %s refused rate: 'Invalid parameter'" % nzbget_daemon.url


def settled(nzb: NzbgetInstance, count: int, timeout: float = 5.0) -> None:
    """NZBGet may write its log line just after its answer: wait (bounded) for `count` lines."""
    wait_until(lambda: nzb.refused_logins() >= count, timeout)


def test_wrong_password_is_rejected_and_held_back(nzbget_daemon, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "not-" + nzbget_daemon.password
    clock = ManualClock()
    c = client(nzbget_daemon, password=wrong, clock=clock)
    before = nzbget_daemon.refused_logins()
    first = error_of(c.read_download_limit)
    assert first.kind is FailureKind.REJECTED
    assert str(first).startswith("NZBGet rejected the username or password at %s" % nzbget_daemon.url)
    settled(nzbget_daemon, before + 1)
    assert nzbget_daemon.refused_logins() == before + 1  # NZBGet logged one refused request
    later = [error_of(call) for call in (c.read_download_limit, lambda: c.write_download_limit(SpeedLimit(9)),
                                         c.describe, c.read_download_limit)]
    assert all(e.kind is FailureKind.REJECTED and "next attempt in 300 s" in str(e) for e in later)
    assert nzbget_daemon.refused_logins() == before + 1  # held back: NZBGet saw none of them
    clock.now += 299
    error_of(c.read_download_limit)
    assert nzbget_daemon.refused_logins() == before + 1
    clock.now += 2
    error_of(c.read_download_limit)  # the hold-back is over: one new attempt
    settled(nzbget_daemon, before + 2)
    assert nzbget_daemon.refused_logins() == before + 2
    for err in [first] + later:
        assert wrong not in all_text_of(err) and nzbget_daemon.password not in all_text_of(err)
    assert wrong not in caplog.text and nzbget_daemon.password not in caplog.text
    assert wrong not in repr(c)


def test_wrong_user_is_rejected_too(nzbget_daemon):
    err = error_of(client(nzbget_daemon, username="someone").read_download_limit)
    assert err.kind is FailureKind.REJECTED


def test_add_only_user_is_refused_in_plain_words(nzbget_factory):
    nzb = nzbget_factory(extra={"AddUsername": "adder", "AddPassword": "add-pw-123"})
    c = client(nzb, username="adder", password="add-pw-123")
    assert c.describe().endswith("logged in as adder")  # `version` is allowed to it
    err = error_of(lambda: c.write_download_limit(SpeedLimit(100)))
    assert err.kind is FailureKind.REJECTED and "AddUsername" in str(err)
    assert nzb.download_limit_bytes() == 0


def test_closed_port_is_unreachable_without_a_chained_error():
    port = free_port()  # nothing listens there
    err = error_of(NzbgetClient("http://127.0.0.1:%d" % port, password="pw", timeout_sec=2).read_download_limit)
    assert err.kind is FailureKind.UNREACHABLE and "connection refused" in str(err)
    assert err.__context__ is None


def test_user_and_password_in_the_url_are_not_shown(nzbget_daemon):
    c = NzbgetClient(nzbget_daemon.url.replace("//", "//nzbget:%s@" % nzbget_daemon.password),
                     password=nzbget_daemon.password, timeout_sec=5)
    assert nzbget_daemon.password not in c.describe() and nzbget_daemon.password not in repr(c)
    assert c.read_download_limit() == SpeedLimit.from_bytes(nzbget_daemon.download_limit_bytes())


def test_the_wrong_address_is_named(nzbget_daemon):
    c = client(nzbget_daemon)
    c._url = nzbget_daemon.url + "/nosuch"
    err = error_of(c.read_download_limit)
    assert err.kind is FailureKind.MALFORMED
    assert str(err) == "no JSON-RPC at %s/nosuch/jsonrpc (400); is the URL NZBGet's web address?" % nzbget_daemon.url
