"""The use case's central promise, over generated observation sequences."""
from hypothesis import given
from hypothesis import strategies as st

from adapters.fakes import RecordingUploadLimiter, ScriptedStreamSource
from adapters.clients.enforcers import GlobalLimitEnforcer
from application.service import Decider, ThrottleService
from domain.policies import FixedLimitPolicy, UploadLimit
from domain.ports import FailureKind, StreamSourceError
from domain.sessions import PlaybackSession, RemoteStreamRule
from domain.state import Hysteresis, StreamingStateMachine

kib = st.integers(min_value=0, max_value=10_000_000)


@given(kib, kib, st.integers(1, 4), st.integers(1, 4), st.lists(st.one_of(st.none(), st.integers(0, 2)), max_size=40))
def test_applied_limit_always_equals_the_policys_limit_for_the_state(idle, streaming, n, m, steps):
    """Drives the use case with fakes: after every tick qBittorrent holds the policy's limit."""
    remote = PlaybackSession(state="playing", local=False, location="wan", user="friend")
    script = [StreamSourceError(FailureKind.UNREACHABLE, "down") if s is None else [remote] * s for s in steps]
    policy = FixedLimitPolicy(UploadLimit(idle), UploadLimit(streaming))
    limiter = RecordingUploadLimiter(initial_bytes_per_sec=123 * 1024)
    clock = iter(range(10**6))
    service = ThrottleService(
        ScriptedStreamSource(script),
        GlobalLimitEnforcer(limiter),
        Decider(RemoteStreamRule(), StreamingStateMachine(Hysteresis(n, m, 0)), policy),
        clock=lambda: float(next(clock)),
    )
    for _ in steps:
        report = service.tick()
        if report.after.state is not None:
            assert UploadLimit.from_bytes(limiter.limit_bytes) == policy.limit_for(report.after.state, ())
