"""RemoteStreamRule.classify: one verdict per session, with the reason it counts or not."""
import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from domain.sessions import PlaybackSession, RemoteStreamRule, SessionReason, SessionVerdict
from tests.domain.strategies import STATES, USERS, sessions

NETWORKS = st.lists(
    st.ip_addresses(v=4).map(lambda ip: ipaddress.ip_network("%s/24" % ip, strict=False)), max_size=2
).map(tuple)
rules = st.builds(
    RemoteStreamRule,
    count_states=st.frozensets(STATES, min_size=1),
    lan_networks=NETWORKS,
    ignore_users=st.frozensets(USERS, max_size=2),
)

PLEX_REASONS = {
    SessionReason.LOCATION_LAN: lambda s: s.location == "lan" and not s.relayed and s.local is not False,
    SessionReason.PLAYER_LOCAL: lambda s: s.location is None and s.local is True and not s.relayed,
    SessionReason.RELAYED: lambda s: s.relayed,
    SessionReason.PLAYER_NOT_LOCAL: lambda s: s.local is False and not s.relayed,
    SessionReason.LOCATION_REMOTE: lambda s: s.location not in (None, "lan") and s.local is not False and not s.relayed,
    SessionReason.UNKNOWN_LOCATION: lambda s: s.location is None and s.local is None and not s.relayed,
}


@given(rules, st.lists(sessions, max_size=20))
def test_one_verdict_per_session_in_order(rule, items):
    verdicts = rule.classify(items)
    assert isinstance(verdicts, tuple)
    assert [v.session for v in verdicts] == items
    assert all(isinstance(v, SessionVerdict) for v in verdicts)


@given(rules, st.lists(sessions, max_size=20))
def test_remote_sessions_are_the_sessions_whose_verdict_counts(rule, items):
    assert rule.remote_sessions(items) == tuple(v.session for v in rule.classify(items) if v.counts)


@given(rules, sessions)
def test_is_remote_agrees_with_the_verdict(rule, session):
    (verdict,) = rule.classify([session])
    assert rule.is_remote(session) == verdict.counts


@given(rules, sessions)
def test_the_reason_is_the_first_rule_that_decides(rule, session):
    """count_states first, then ignore_users, then lan_networks, then what Plex says."""
    (verdict,) = rule.classify([session])
    in_networks = any(
        ipaddress.ip_address(session.address) in net
        for net in rule.lan_networks
        if _is_ipv4(session.address)
    )
    if session.state not in rule.count_states:
        assert verdict.reason is SessionReason.STATE_NOT_COUNTED
    elif session.user in rule.ignore_users:
        assert verdict.reason is SessionReason.IGNORED_USER
    elif in_networks:
        assert verdict.reason is SessionReason.IN_LAN_NETWORKS
    else:
        assert PLEX_REASONS[verdict.reason](session)


@given(rules, sessions)
def test_a_verdict_counts_exactly_when_its_reason_says_remote(rule, session):
    (verdict,) = rule.classify([session])
    assert verdict.counts == verdict.reason.counts
    remote = {SessionReason.RELAYED, SessionReason.PLAYER_NOT_LOCAL, SessionReason.LOCATION_REMOTE, SessionReason.UNKNOWN_LOCATION}
    assert verdict.reason.counts == (verdict.reason in remote)


def _is_ipv4(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).version == 4
    except ValueError:
        return False


def test_examples():
    rule = RemoteStreamRule(
        count_states=frozenset({"playing"}),
        lan_networks=(ipaddress.ip_network("172.17.0.0/16"),),
        ignore_users=frozenset({"owner"}),
    )
    cases = [
        (PlaybackSession(state="paused", local=False, location="wan"), SessionReason.STATE_NOT_COUNTED),
        (PlaybackSession(state="playing", local=False, location="wan", user="owner"), SessionReason.IGNORED_USER),
        (PlaybackSession(state="playing", local=False, location="wan", address="172.17.0.5"), SessionReason.IN_LAN_NETWORKS),
        (PlaybackSession(state="playing", local=True, location="lan"), SessionReason.LOCATION_LAN),
        (PlaybackSession(state="playing", local=True), SessionReason.PLAYER_LOCAL),
        (PlaybackSession(state="playing", local=True, location="lan", relayed=True), SessionReason.RELAYED),
        (PlaybackSession(state="playing", local=False, location="lan"), SessionReason.PLAYER_NOT_LOCAL),
        (PlaybackSession(state="playing", local=True, location="cellular"), SessionReason.LOCATION_REMOTE),
        (PlaybackSession(state="playing"), SessionReason.UNKNOWN_LOCATION),
    ]
    verdicts = rule.classify([s for s, _ in cases])
    assert [v.reason for v in verdicts] == [reason for _, reason in cases]
    assert [v.counts for v in verdicts] == [False] * 5 + [True] * 4
