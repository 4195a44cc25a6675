"""The measured line's settings: capacities with units, the headroom, the `line_meter` object from the
file and from PLEX_HELPER_LINE_METER__<KEY>, community_file, and one clear line per mistake."""
import pytest
from hypothesis import given, settings as hypothesis_settings
from hypothesis import strategies as st

from application.config.load import ConfigError, load_settings, validate_settings
from tests.application.config.test_config import VALID, write

SNMP = {"type": "snmp", "host": "192.168.1.1", "community": "snmp-SECRET-9", "interface": "igb0"}


def load(tmp_path, environ=None, **fields):
    return load_settings(write(tmp_path, {**VALID, **fields}), environ or {})


def problems(tmp_path, environ=None, **fields):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, environ, **fields)
    return info.value.problems


def test_off_unless_configured(tmp_path):
    settings = load(tmp_path)
    assert (settings.line_meter, settings.line_upload_kbps, settings.line_download_kbps,
            settings.line_headroom_percent) == (None, 0, 0, 10.0)


def test_capacities_take_units_and_the_meter_its_fields(tmp_path):
    settings = load(tmp_path, line_upload_kbps="40 Mbit/s", line_download_kbps=12000, line_headroom_percent=15,
                    line_meter=SNMP)
    assert (settings.line_upload_kbps, settings.line_download_kbps, settings.line_headroom_percent) == (4882, 12000, 15)
    meter = settings.line_meter
    assert (meter.type, meter.host, meter.port, meter.interface) == ("snmp", "192.168.1.1", 161, "igb0")
    assert "snmp-SECRET-9" in settings.secrets() and "snmp-SECRET-9" not in repr(settings)


def test_upnp_needs_nothing_more_and_takes_a_description_url(tmp_path):
    assert load(tmp_path, line_upload_kbps=100, line_meter={"type": "upnp"}).line_meter.url == ""
    url = "http://192.168.178.1:49000/igddesc.xml"
    assert load(tmp_path, line_upload_kbps=100, line_meter={"type": "upnp", "url": url}).line_meter.url == url


def test_everything_from_the_environment_with_the_community_from_a_file(tmp_path):
    secret = tmp_path / "community"
    secret.write_text("from-FILE-31\n")
    environ = {"PLEX_HELPER_LINE_UPLOAD_KBPS": "5 Mbit/s", "PLEX_HELPER_LINE_HEADROOM_PERCENT": "20",
               "PLEX_HELPER_LINE_METER__TYPE": "snmp", "PLEX_HELPER_LINE_METER__HOST": "10.0.0.1",
               "PLEX_HELPER_LINE_METER__PORT": "1161", "PLEX_HELPER_LINE_METER__INTERFACE": "2",
               "PLEX_HELPER_LINE_METER__COMMUNITY_FILE": str(secret)}
    settings = load(tmp_path, environ)
    meter = settings.line_meter
    assert (settings.line_upload_kbps, settings.line_headroom_percent) == (610, 20)
    assert (meter.type, meter.host, meter.port, meter.interface, meter.community) == (
        "snmp", "10.0.0.1", 1161, 2, "from-FILE-31")


@pytest.mark.parametrize("fields, line", [
    ({"line_meter": {"type": "upnp"}}, "line_meter: measures nothing without line_upload_kbps and/or"),
    ({"line_download_kbps": 100}, 'line_download_kbps: needs a line_meter to measure the line'),
    ({"line_upload_kbps": 100, "line_meter": {"type": "ftp"}}, "line_meter.type: must be one of upnp, snmp, host"),
    ({"line_upload_kbps": 100, "line_meter": {"type": "snmp", "host": "r", "interface": "x"}},
     "line_meter.community: is required for a snmp meter"),
    ({"line_upload_kbps": 100, "line_meter": {"type": "host"}}, "line_meter.interface: is required for a host meter"),
    ({"line_upload_kbps": 100, "line_meter": {"type": "host", "interface": "eth0", "host": "r"}},
     "line_meter.host: is not used by a host meter (it takes: interface)"),
    ({"line_upload_kbps": 100, "line_meter": {"type": "upnp", "url": "ftp://x"}}, "line_meter.url: must be an http://"),
    ({"line_upload_kbps": 100, "line_meter": dict(SNMP, port=70000)}, "line_meter.port: must be at most 65535"),
    ({"line_upload_kbps": 100, "line_meter": dict(SNMP, colour=1)}, "line_meter.colour: is not a known setting"),
    ({"line_upload_kbps": "unlimited", "line_meter": SNMP}, 'line_upload_kbps: cannot be "unlimited" here'),
    ({"line_upload_kbps": 100, "line_headroom_percent": 95, "line_meter": SNMP}, "line_headroom_percent: must be at most 90"),
])
def test_mistakes_name_the_field(tmp_path, fields, line):
    found = problems(tmp_path, **fields)
    assert any(line in p for p in found), found
    assert not any("snmp-SECRET-9" in p for p in found)


def test_community_and_community_file_together_are_refused(tmp_path):
    found = problems(tmp_path, line_upload_kbps=1, line_meter=dict(SNMP, community_file="/nonexistent"))
    assert found == ["%s: line_meter.community: give community or community_file, not both" % (tmp_path / "config.json")]


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "url", "host", "port", "community", "interface", "x"]),
                       st.one_of(st.none(), st.booleans(), st.integers(-5, 2 ** 33), st.text(max_size=20),
                                 st.sampled_from(["upnp", "snmp", "host", "eth0", "http://r/d.xml"])), max_size=6))
def test_any_meter_object_loads_or_is_refused_with_a_line(meter):
    raw = {**VALID, "line_upload_kbps": 100, "line_meter": meter}
    try:
        settings = validate_settings(raw, "config.json")
    except ConfigError as err:
        assert err.problems and all(p.startswith("config.json: ") for p in err.problems)
        return
    assert settings.line_meter.type in ("upnp", "snmp", "host")
