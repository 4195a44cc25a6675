"""One health record per server and client: what the log, notifications, /health and /metrics read."""
from hypothesis import given
from hypothesis import strategies as st

from domain.health import HealthBook
from domain.ports import FailureKind, DownloadClientError

DOWN = DownloadClientError(FailureKind.UNREACHABLE, "down")
REFUSED = DownloadClientError(FailureKind.REJECTED, "refused")


def test_news_once_per_outage_and_per_kind_then_recovery_with_the_count():
    book = HealthBook()
    steps = [DOWN, DOWN, REFUSED, REFUSED, None]
    records = [book.update("client", "vpn", True, error, 0.1, float(t)) for t, error in enumerate(steps)]
    assert [r.news for r in records] == [True, False, True, False, False]
    assert [r.failures for r in records] == [1, 2, 3, 4, 0]
    assert records[-1].recovered_after == 4 and records[-1].last_success == 4.0
    assert records[-1].last_error == "refused"  # kept after the recovery, for /health


def test_a_client_not_asked_keeps_its_record():
    book = HealthBook()
    book.update("client", "vpn", True, DOWN, None, 1.0)
    quiet = book.update("client", "vpn", False, None, None, 2.0)
    assert quiet.failing and quiet.failures == 1 and not quiet.news and not quiet.recovered_after


@given(st.lists(st.tuples(st.booleans(), st.sampled_from([None, DOWN, REFUSED])), max_size=40))
def test_failures_count_the_asked_failures_since_the_last_answer(steps):
    book = HealthBook()
    run = 0
    for t, (asked, error) in enumerate(steps):
        record = book.update("server", "plex", asked, error, None, float(t))
        if asked:
            run = 0 if error is None else run + 1
        assert record.failures == run and record.failing == (run > 0)
