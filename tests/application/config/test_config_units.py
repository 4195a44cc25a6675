"""Limits and capacities in the config may carry a unit; settings keep whole KiB/s."""
import io

import pytest

from application.check import describe_limits, run_check
from application.config.load import ConfigError, load_settings
from tests.application.builders import settings as make_settings
from tests.application.config.test_config import VALID, write

RATE_FIELDS = ["idle_upload_kbps", "streaming_upload_kbps", "upload_capacity_kbps", "min_upload_kbps"]


def load(tmp_path, **fields):
    return load_settings(write(tmp_path, {**VALID, **fields}), {})


def problem_lines(tmp_path, **fields):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, **fields)
    return info.value.problems


@pytest.mark.parametrize("field", RATE_FIELDS)
@pytest.mark.parametrize("text,kib", [
    ("20 Mbit/s", 2441),
    ("2.5 MB/s", 2441),
    ("2.5 MiB/s", 2560),
    ("500 KiB/s", 500),
    ("500 kbit/s", 61),
    ("500 kB/s", 488),
    (" 1 kbit/s ", 1),
])
def test_every_rate_field_takes_a_unit(tmp_path, field, text, kib):
    assert getattr(load(tmp_path, **{field: text}), field) == kib


@pytest.mark.parametrize("field", RATE_FIELDS)
def test_plain_numbers_are_still_kib(tmp_path, field):
    assert getattr(load(tmp_path, **{field: 300}), field) == 300


def test_tiers_take_units(tmp_path):
    s = load(tmp_path, limit_policy="tiers", streaming_tiers=[
        {"streams": 1, "upload_kbps": "8 Mbit/s"}, {"streams": 2, "upload_kbps": 400}, {"streams": 3, "upload_kbps": "unlimited"}])
    assert s.streaming_tiers == ((1, 976), (2, 400), (3, 0))


@pytest.mark.parametrize("field", ["idle_upload_kbps", "streaming_upload_kbps"])
def test_unlimited_where_zero_means_unlimited(tmp_path, field):
    assert getattr(load(tmp_path, **{field: "unlimited"}), field) == 0
    assert getattr(load(tmp_path, **{field: " Unlimited "}), field) == 0


@pytest.mark.parametrize("field", ["upload_capacity_kbps", "min_upload_kbps"])
def test_unlimited_is_refused_where_it_makes_no_sense(tmp_path, field):
    (line,) = problem_lines(tmp_path, **{field: "unlimited"})
    assert line.endswith('%s: cannot be "unlimited" here; give a rate such as "20 Mbit/s"' % field), line


def test_an_unknown_unit_names_the_file_the_field_and_the_units(tmp_path):
    (line,) = problem_lines(tmp_path, streaming_upload_kbps="20 mbps")
    assert line == ('%s: streaming_upload_kbps: unknown unit "mbps"; use one of: '
                    "KiB/s, MiB/s, kB/s, MB/s, kbit/s, Mbit/s, unlimited" % (tmp_path / "config.json"))


def test_a_tier_with_a_bad_unit_names_the_tier(tmp_path):
    (line,) = problem_lines(tmp_path, limit_policy="tiers", streaming_tiers=[{"streams": 1, "upload_kbps": "8 mb/s"}])
    assert "streaming_tiers[0].upload_kbps: unit \"mb/s\" is ambiguous" in line


def test_a_number_as_text_without_a_unit_is_refused(tmp_path):
    (line,) = problem_lines(tmp_path, idle_upload_kbps="100")
    assert line.endswith('idle_upload_kbps: must be a whole number (KiB/s) or have a unit: needs a unit, for example '
                         '"100 KiB/s" or "100 Mbit/s" (units: KiB/s, MiB/s, kB/s, MB/s, kbit/s, Mbit/s, unlimited)'), line


def test_a_tiny_rate_is_never_rounded_to_unlimited(tmp_path):
    assert load(tmp_path, streaming_upload_kbps="0.1 kbit/s").streaming_upload_kbps == 1


@pytest.mark.parametrize("field", RATE_FIELDS)
@pytest.mark.parametrize("value", ["20000 MB/s", "999999999 MiB/s", 10**9, 2_000_001])
def test_rates_have_an_upper_bound(tmp_path, field, value):
    (line,) = problem_lines(tmp_path, **{field: value})
    assert "%s: must be at most 2000000 KiB/s" % field in line


def test_min_upload_below_one_is_refused_whatever_the_unit(tmp_path):
    (line,) = problem_lines(tmp_path, min_upload_kbps="0 KiB/s")
    assert "min_upload_kbps: must be at least 1" in line


def test_check_prints_the_limits_as_understood():
    s = make_settings(idle_upload_kbps=0, streaming_upload_kbps=500)
    assert describe_limits(s) == "limits: idle unlimited; streaming 500 KiB/s (4.1 Mbit/s)"
    tiers = make_settings(limit_policy="tiers", streaming_tiers=((2, 400), (1, 2441)), idle_upload_kbps=10_000)
    assert describe_limits(tiers) == (
        "limits: idle 10000 KiB/s (81.9 Mbit/s); streaming 1+ stream 2441 KiB/s (20.0 Mbit/s), 2+ streams 400 KiB/s (3.3 Mbit/s)")
    dynamic = make_settings(limit_policy="dynamic", upload_capacity_kbps=4000, min_upload_kbps=50)
    assert describe_limits(dynamic) == (
        "limits: idle unlimited; streaming capacity 4000 KiB/s (32.8 Mbit/s) minus the remote streams x 1.2, "
        "at least 50 KiB/s (0.4 Mbit/s)")


class _Unreachable:
    """A container whose servers cannot be reached: --check still says which limits it understood."""

    def media_source(self, name):
        from domain.ports import FailureKind, StreamSourceError

        raise StreamSourceError(FailureKind.UNREACHABLE, "Plex not reachable (test)")

    def client_adapters(self):
        return {}  # none built beforehand: each comes from client_adapter

    def client_adapter(self, name):
        from domain.ports import FailureKind, DownloadClientError

        raise DownloadClientError(FailureKind.UNREACHABLE, "qBittorrent not reachable (test)")


def test_check_prints_the_limits_even_when_a_server_fails():
    out = io.StringIO()
    assert run_check(make_settings(streaming_upload_kbps=2441), out=out, container=_Unreachable()) == 1
    assert out.getvalue().splitlines()[-1] == "limits: idle unlimited; streaming 2441 KiB/s (20.0 Mbit/s)"
