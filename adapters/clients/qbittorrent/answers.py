"""What qBittorrent's Web API answers mean when they are not what we asked for.

Each unexpected answer becomes an DownloadClientError whose message says what to fix, and never
quotes the body (it could echo anything back, a password included). An answer with Plex's headers
means qbittorrent_url points at Plex, which is worth saying in so many words.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from adapters.transport.http import HttpAnswer
from domain.ports import FailureKind, DownloadClientError

_BAN_TEXT = "banned"  # qBittorrent's 403 login body: "Your IP address has been banned ..."
NOT_QBITTORRENT = (
    "%s does not look like qBittorrent's Web UI: it answers like Plex Media Server; check qbittorrent_url"
)


@dataclass(frozen=True)
class QBittorrentAnswer:
    """One answer of the Web API, its body decoded."""

    status: int
    body: str
    plex: bool = False  # the answer carries Plex's headers: qbittorrent_url points at Plex


def looks_like_plex(answer: HttpAnswer) -> bool:
    """Plex marks every answer with X-Plex-* headers (and its 401 is an HTML page, qBittorrent's is
    the word `Unauthorized`)."""
    if any(name.lower().startswith("x-plex-") for name in answer.headers):
        return True
    return answer.status == 401 and answer.body.lstrip()[:1] == b"<"


def shape_of(body: str) -> str:
    """What an unexpected body looks like, without quoting it (it could echo anything back)."""
    if not body:
        return "an empty answer"
    if body.lstrip().startswith("<"):
        return "an HTML page: is qbittorrent_url the Web UI address, not a proxy login page?"
    return "%d characters of text" % len(body)


def login_failure(answer: QBittorrentAnswer, url: str) -> Tuple[FailureKind, str, str]:
    """(kind, short reason for the hold-back message, full message) for a failed login."""
    if answer.plex:
        return FailureKind.MALFORMED, "the address is Plex's", NOT_QBITTORRENT % url
    if answer.status == 403 or _BAN_TEXT in answer.body.lower():
        return (
            FailureKind.REJECTED,
            "this IP is banned",
            "qBittorrent has banned this IP after failed logins; fix the password and wait for "
            "the ban to expire or restart qBittorrent (%s)" % url,
        )
    if answer.status == 401 or (answer.status == 200 and answer.body.strip() == "Fails."):
        hint = ""
        if answer.status == 401:
            hint = " (401; if they are right, the URL's host/port must match what qBittorrent sees)"
        return (
            FailureKind.REJECTED,
            "wrong username or password",
            "qBittorrent rejected the username or password at %s%s" % (url, hint),
        )
    return (
        FailureKind.MALFORMED,
        "unexpected answer %d" % answer.status,
        "qBittorrent answered the login with %d and an unexpected body at %s; is qbittorrent_url its "
        "Web UI address?" % (answer.status, url),
    )


def check_status(answer: QBittorrentAnswer, url: str, api_key: bool, uses_login: bool) -> None:
    """Raise the DownloadClientError a status other than 2xx means (`api_key`, `uses_login`: how we
    got in, which is what a 403 is about)."""
    status = answer.status
    if 200 <= status < 300:
        return
    if answer.plex:
        raise DownloadClientError(FailureKind.MALFORMED, NOT_QBITTORRENT % url)
    if status >= 500:
        raise DownloadClientError(FailureKind.UNREACHABLE, "qBittorrent answered %d at %s" % (status, url))
    if status == 401:
        raise DownloadClientError(
            FailureKind.REJECTED,
            "qBittorrent refused the request (401): the URL's host/port must match what qBittorrent "
            "sees; check qbittorrent_url (%s) or disable Host header validation" % url,
        )
    if status == 403:
        raise DownloadClientError(FailureKind.REJECTED, forbidden_message(url, api_key, uses_login))
    raise DownloadClientError(
        FailureKind.MALFORMED,
        "qBittorrent answered %d at %s; is qbittorrent_url its Web UI address?" % (status, url),
    )


def forbidden_message(url: str, api_key: bool, uses_login: bool) -> str:
    """What a 403 means, given how we got in."""
    if api_key:
        return (
            "qBittorrent rejected the API key (403) at %s; API keys need qBittorrent 5.2 or later" % url
        )
    if uses_login:
        return "qBittorrent refused the request (403) at %s even after a fresh login" % url
    return (
        "qBittorrent at %s requires a login (403): configure a username and password or an API key, "
        "or let qBittorrent bypass authentication for this host" % url
    )
