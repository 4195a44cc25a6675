"""The one conversion per Usenet client, and their read-back parsers, as properties.

A throttle that turns into "unlimited" is the worst bug here: no intended limit may become the
client's "unlimited" (or a percentage, for SABnzbd), and rounding may never raise a limit. The
client's side of each conversion is modelled from its source: SABnzbd's from_units/limit_speed
(tests/support/sabnzbd_server.py) and NZBGet's `rate * 1024` in a 32-bit int (seen on 21.0).
"""
from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from adapters.clients.nzbget import (
    MAX_RATE_KIB, download_limit_bytes, limit_from_status, rate_for_native, read_status_answer, rpc_result,
    to_nzbget_rate,
)
from adapters.clients.sabnzbd import limit_from_queue, to_sabnzbd_value
from adapters.clients.sabnzbd_limit import (
    QueueSpeed, held_of, line_speed_bytes, line_speed_from_config, queue_speed, value_for_native,
)
from domain.policies import SpeedLimit
from domain.ports import FailureKind, DownloadClientError
from tests.support.sabnzbd_server import SabnzbdStandIn, SabSpeed, sab_from_units, sab_limit_speed

limits = st.integers(min_value=1, max_value=10**12)
line_speeds = st.sampled_from([0, 1024, 100 * 1024, 10 * 1024 * 1024, 10**9])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
any_json = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
# values shaped like the real field, so the interesting cases are not left to chance
limit_fields = (
    json_scalars
    | st.integers(min_value=-(2**40), max_value=2**70)
    | st.from_regex(r"\A ?[0-9]{0,25}(\.[0-9]{0,15})? ?\Z")
    | st.sampled_from(["", " ", "512000", "512000.0", "1e6", "-1", "inf", "NaN", "0x10", "1_000", "５"])
)


def int32(value: int) -> int:
    """What a C int holds after an overflow (NZBGet's `rate * 1024`)."""
    return (value + 2**31) % 2**32 - 2**31


# ------------------------------------------------------------------------------------ SABnzbd


@given(kib=limits, line_speed=line_speeds, before=st.sampled_from(["0", "3M", "50", "20%"]))
def test_sabnzbd_value_is_the_exact_absolute_limit_never_unlimited_or_a_percentage(kib, line_speed, before):
    value = to_sabnzbd_value(SpeedLimit(kib))
    assert value not in ("", "0")
    assert not value.strip().isdigit()  # a bare 1..100 is a percentage of the line speed
    assert "%" not in value
    speed = SabSpeed(bandwidth_max=line_speed)
    sab_limit_speed(speed, before)  # whatever was in force before
    sab_limit_speed(speed, value)
    assert speed.warnings == (1 if before in ("50", "20%") and not line_speed else 0)
    assert speed.bandwidth_limit == kib * 1024  # exact: K is 1024 bytes there, never above the limit
    assert speed.bandwidth_limit > 0


@given(line_speed=line_speeds, before=st.sampled_from(["0", "3M", "500K"]))
def test_sabnzbd_unlimited_is_zero_and_lifts_any_limit(line_speed, before):
    speed = SabSpeed(bandwidth_max=line_speed)
    sab_limit_speed(speed, before)
    assert to_sabnzbd_value(SpeedLimit(0)) == "0"
    sab_limit_speed(speed, to_sabnzbd_value(SpeedLimit(0)))
    assert speed.bandwidth_limit == 0


@given(kib=limits)
def test_sabnzbd_round_trip_through_the_queue_answer(kib):
    speed = SabSpeed()
    sab_limit_speed(speed, to_sabnzbd_value(SpeedLimit(kib)))
    for shown in ("%d" % speed.bandwidth_limit, "%s" % float(speed.bandwidth_limit)):
        if "e" in shown:
            continue  # 3.x's float text for > 1e16 bytes/s: no one's line
        assert limit_from_queue({"queue": {"speedlimit_abs": shown}}) == SpeedLimit(kib)


def test_sabnzbd_k_is_1024_in_its_own_parser():
    assert sab_from_units("1K") == 1024.0 and sab_from_units("2M") == 2 * 1024.0**2


@pytest.mark.parametrize("bad", [True, False, -1])
def test_sabnzbd_refuses_what_is_not_a_limit(bad):
    limit = SpeedLimit.__new__(SpeedLimit)
    object.__setattr__(limit, "kib_per_sec", bad)  # SpeedLimit itself refuses negatives
    with pytest.raises(DownloadClientError) as info:
        to_sabnzbd_value(limit)
    assert info.value.kind is FailureKind.MALFORMED


@given(payload=any_json)
def test_sabnzbd_queue_parser_takes_any_json(payload):
    _limit_or_malformed(lambda: limit_from_queue(payload))


@given(field=limit_fields, extra=st.dictionaries(st.text(max_size=8), json_scalars, max_size=3))
def test_sabnzbd_queue_parser_takes_any_speedlimit_abs(field, extra):
    result = _limit_or_malformed(lambda: limit_from_queue({"queue": dict(extra, speedlimit_abs=field)}))
    if field == "":
        assert result == SpeedLimit(0)


# ------------------------------------------------------------------------------------ NZBGet


@given(kib=limits)
def test_nzbget_rate_never_unlimited_never_raised(kib):
    rate = to_nzbget_rate(SpeedLimit(kib))
    assert 1 <= rate <= kib
    assert rate <= MAX_RATE_KIB
    assert int32(rate * 1024) > 0  # what NZBGet stores: never 0 (unlimited) or negative
    if kib <= MAX_RATE_KIB:
        assert rate == kib


def test_nzbget_unlimited_is_zero_and_the_wrap_is_real():
    assert to_nzbget_rate(SpeedLimit(0)) == 0
    # why the cap: NZBGet 21.0 answered these readings for rate 2097152 and 4194304
    assert int32(2097152 * 1024) == -(2**31) and int32(4194304 * 1024) == 0
    assert to_nzbget_rate(SpeedLimit(4194304)) == MAX_RATE_KIB == 2097151


@pytest.mark.parametrize("bad", [True, -5])
def test_nzbget_refuses_what_is_not_a_limit(bad):
    limit = SpeedLimit.__new__(SpeedLimit)
    object.__setattr__(limit, "kib_per_sec", bad)
    with pytest.raises(DownloadClientError) as info:
        to_nzbget_rate(limit)
    assert info.value.kind is FailureKind.MALFORMED


@given(kib=st.integers(min_value=0, max_value=MAX_RATE_KIB))
def test_nzbget_round_trip_through_the_status_answer(kib):
    stored = int32(to_nzbget_rate(SpeedLimit(kib)) * 1024)
    answer = {"version": "1.1", "id": 7, "result": {"DownloadRate": 0, "DownloadLimit": stored}}
    assert read_status_answer(answer) == SpeedLimit(kib)


@given(result=any_json)
def test_nzbget_status_parser_takes_any_json(result):
    _limit_or_malformed(lambda: limit_from_status(result))


@given(field=limit_fields)
def test_nzbget_status_parser_takes_any_download_limit(field):
    _limit_or_malformed(lambda: limit_from_status({"DownloadLimit": field}))


@given(payload=any_json | st.fixed_dictionaries({"error": any_json}) | st.fixed_dictionaries({"result": any_json}))
def test_nzbget_whole_answer_parser_takes_any_json(payload):
    try:
        read_status_answer(payload)
    except DownloadClientError as err:
        if err.kind is FailureKind.REJECTED:  # only NZBGet's "Access denied" error object
            error = payload["error"]
            assert error.get("code") == 401 or error.get("message") == "Access denied"
        else:
            assert err.kind is FailureKind.MALFORMED


def test_nzbget_error_object_is_a_plain_sentence():
    answer = {"version": "1.1", "error": {"name": "JSONRPCError", "code": 2, "message": "Invalid parameter"}}
    with pytest.raises(DownloadClientError) as info:
        rpc_result(answer, "rate", "NZBGet at http://127.0.0.1:6789")
    assert str(info.value) == "NZBGet at http://127.0.0.1:6789 refused rate: 'Invalid parameter'"
    assert info.value.kind is FailureKind.MALFORMED


def _limit_or_malformed(parse):
    try:
        result = parse()
    except DownloadClientError as err:
        assert err.kind is FailureKind.MALFORMED
        assert str(err)
        return None
    assert isinstance(result, SpeedLimit) and result.kib_per_sec >= 0
    return result


def test_int32_model():
    assert int32(2**31 - 1) == 2**31 - 1 and int32(2**31) == -(2**31)


# ---------------------------------------------------------------------------------- restoring natives

users_settings = (
    st.integers(min_value=1, max_value=100).map(lambda p: "%d%%" % p)
    | st.integers(min_value=1, max_value=100).map(str)
    | st.integers(min_value=101, max_value=2**40).map(str)
    | st.integers(min_value=1, max_value=10**6).map(lambda k: "%dK" % k)
    | st.integers(min_value=1, max_value=10**3).map(lambda m: "%dM" % m)
    | st.just("0")
)


def _queue_of(speed: SabSpeed) -> dict:
    return {"queue": SabnzbdStandIn.queue_of(speed)}


@given(line_speeds, users_settings)
def test_sabnzbd_a_users_limit_read_then_restored_after_a_throttle_is_what_it_was(line_speed, setting):
    users = SabSpeed(bandwidth_max=line_speed)
    sab_limit_speed(users, setting)
    held = held_of(queue_speed(_queue_of(users)), line_speed)
    assert held.limit == SpeedLimit.from_bytes(users.bandwidth_limit)
    now = SabSpeed(bandwidth_max=line_speed, bandwidth_limit=users.bandwidth_limit, bandwidth_perc=users.bandwidth_perc)
    sab_limit_speed(now, to_sabnzbd_value(SpeedLimit(100)))  # plex-helper's throttle
    sab_limit_speed(now, value_for_native(held.native))
    assert now.bandwidth_limit == users.bandwidth_limit
    if "percent" in held.native:
        assert now.bandwidth_perc == users.bandwidth_perc  # the user's percentage, not bytes near it
    assert now.warnings == 0


@given(any_json)
def test_sabnzbd_a_native_restores_exactly_what_it_says_or_is_refused(native):
    try:
        value = value_for_native(native)
    except DownloadClientError as err:
        assert err.kind is FailureKind.MALFORMED
        return
    speed = SabSpeed(bandwidth_max=10 * 1024 * 1024)
    sab_limit_speed(speed, value)
    if "bytes" in native:  # absolute, never read as a percentage, never unlimited
        assert speed.bandwidth_limit == native["bytes"] > 0
    elif "percent" in native:
        assert speed.bandwidth_perc == native["percent"] and speed.bandwidth_limit > 0
    else:
        assert native == {"none": True} and speed.bandwidth_limit == 0


@given(st.integers(min_value=101, max_value=2**53))
def test_sabnzbd_bytes_natives_are_absolute_to_the_byte(number):
    speed = SabSpeed(bandwidth_max=1000)
    sab_limit_speed(speed, value_for_native({"bytes": number}))
    assert speed.bandwidth_limit == number


@given(any_json | st.fixed_dictionaries({"queue": st.dictionaries(
    st.sampled_from(["speedlimit", "speedlimit_abs"]), limit_fields)}))
def test_sabnzbd_queue_speed_parser_takes_any_json(payload):
    try:
        speed = queue_speed(payload)
    except DownloadClientError as err:
        assert err.kind is FailureKind.MALFORMED
    else:
        assert isinstance(speed, QueueSpeed) and speed.bytes_per_sec >= 0 and 0 <= speed.percent <= 100


@given(any_json | st.builds(lambda t: {"config": {"misc": {"bandwidth_max": t}}}, limit_fields | st.text(max_size=30)))
def test_sabnzbd_line_speed_parser_takes_any_json(payload):
    try:
        value = line_speed_from_config(payload)
    except DownloadClientError as err:
        assert err.kind is FailureKind.MALFORMED
    else:
        assert -1 <= value <= 2**53


@example("-1")
@example(" -1 ")
@example("10 MB/s")
@given(st.from_regex(r"\A ?[0-9]{0,12}(\.[0-9]{0,6})? ?[KMGTPkmgtp]? ?(B/s)?\Z") | st.text(max_size=20))
def test_sabnzbd_line_speed_is_read_as_sabnzbd_reads_it(text):
    assert line_speed_bytes(text) == min(int(sab_from_units(text)), 2**53)  # (capped where floats stop being exact)


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_nzbget_restoring_a_downloadlimit_it_gave_is_exact(native):
    if native > 0 and native % 1024:
        return  # NZBGet holds rate * 1024: it never gives such bytes
    rate = rate_for_native(native)
    if native > 0:
        assert rate > 0  # never unlimited for a limit
        assert int32(rate * 1024) == native  # reads back as exactly the bytes read
    else:
        assert rate == 0  # unlimited stays unlimited (a wrapped negative was not throttling)


@given(any_json)
def test_nzbget_a_native_is_restored_or_refused(native):
    try:
        rate = rate_for_native(native)
    except DownloadClientError as err:
        assert err.kind is FailureKind.MALFORMED
    else:
        assert 0 <= rate <= MAX_RATE_KIB


@given(any_json | st.dictionaries(st.just("DownloadLimit"), limit_fields))
def test_nzbget_downloadlimit_parser_takes_any_json(result):
    try:
        value = download_limit_bytes(result)
    except DownloadClientError as err:
        assert err.kind is FailureKind.MALFORMED
    else:
        assert -(2**31) <= value < 2**31
