"""hypothesis strategies for domain values."""
from __future__ import annotations

from hypothesis import strategies as st

from domain.sessions import PlaybackSession

STATES = st.sampled_from(["playing", "paused", "buffering", "stopped"])
LOCATIONS = st.one_of(st.none(), st.sampled_from(["lan", "wan", "cellular", ""]))
USERS = st.sampled_from(["alice", "bob", "friend", "owner", ""])
ADDRESSES = st.one_of(
    st.sampled_from(["", "not-an-ip", "::1"]),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)

sessions = st.builds(
    PlaybackSession,
    state=STATES,
    local=st.one_of(st.none(), st.booleans()),
    location=LOCATIONS,
    relayed=st.booleans(),
    bandwidth_kbps=st.integers(min_value=0, max_value=10_000_000),
    user=USERS,
    player=st.text(max_size=5),
    address=ADDRESSES,
)
