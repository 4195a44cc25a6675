"""qBittorrent's global upload limit through its Web API v2 (4.1 to 5.2), as an UploadLimiter.

One pool and one session for the adapter's life: qBittorrent bans an IP after a few failed logins
and newer versions evict old sessions, so we log in once, keep every cookie it sets, and log in
again only when a request answers 403 (then retry that request once).
"""
from __future__ import annotations

import email.utils
import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Mapping, Optional, Tuple

from adapters.http import HttpAnswer, HttpClient, HttpTransportError, printable_url
from domain.policies import SpeedLimit
from domain.ports import FailureKind, UploadLimiterError

log = logging.getLogger("plex_helper.qbittorrent")

AUTH_PASSWORD = "password"
AUTH_API_KEY = "api key"
AUTH_BYPASS = "no login (bypassed for this client)"

_BAN_TEXT = "banned"  # qBittorrent's 403 login body: "Your IP address has been banned ..."
_INT_BODY = re.compile(r"-?[0-9]{1,19}")


@dataclass(frozen=True)
class QBittorrentInfo:
    """What `--check` shows: qBittorrent's version, its Web API version and how we got in."""

    version: str
    webapi_version: str
    auth: str


# libtorrent keeps a limit in a 32-bit int of bytes/s: a larger value would wrap or mean unlimited
MAX_LIMIT_BYTES = 2**31 - 1
# app/preferences, the longest answer we read, is about 10 KB; nothing qBittorrent sends us is near this
MAX_ANSWER_BYTES = 256 * 1024
_NOT_QBITTORRENT = (
    "%s does not look like qBittorrent's Web UI: it answers like Plex Media Server; check qbittorrent_url"
)


@dataclass(frozen=True)
class _Answer:
    status: int
    body: str
    plex: bool = False  # the answer carries Plex's headers: qbittorrent_url points at Plex


def _looks_like_plex(answer: HttpAnswer) -> bool:
    """Plex marks every answer with X-Plex-* headers (and its 401 is an HTML page, qBittorrent's is
    the word `Unauthorized`)."""
    if any(name.lower().startswith("x-plex-") for name in answer.headers):
        return True
    return answer.status == 401 and answer.body.lstrip()[:1] == b"<"


def _shape_of(body: str) -> str:
    """What an unexpected body looks like, without quoting it (it could echo anything back)."""
    if not body:
        return "an empty answer"
    if body.lstrip().startswith("<"):
        return "an HTML page: is qbittorrent_url the Web UI address, not a proxy login page?"
    return "%d characters of text" % len(body)


class _CookieJar:
    """name -> value of every cookie the server set; one server, so domain/path do not matter."""

    def __init__(self) -> None:
        self._cookies: Dict[str, str] = {}

    def update(self, set_cookie_headers: Iterable[str]) -> None:
        for header in set_cookie_headers:
            self._apply(header)

    def _apply(self, header: str) -> None:
        first, *attrs = header.split(";")
        name, sep, value = first.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            return
        if not value or any(self._is_deletion(a) for a in attrs):
            self._cookies.pop(name, None)  # logout answers `SID=; expires=<yesterday>`
        else:
            self._cookies[name] = value

    @staticmethod
    def _is_deletion(attr: str) -> bool:
        key, _, val = attr.partition("=")
        key, val = key.strip().lower(), val.strip()
        if key == "max-age":
            return val.lstrip("-").isdigit() and int(val) <= 0
        if key == "expires":
            try:
                return email.utils.parsedate_to_datetime(val).timestamp() <= time.time()
            except (TypeError, ValueError, IndexError, OverflowError):
                return False
        return False

    def header(self) -> Optional[str]:
        if not self._cookies:
            return None
        return "; ".join("%s=%s" % item for item in self._cookies.items())

    def clear(self) -> None:
        self._cookies.clear()


class QBittorrentUploadLimiter:
    """Reads and sets qBittorrent's global upload limit (bytes/s, 0 = unlimited)."""

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
        self._url = printable_url(base_url)
        self._username = username
        self._password = password
        self._api_key = api_key.strip()
        self._login_retry_sec = login_retry_sec
        self._clock = clock
        self._http = HttpClient(timeout_sec, verify_tls, ca_file, max_body_bytes=MAX_ANSWER_BYTES)
        self._jar = _CookieJar()
        self._lock = threading.RLock()  # one session: requests and logins must not interleave
        self._uses_login = bool(username or password) and not self._api_key
        self._need_login = False  # first try without: qBittorrent may bypass auth for us
        self._logged_in = False
        self._held_until: Optional[float] = None
        self._last_failure = ""

    # ---------------------------------------------------------------- UploadLimiter

    def current_upload_limit(self) -> int:
        body = self._request("GET", "transfer/uploadLimit").body.strip()
        if not _INT_BODY.fullmatch(body):
            raise UploadLimiterError(
                FailureKind.MALFORMED,
                "qBittorrent returned something that is not an upload limit (%s) at %s"
                % (_shape_of(body), self._url),
            )
        return max(int(body), 0)  # negative values have meant "unlimited" in some versions

    def set_upload_limit(self, bytes_per_sec: int) -> None:
        bytes_per_sec = self._checked_limit(bytes_per_sec)
        self._request("POST", "transfer/setUploadLimit", {"limit": str(bytes_per_sec)})

    @staticmethod
    def _checked_limit(bytes_per_sec: int) -> int:
        # bool is an int, and a negative or garbage limit would silently become "unlimited"
        if isinstance(bytes_per_sec, bool) or not isinstance(bytes_per_sec, int) or not 0 <= bytes_per_sec <= MAX_LIMIT_BYTES:
            raise UploadLimiterError(
                FailureKind.MALFORMED,
                "refusing to set upload limit %r: not a whole number from 0 to %d" % (bytes_per_sec, MAX_LIMIT_BYTES),
            )
        if 0 < bytes_per_sec < 1024:
            return 1024  # stored in whole KiB anyway, and 4.1 turns < 1 KiB into "unlimited"
        return bytes_per_sec

    # ---------------------------------------------------------------- alternative speed mode

    def alternative_mode(self) -> bool:
        body = self._request("GET", "transfer/speedLimitsMode").body.strip()
        if body not in ("0", "1"):
            raise UploadLimiterError(
                FailureKind.MALFORMED,
                "qBittorrent returned something that is not a speed limits mode (%s) at %s" % (_shape_of(body), self._url),
            )
        return body == "1"

    def set_alternative_mode(self, on: bool) -> None:
        # toggle works on every version (setSpeedLimitsMode needs 4.5); read first so it is idempotent
        if self.alternative_mode() != on:
            self._request("POST", "transfer/toggleSpeedLimitsMode", {})

    def alternative_upload_limit(self) -> int:
        body = self._request("GET", "app/preferences").body
        try:
            value = json.loads(body)["alt_up_limit"]
        except (ValueError, KeyError, TypeError):
            value = None
        if isinstance(value, bool) or not isinstance(value, int):
            raise UploadLimiterError(
                FailureKind.MALFORMED,
                "qBittorrent returned preferences without an alternative upload limit at %s" % self._url,
            )
        return max(value, 0)

    def set_alternative_upload_limit(self, bytes_per_sec: int) -> None:
        bytes_per_sec = self._checked_limit(bytes_per_sec)
        self._request("POST", "app/setPreferences", {"json": json.dumps({"alt_up_limit": bytes_per_sec})})

    # ---------------------------------------------------------------- the ports, in the domain's type

    def read_upload_limit(self) -> SpeedLimit:
        return SpeedLimit.from_bytes(self.current_upload_limit())

    def write_upload_limit(self, limit: SpeedLimit) -> None:
        self.set_upload_limit(limit.bytes_per_sec)

    def read_alternative_upload_limit(self) -> SpeedLimit:
        return SpeedLimit.from_bytes(self.alternative_upload_limit())

    def write_alternative_upload_limit(self, limit: SpeedLimit) -> None:
        self.set_alternative_upload_limit(limit.bytes_per_sec)

    def current_upload_rate(self) -> SpeedLimit:
        """What qBittorrent uploads right now (transfer/info up_info_speed, bytes/s), for `rebalance`."""
        body = self._request("GET", "transfer/info").body
        try:
            value = json.loads(body).get("up_info_speed")
        except (ValueError, AttributeError, RecursionError):
            value = None
        if isinstance(value, bool) or not isinstance(value, int):
            raise UploadLimiterError(
                FailureKind.MALFORMED, "qBittorrent returned transfer info without an upload rate at %s" % self._url
            )
        return SpeedLimit.from_bytes(max(value, 0))

    def describe(self) -> QBittorrentInfo:
        version = self._request("GET", "app/version").body.strip()[:40]
        webapi = self._request("GET", "app/webapiVersion").body.strip()[:40]
        return QBittorrentInfo(version=version, webapi_version=webapi, auth=self._auth_used())

    def close(self) -> None:
        """Close the pooled connections (the session stays valid on qBittorrent's side)."""
        self._http.close()

    # ---------------------------------------------------------------- session

    def _auth_used(self) -> str:
        if self._api_key:
            return AUTH_API_KEY
        return AUTH_PASSWORD if self._logged_in else AUTH_BYPASS

    def _request(self, method: str, endpoint: str, fields: Optional[Mapping[str, str]] = None) -> _Answer:
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
            raise UploadLimiterError(
                FailureKind.REJECTED,
                "the last login to qBittorrent at %s failed (%s); next attempt in %d s"
                % (self._url, self._last_failure, wait),
            )
        answer = self._send("POST", "auth/login", {"username": self._username, "password": self._password})
        if answer.status == 204 or (answer.status == 200 and answer.body.strip() == "Ok."):
            self._need_login, self._logged_in, self._held_until = False, True, None
            log.debug("logged in to qBittorrent at %s", self._url)
            return
        if answer.status >= 500:
            self._check_status(answer)  # a server error is not a failed login: no hold-back
        self._held_until = self._clock() + self._login_retry_sec
        kind, self._last_failure, message = self._login_failure(answer)
        raise UploadLimiterError(kind, message)

    def _login_failure(self, answer: _Answer) -> Tuple[FailureKind, str, str]:
        """(kind, short reason for the hold-back message, full message) for a failed login."""
        if answer.plex:
            return FailureKind.MALFORMED, "the address is Plex's", _NOT_QBITTORRENT % self._url
        if answer.status == 403 or _BAN_TEXT in answer.body.lower():
            return (
                FailureKind.REJECTED,
                "this IP is banned",
                "qBittorrent has banned this IP after failed logins; fix the password and wait for "
                "the ban to expire or restart qBittorrent (%s)" % self._url,
            )
        if answer.status == 401 or (answer.status == 200 and answer.body.strip() == "Fails."):
            hint = ""
            if answer.status == 401:
                hint = " (401; if they are right, the URL's host/port must match what qBittorrent sees)"
            return (
                FailureKind.REJECTED,
                "wrong username or password",
                "qBittorrent rejected the username or password at %s%s" % (self._url, hint),
            )
        return (
            FailureKind.MALFORMED,
            "unexpected answer %d" % answer.status,
            "qBittorrent answered the login with %d and an unexpected body at %s; is qbittorrent_url its "
            "Web UI address?" % (answer.status, self._url),
        )

    def _headers(self) -> Dict[str, str]:
        # qBittorrent's CSRF check wants Referer's host:port to equal the Host header: both come
        # from the same URL. Without it, a missing Referer passes too, but a proxy may add one.
        headers = {"Referer": self._url + "/"}
        if self._api_key:
            headers["Authorization"] = "Bearer " + self._api_key
        cookie = self._jar.header()
        if cookie:
            headers["Cookie"] = cookie
        return headers

    def _send(self, method: str, endpoint: str, fields: Optional[Mapping[str, str]]) -> _Answer:
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
            raise UploadLimiterError(
                FailureKind.MALFORMED,
                "qBittorrent answered with more than %d bytes at %s; is qbittorrent_url its Web UI address?"
                % (MAX_ANSWER_BYTES, self._url),
            )
        return _Answer(answer.status, answer.body.decode("utf-8", errors="replace"), _looks_like_plex(answer))

    def _http_request(self, method: str, endpoint: str, fields: Optional[Mapping[str, str]]) -> HttpAnswer:
        url = "%s/api/v2/%s" % (self._url, endpoint)
        if method == "POST":
            return self._http.request(method, url, headers=self._headers(), fields=dict(fields or {}))
        return self._http.request(method, url, headers=self._headers())

    def _unreachable(self, exc: HttpTransportError) -> UploadLimiterError:
        return UploadLimiterError(FailureKind.UNREACHABLE, "qBittorrent not reachable at %s: %s" % (self._url, exc))

    def _check_status(self, answer: _Answer) -> None:
        status = answer.status
        if 200 <= status < 300:
            return
        if answer.plex:
            raise UploadLimiterError(FailureKind.MALFORMED, _NOT_QBITTORRENT % self._url)
        if status >= 500:
            raise UploadLimiterError(FailureKind.UNREACHABLE, "qBittorrent answered %d at %s" % (status, self._url))
        if status == 401:
            raise UploadLimiterError(
                FailureKind.REJECTED,
                "qBittorrent refused the request (401): the URL's host/port must match what qBittorrent "
                "sees; check qbittorrent_url (%s) or disable Host header validation" % self._url,
            )
        if status == 403:
            raise UploadLimiterError(FailureKind.REJECTED, self._forbidden_message())
        raise UploadLimiterError(
            FailureKind.MALFORMED,
            "qBittorrent answered %d at %s; is qbittorrent_url its Web UI address?" % (status, self._url),
        )

    def _forbidden_message(self) -> str:
        if self._api_key:
            return (
                "qBittorrent rejected the API key (403) at %s; API keys need qBittorrent 5.2 or later" % self._url
            )
        if self._uses_login:
            return "qBittorrent refused the request (403) at %s even after a fresh login" % self._url
        return (
            "qBittorrent at %s requires a login (403): configure a username and password or an API key, "
            "or let qBittorrent bypass authentication for this host" % self._url
        )
