import pytest

from tests.support.fake_qbittorrent import FakeQBittorrent


@pytest.fixture
def fake_qbt():
    """A qBittorrent 5.2 look-alike with request counters, for daemon tests that need no real one."""
    with FakeQBittorrent(username="admin", password="pw") as fake:
        yield fake
