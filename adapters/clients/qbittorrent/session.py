"""One session with qBittorrent's Web API v2: the connection pool, the login and its cookies.

qBittorrent bans an IP after a few failed logins and newer versions evict old sessions, so we log
in once, keep every cookie it sets, and log in again only when a request answers 403 (then retry
that request once). After a failed login no login is sent for `login_retry_sec`. An API key (5.2)
replaces the login; without a username and password we try without one, since qBittorrent may
bypass authentication for our host.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Callable, Dict, Mapping, Optional

from adapters.clients.qbittorrent.cookie_jar import CookieJar
from adapters.transport.http import HttpAnswer, HttpClient, HttpTransportError, printable_url
from adapters.clients.qbittorrent.answers import QBittorrentAnswer, check_status, login_failure, looks_like_plex
from domain.ports import FailureKind, DownloadClientError

log = logging.getLogger("plex_helper.qbittorrent")

AUTH_PASSWORD = "password"
AUTH_API_KEY = "api key"
AUTH_BYPASS = "no login (bypassed for this client)"

# app/preferences, the longest answer we read, is about 10 KB; nothing qBittorrent sends us is near this
MAX_ANSWER_BYTES = 256 * 1024


class QBittorrentSession:
    """Sends Web API requests with the session's cookies, logging in when needed; one at a time."""

    def __init__(
        self,
        base_url: str,
        username: str = "",
        password: str = "",
        api_key: str = "",
        timeout_sec: float = 10.0,
        verify_tls: bool = True,
        ca_file: Optional[str] = None,
        login_retry_sec: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = printable_url(base_url)  # also what every message shows
        self._username = username
        self._password = password
        self._api_key = api_key.strip()
        self._login_retry_sec = login_retry_sec
        self._clock = clock
        self._http = HttpClient(timeout_sec, verify_tls, ca_file, max_body_bytes=MAX_ANSWER_BYTES)
        self._jar = CookieJar()
        self._lock = threading.RLock()  # one session: requests and logins must not interleave
        self._uses_login = bool(username or password) and not self._api_key
        self._need_login = False  # first try without: qBittorrent may bypass auth for us
        self._logged_in = False
        self._held_until: Optional[float] = None
        self._last_failure = ""

    def auth_used(self) -> str:
        """How we got in: AUTH_API_KEY, AUTH_PASSWORD or AUTH_BYPASS."""
        if self._api_key:
            return AUTH_API_KEY
        return AUTH_PASSWORD if self._logged_in else AUTH_BYPASS

    def close(self) -> None:
        """Close the pooled connections (the session stays valid on qBittorrent's side)."""
        self._http.close()

    def request(self, method: str, endpoint: str, fields: Optional[Mapping[str, str]] = None) -> QBittorrentAnswer:
        """The 2xx answer to `method` api/v2/`endpoint`, or DownloadClientError."""
        with self._lock:
            just_logged_in = self._need_login
            if self._need_login:
                self._login()
            answer = self._send(method, endpoint, fields)
            if answer.status == 403 and self._uses_login and not just_logged_in:
                # the session expired or qBittorrent restarted: log in again once, retry once
                log.debug("qBittorrent answered 403 to %s; logging in again", endpoint)
                self._need_login = True
                self._login()
                answer = self._send(method, endpoint, fields)
            self._check_status(answer)
            return answer

    def _login(self) -> None:
        """Log in, or raise. After a failure, send no login for login_retry_sec: retrying a wrong
        password on every poll would get this IP banned from the user's own Web UI."""
        now = self._clock()
        if self._held_until is not None and now < self._held_until:
            wait = max(1, math.ceil(self._held_until - now))
            raise DownloadClientError(
                FailureKind.REJECTED,
                "the last login to qBittorrent at %s failed (%s); next attempt in %d s"
                % (self.url, self._last_failure, wait),
            )
        answer = self._send("POST", "auth/login", {"username": self._username, "password": self._password})
        if answer.status == 204 or (answer.status == 200 and answer.body.strip() == "Ok."):
            self._need_login, self._logged_in, self._held_until = False, True, None
            log.debug("logged in to qBittorrent at %s", self.url)
            return
        if answer.status >= 500:
            self._check_status(answer)  # a server error is not a failed login: no hold-back
        self._held_until = self._clock() + self._login_retry_sec
        kind, self._last_failure, message = login_failure(answer, self.url)
        raise DownloadClientError(kind, message)

    def _headers(self) -> Dict[str, str]:
        # qBittorrent's CSRF check wants Referer's host:port to equal the Host header: both come
        # from the same URL. Without it, a missing Referer passes too, but a proxy may add one.
        headers = {"Referer": self.url + "/"}
        if self._api_key:
            headers["Authorization"] = "Bearer " + self._api_key
        cookie = self._jar.header()
        if cookie:
            headers["Cookie"] = cookie
        return headers

    def _send(self, method: str, endpoint: str, fields: Optional[Mapping[str, str]]) -> QBittorrentAnswer:
        try:
            answer = self._http_request(method, endpoint, fields)
        except HttpTransportError as exc:
            # qBittorrent closes idle keep-alive connections after ~7 s; if that races with our
            # reuse of one, the request never arrived. Our requests are idempotent: try once more
            # on a new connection. Not a login, though: a lost answer may still have counted.
            if not exc.connection_dropped or endpoint == "auth/login":
                raise self._unreachable(exc) from None
            try:
                answer = self._http_request(method, endpoint, fields)
            except HttpTransportError as again:
                raise self._unreachable(again) from None
        self._jar.update(answer.header_list("Set-Cookie"))
        if answer.truncated:
            raise DownloadClientError(
                FailureKind.MALFORMED,
                "qBittorrent answered with more than %d bytes at %s; is qbittorrent_url its Web UI address?"
                % (MAX_ANSWER_BYTES, self.url),
            )
        return QBittorrentAnswer(answer.status, answer.body.decode("utf-8", errors="replace"), looks_like_plex(answer))

    def _http_request(self, method: str, endpoint: str, fields: Optional[Mapping[str, str]]) -> HttpAnswer:
        url = "%s/api/v2/%s" % (self.url, endpoint)
        if method == "POST":
            return self._http.request(method, url, headers=self._headers(), fields=dict(fields or {}))
        return self._http.request(method, url, headers=self._headers())

    def _unreachable(self, exc: HttpTransportError) -> DownloadClientError:
        return DownloadClientError(FailureKind.UNREACHABLE, "qBittorrent not reachable at %s: %s" % (self.url, exc))

    def _check_status(self, answer: QBittorrentAnswer) -> None:
        check_status(answer, self.url, api_key=bool(self._api_key), uses_login=self._uses_login)
