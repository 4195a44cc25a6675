"""current_download_rate: what each torrent client downloads now (for the measured line), against the
real daemons, and the parsers held to any answer."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.clients.deluge.client import DelugeClient
from adapters.clients.deluge.rpc import parse_rate as deluge_rate
from adapters.clients.qbittorrent.client import QBittorrentClient
from adapters.clients.transmission.client import TransmissionClient
from adapters.clients.transmission.rpc import parse_rate as transmission_rate
from domain.policies import SpeedLimit
from domain.ports import DownloadClientError, TransferRates
from tests.support.deluge_daemon import DelugeInstance, deluge, deluge_factory  # noqa: F401  (fixtures)
from tests.support.transmission_daemon import (  # noqa: F401  (fixtures)
    TransmissionDaemon, transmission, transmission_session,
)


def test_qbittorrent_downloads_nothing_without_torrents(qbt_nox):
    qbt = QBittorrentClient(qbt_nox.url, username=qbt_nox.username, password=qbt_nox.password, timeout_sec=5.0)
    assert isinstance(qbt, TransferRates)
    assert qbt.current_download_rate() == SpeedLimit(0)


def test_transmission_downloads_nothing_without_torrents(transmission: TransmissionDaemon):
    tr = TransmissionClient(transmission.url, transmission.username, transmission.password, timeout_sec=5.0)
    assert isinstance(tr, TransferRates)
    assert tr.current_download_rate() == SpeedLimit(0)


def test_deluge_downloads_nothing_without_torrents(deluge: DelugeInstance):
    dl = DelugeClient(deluge.url, deluge.password, timeout_sec=5.0)
    assert isinstance(dl, TransferRates)
    assert dl.current_download_rate() == SpeedLimit(0)


answers = st.dictionaries(st.sampled_from(["downloadSpeed", "download_rate", "uploadSpeed", "x"]),
                          st.one_of(st.none(), st.booleans(), st.integers(-10, 2 ** 40), st.floats(), st.text(max_size=5)))


@given(answers)
def test_transmissions_download_speed_is_a_rate_or_malformed(answer):
    try:
        rate = transmission_rate(answer, "downloadSpeed")
    except DownloadClientError as err:
        assert "downloadSpeed" in str(err)
        return
    assert rate == SpeedLimit.from_bytes(answer["downloadSpeed"])


@given(answers)
def test_deluges_download_rate_is_a_rate_or_malformed(answer):
    try:
        rate = deluge_rate(answer, "download_rate")
    except DownloadClientError as err:
        assert "download_rate" in str(err)
        return
    assert rate.kib_per_sec >= 0
