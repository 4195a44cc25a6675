"""The entities, discovery payloads, states and command parsing the Home Assistant bridge uses."""
import json

import pytest
from hypothesis import given, strategies as st

from adapters.smarthome import discovery
from adapters.smarthome.discovery import CommandError, Topics
from domain.overrides import Override
from domain.policies import SpeedLimit
from domain.sessions import PlaybackSession
from domain.state import MachineState, StreamState
from domain.throttle import Decision
from domain.tick_report import ClientResult, TickReport

CLIENTS = (("qbittorrent", "upload"), ("sab", "download"))
TOPICS = Topics("plex-helper", "homeassistant")
REMOTE = PlaybackSession(state="playing", local=False, location="wan", user="friend")


def tick(effective=StreamState.STREAMING, remote=(REMOTE,), budget=500, clients=(), override=None):
    state = MachineState(effective)
    decision = Decision(state, state, tuple(remote), (), effective, None if budget is None else SpeedLimit(budget),
                        None, False, override=override)
    return TickReport(decision, (), tuple(clients))


def test_every_entity_follows_home_assistants_discovery_rules():
    entities = discovery.entities(CLIENTS, temporary_limits=True)
    components = {e.object_id: e.component for e in entities}
    assert components["remote_streaming"] == "binary_sensor" and components["remote_streams"] == "sensor"
    assert components["mode"] == "select" and components["duration"] == "number"
    assert components["temporary_limit_upload"] == components["temporary_limit_download"] == "number"
    assert {"limit_qbittorrent_upload", "limit_sab_download", "budget_upload", "budget_download"} <= set(components)
    unique = set()
    for entity in entities:
        topic = TOPICS.config(entity)
        assert topic == "homeassistant/%s/plex-helper/%s/config" % (entity.component, entity.object_id)
        config = json.loads(json.dumps(discovery.discovery_config(entity, TOPICS, "9.9")))
        unique.add(config["unique_id"])
        assert config["device"]["name"] == "plex-helper" and config["device"]["sw_version"] == "9.9"
        assert config["availability_topic"] == "plex-helper/availability"
        assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
        assert config["state_topic"].startswith("plex-helper/")
        assert ("command_topic" in config) == (entity.component in ("select", "number"))
    assert len(unique) == len(entities)


def test_the_temporary_limit_is_left_out_when_the_build_cannot_set_one():
    ids = {e.object_id for e in discovery.entities(CLIENTS, temporary_limits=False)}
    assert not any(i.startswith("temporary_limit") for i in ids)


def test_states_of_a_report():
    held = {}
    report = tick(clients=[ClientResult("qbittorrent", target=SpeedLimit(400)),
                           ClientResult("sab", target=SpeedLimit(2000))])
    states = discovery.report_states(report, CLIENTS, 3000, held)
    assert states == {"remote_streams": "1", "remote_streaming": "ON", "budget_upload": "500",
                      "budget_download": "3000",
                      "limit_qbittorrent_upload": "400", "limit_sab_download": "2000", "mode": "auto"}
    # a failed write keeps the last known limit; an override shows as the select's option
    failed = ClientResult("qbittorrent", target=SpeedLimit(0), error=Exception("down"))
    idle = tick(StreamState.IDLE, remote=(), budget=0, clients=[failed],
                override=Override(StreamState.IDLE, 10.0 ** 10))
    states = discovery.report_states(idle, CLIENTS, 3000, held)
    assert states["limit_qbittorrent_upload"] == "400" and states["budget_download"] == "0"
    assert states["mode"] == "force idle" and states["remote_streaming"] == "OFF"


@given(st.binary(max_size=300))
def test_any_mode_payload_is_an_option_or_a_command_error(payload):
    try:
        assert discovery.parse_mode(payload) in discovery.MODE_OPTIONS
    except CommandError:
        pass


@given(st.one_of(st.binary(max_size=300), st.builds(lambda v: json.dumps(v).encode(), st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["kib", "minutes", "x"]), inner, max_size=3),
    max_leaves=6))))
def test_any_temporary_limit_payload_is_a_bounded_limit_or_a_command_error(payload):
    try:
        kib, minutes = discovery.parse_temporary_limit(payload, 60.0)
    except CommandError:
        return
    assert isinstance(kib, int) and 0 <= kib <= discovery.MAX_KIB
    assert 1 <= minutes <= discovery.MAX_MINUTES


@pytest.mark.parametrize("payload, expected", [
    (b"300", (300, 60.0)), (b" 300.0 ", (300, 60.0)), (b'{"kib": 250, "minutes": 15}', (250, 15.0)),
    (b'{"kib": 0}', (0, 60.0)),
])
def test_temporary_limit_commands(payload, expected):
    assert discovery.parse_temporary_limit(payload, 60.0) == expected


@pytest.mark.parametrize("payload", [b"-1", b"nan", b"inf", b"12.5", b'{"minutes": 5}', b'{"kib": true}',
                                     b'{"kib": 5, "minutes": 0}', b"\xff", b"9" * 400])
def test_bad_temporary_limit_commands(payload):
    with pytest.raises(CommandError):
        discovery.parse_temporary_limit(payload, 60.0)
