"""qbittorrent_verify_tls and qbittorrent_ca_file reach the qBittorrent adapter's connections.

No qBittorrent with HTTPS is at hand, so the HTTPS test server stands in: it is not qBittorrent, but
whether the TLS handshake passes is decided before any qBittorrent answer."""
import pytest

from adapters.clients.qbittorrent.client import QBittorrentClient
from domain.ports import FailureKind, DownloadClientError


def limiter(server, **options):
    return QBittorrentClient(server.url, username="admin", password="pw", timeout_sec=2, **options)


def failure(server, **options):
    with pytest.raises(DownloadClientError) as info:
        limiter(server, **options).current_upload_limit()
    return info.value


def test_certificates_are_verified_by_default(plex_tls_server):
    error = failure(plex_tls_server)
    assert error.kind is FailureKind.UNREACHABLE
    assert "TLS certificate not trusted" in str(error)


def test_a_ca_file_or_verify_false_gets_past_the_handshake(plex_tls_server):
    # past TLS the stand-in answers like a server that is not qBittorrent: not a transport error
    assert failure(plex_tls_server, ca_file=plex_tls_server.tls[0]).kind is not FailureKind.UNREACHABLE
    assert failure(plex_tls_server, verify_tls=False).kind is not FailureKind.UNREACHABLE
