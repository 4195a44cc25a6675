from hypothesis import given
from hypothesis import strategies as st

from domain.policies import FixedLimitPolicy, UploadLimit
from domain.state import Hysteresis, MachineState, StreamState, StreamingStateMachine
from tests.domain.strategies import sessions

kib = st.integers(min_value=0, max_value=10_000_000)


@given(kib, kib, st.sampled_from(list(StreamState)), st.lists(sessions, max_size=5))
def test_fixed_policy_limit_belongs_to_the_state(idle, streaming, state, remote):
    policy = FixedLimitPolicy(UploadLimit(idle), UploadLimit(streaming))
    expected = streaming if state is StreamState.STREAMING else idle
    assert policy.limit_for(state, remote) == UploadLimit(expected)
    assert policy.idle_limit == UploadLimit(idle)


@given(kib)
def test_kib_to_bytes_and_back(value):
    limit = UploadLimit(value)
    assert limit.bytes_per_sec == value * 1024
    assert UploadLimit.from_bytes(limit.bytes_per_sec) == limit


@given(st.integers(min_value=-5, max_value=10**9))
def test_from_bytes_follows_qbittorrents_storage(raw):
    limit = UploadLimit.from_bytes(raw)
    if raw <= 0:
        assert limit.unlimited
    elif raw <= 1024:
        assert limit.kib_per_sec == 1
    else:
        assert limit.kib_per_sec == raw // 1024


def test_str():
    assert str(UploadLimit(0)) == "unlimited"
    assert str(UploadLimit(500)) == "500 KiB/s"


@given(kib, kib, st.integers(1, 4), st.integers(1, 4), st.lists(st.one_of(st.none(), st.integers(0, 2)), max_size=40))
def test_applied_limit_always_equals_the_policys_limit_for_the_state(idle, streaming, n, m, steps):
    """Drives the use case with fakes: after every tick qBittorrent holds the policy's limit."""
    from adapters.fakes import RecordingUploadLimiter, ScriptedStreamSource
    from application.service import Decider, ThrottleService
    from domain.ports import FailureKind, StreamSourceError
    from domain.sessions import PlaybackSession, RemoteStreamRule

    remote = PlaybackSession(state="playing", local=False, location="wan", user="friend")
    script = [StreamSourceError(FailureKind.UNREACHABLE, "down") if s is None else [remote] * s for s in steps]
    policy = FixedLimitPolicy(UploadLimit(idle), UploadLimit(streaming))
    limiter = RecordingUploadLimiter(initial_bytes_per_sec=123 * 1024)
    clock = iter(range(10**6))
    service = ThrottleService(
        ScriptedStreamSource(script),
        limiter,
        Decider(RemoteStreamRule(), StreamingStateMachine(Hysteresis(n, m, 0)), policy),
        clock=lambda: float(next(clock)),
    )
    for _ in steps:
        report = service.tick()
        if report.after.state is not None:
            assert UploadLimit.from_bytes(limiter.limit_bytes) == policy.limit_for(report.after.state, ())
