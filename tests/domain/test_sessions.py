import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from domain.sessions import PlaybackSession, RemoteStreamRule
from tests.domain.strategies import STATES, sessions

DEFAULT = RemoteStreamRule()


def plex_calls_remote(s: PlaybackSession) -> bool:
    """The rule as the issue words it, written independently of the implementation."""
    if s.location is None:
        by_location = s.local is None or s.local is False
    else:
        by_location = s.location != "lan"
    return by_location or s.local is False or s.relayed


@given(sessions)
def test_only_counted_states_can_be_remote(session):
    if session.state != "playing":
        assert not DEFAULT.is_remote(session)


@given(sessions)
def test_default_rule_matches_the_written_rule(session):
    expected = session.state == "playing" and plex_calls_remote(session)
    assert DEFAULT.is_remote(session) == expected


@given(sessions, st.frozensets(STATES, min_size=1))
def test_count_states_decides_which_states_count(session, states):
    rule = RemoteStreamRule(count_states=states)
    assert rule.is_remote(session) == (session.state in states and plex_calls_remote(session))


@given(sessions)
def test_ignored_users_never_count(session):
    rule = RemoteStreamRule(ignore_users=frozenset({session.user}))
    assert not rule.is_remote(session)


@given(sessions, st.ip_addresses(v=4))
def test_player_inside_lan_networks_is_local_whatever_plex_says(session, ip):
    network = ipaddress.ip_network("%s/24" % ip, strict=False)
    inside = PlaybackSession(**{**session.__dict__, "address": str(ip)})
    rule = RemoteStreamRule(lan_networks=(network,))
    assert not rule.is_remote(inside)


@given(sessions)
def test_lan_networks_leave_other_addresses_to_plex(session):
    rule = RemoteStreamRule(lan_networks=(ipaddress.ip_network("198.18.0.0/15"),))
    if not session.address.startswith("198.1"):
        assert rule.is_remote(session) == DEFAULT.is_remote(session)


@given(st.lists(sessions, max_size=20))
def test_remote_sessions_is_the_filter_of_is_remote(items):
    assert DEFAULT.remote_sessions(items) == tuple(s for s in items if DEFAULT.is_remote(s))


def test_examples_from_the_api_facts():
    wan = PlaybackSession(state="playing", local=False, location="wan")
    lan = PlaybackSession(state="playing", local=True, location="lan")
    lan_relayed = PlaybackSession(state="playing", local=True, location="lan", relayed=True)
    cellular = PlaybackSession(state="playing", local=True, location="cellular")
    no_session_local = PlaybackSession(state="playing", local=True)
    no_session_remote = PlaybackSession(state="playing", local=False)
    paused_wan = PlaybackSession(state="paused", local=False, location="wan")
    assert [DEFAULT.is_remote(s) for s in (wan, lan, lan_relayed, cellular, no_session_local, no_session_remote, paused_wan)] == [
        True, False, True, True, False, True, False,
    ]


