"""The use case's central promise, over generated observation sequences."""
from hypothesis import given
from hypothesis import strategies as st

from adapters.fakes import RecordingQBittorrent, ScriptedStreamSource
from adapters.clients.enforcers import GlobalLimitEnforcer
from application.service import ThrottleRules, ThrottleService
from domain.policies import FixedLimitPolicy, SpeedLimit
from domain.ports import FailureKind, StreamSourceError
from domain.sessions import PlaybackSession, RemoteStreamRule
from domain.state import Hysteresis, StreamingStateMachine, StreamState

kib = st.integers(min_value=0, max_value=10_000_000)


@given(kib, kib, st.integers(1, 4), st.integers(1, 4), st.lists(st.one_of(st.none(), st.integers(0, 2)), max_size=40))
def test_applied_limit_always_equals_the_policys_limit_for_the_state(idle, streaming, n, m, steps):
    """Drives the use case with fakes: after every tick qBittorrent holds the policy's limit, except
    that a throttle never raises what the client held before it (the user's own limit)."""
    remote = PlaybackSession(state="playing", local=False, location="wan", user="friend")
    script = [StreamSourceError(FailureKind.UNREACHABLE, "down") if s is None else [remote] * s for s in steps]
    policy = FixedLimitPolicy(SpeedLimit(idle), SpeedLimit(streaming))
    limiter = RecordingQBittorrent(initial_bytes_per_sec=123 * 1024)
    clock = iter(range(10**6))
    service = ThrottleService(
        ScriptedStreamSource(script),
        GlobalLimitEnforcer(limiter),
        ThrottleRules(RemoteStreamRule(), StreamingStateMachine(Hysteresis(n, m, 0)), policy),
        clock=lambda: float(next(clock)),
    )
    before = SpeedLimit(123)  # what the client holds when a throttle begins
    for _ in steps:
        report = service.tick()
        held = SpeedLimit.from_bytes(limiter.limit_bytes)
        if report.after.state is StreamState.STREAMING:
            wanted = policy.limit_for(StreamState.STREAMING, ())
            limits = [limit.kib_per_sec for limit in (wanted, before) if not limit.unlimited]
            assert held == SpeedLimit(min(limits) if limits else 0)
        elif report.after.state is StreamState.IDLE:
            assert held == policy.limit_for(StreamState.IDLE, ())
            before = held
