"""NZBGet's download speed limit through its JSON-RPC API, for a download-only client.

`POST /jsonrpc` with HTTP Basic auth (ControlUsername / ControlPassword). `rate [KiB/s]` sets the
limit, 0 = unlimited; `status` -> `DownloadLimit` reads it back in bytes/s; `version` names it.
Seen on Debian's NZBGet 21.0 (tests/support/usenet_clients.md): NZBGet multiplies the rate by 1024
in a 32-bit int, so `rate 2097152` reads back as -2147483648 and `rate 4194304` as 0, unlimited.
A wrong password is a 401 with an empty body and a WARNING in NZBGet's log (no ban); a bad call is
HTTP 200 with `{"error": {"name": "JSONRPCError", "code": 2, "message": "Invalid parameter"}}`.
"""
from __future__ import annotations

import itertools
import json
import logging
import math
import threading
import time
from typing import Any, Callable, Optional, Sequence

from adapters.transport.http import HttpAnswer, HttpClient, HttpTransportError, basic_auth, printable_url
from adapters.clients.login_gate import LoginGate
from adapters.clients.limit_methods import download_only
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import FailureKind, HeldLimit, DownloadClientError

log = logging.getLogger("plex_helper.nzbget")

# `rate` is multiplied by 1024 in a C int: above this it wraps (negative, or 0 = unlimited)
MAX_RATE_KIB = (2**31 - 1) // 1024  # 2097151 KiB/s, about 17 Gbit/s
# `status` is about 1 KB (plus one entry per news server)
MAX_ANSWER_BYTES = 256 * 1024
_SHOWN_ERROR = 80


# ------------------------------------------------------------------------------------ conversions


def to_nzbget_rate(limit: SpeedLimit) -> int:
    """The `rate` parameter (KiB/s, 0 = unlimited) for a limit: the same number, the domain's unit
    being NZBGet's, but at most MAX_RATE_KIB (a larger one would wrap to "unlimited" in NZBGet)."""
    kib = limit.kib_per_sec
    if isinstance(kib, bool) or not isinstance(kib, int) or kib < 0:
        raise DownloadClientError(FailureKind.MALFORMED, "refusing to set NZBGet's download rate to %r" % (kib,))
    return min(kib, MAX_RATE_KIB)


def rpc_result(payload: Any, method: str, where: str = "NZBGet") -> Any:
    """`result` of a decoded JSON-RPC answer. An error object raises DownloadClientError naming NZBGet's
    own message: REJECTED for "Access denied" (code 401), else MALFORMED, as does anything else."""
    if not isinstance(payload, dict):
        raise DownloadClientError(
            FailureKind.MALFORMED, "%s answered %s with something that is not JSON-RPC" % (where, method)
        )
    error = payload.get("error")
    if error is not None:
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(error, dict) and (error.get("code") == 401 or message == "Access denied"):
            # the AddUsername account: it may add downloads, nothing else (HTTP 200, code 401)
            raise DownloadClientError(
                FailureKind.REJECTED,
                "%s refused %s to this user (Access denied): use ControlUsername or RestrictedUsername, "
                "not AddUsername" % (where, method),
            )
        raise DownloadClientError(FailureKind.MALFORMED, "%s refused %s: %s" % (where, method, _printable(message)))
    if "result" not in payload:
        raise DownloadClientError(FailureKind.MALFORMED, "%s answered %s without a result" % (where, method))
    return payload["result"]


def limit_from_status(result: Any, where: str = "NZBGet") -> SpeedLimit:
    """The limit in force from `status`'s result (`DownloadLimit`, bytes/s). Anything else raises
    DownloadClientError(MALFORMED), never another exception. A negative limit is what a wrapped rate
    leaves behind, and NZBGet does not throttle on it: unlimited."""
    return SpeedLimit.from_bytes(max(download_limit_bytes(result, where), 0))


def download_limit_bytes(result: Any, where: str = "NZBGet") -> int:
    """`DownloadLimit` of `status`'s result exactly as NZBGet gave it (bytes/s, a whole number)."""
    value = result.get("DownloadLimit") if isinstance(result, dict) else None
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        raise DownloadClientError(
            FailureKind.MALFORMED, "%s answered status without a readable download limit (DownloadLimit)" % where
        )
    return value


def rate_for_native(native: Any) -> int:
    """The `rate` (KiB/s) that reads back as the DownloadLimit bytes `native`: NZBGet stores
    rate * 1024, so the bytes it gives are always whole KiB and this is exact. A negative native is a
    wrapped rate, on which NZBGet did not throttle: it is restored as 0, unlimited, which NZBGet
    treats the same. Bytes NZBGet could not have given raise DownloadClientError(MALFORMED)."""
    if isinstance(native, bool) or not isinstance(native, int) or native >= 2**31 or native < -(2**31):
        raise DownloadClientError(
            FailureKind.MALFORMED, "cannot restore NZBGet's download limit from %r: not its DownloadLimit bytes" % (native,)
        )
    if native <= 0:
        return 0
    if native % 1024:
        raise DownloadClientError(
            FailureKind.MALFORMED,
            "cannot restore NZBGet's download limit of %d bytes/s: NZBGet holds whole KiB/s" % native,
        )
    return min(native // 1024, MAX_RATE_KIB)


class NzbgetLimit:
    """LimitControl of NZBGet's download limit; native = DownloadLimit bytes/s as `status` gave them."""

    direction = Direction.DOWNLOAD

    def __init__(self, client: "NzbgetClient") -> None:
        self._client = client

    def __repr__(self) -> str:
        return "NzbgetLimit(download)"

    def read_limit(self) -> HeldLimit:
        held = self._client.download_limit_bytes()
        return HeldLimit(SpeedLimit.from_bytes(max(held, 0)), held)

    def write_limit(self, limit: SpeedLimit) -> None:
        self._client.write_download_limit(limit)

    def restore_limit(self, native: Any) -> None:
        self._client.set_rate(rate_for_native(native))


def read_status_answer(payload: Any, where: str = "NZBGet") -> SpeedLimit:
    """limit_from_status(rpc_result(...)): the whole decoded `status` answer to a SpeedLimit."""
    return limit_from_status(rpc_result(payload, "status", where), where)


def _printable(message: Any) -> str:
    text = message if isinstance(message, str) else ""
    text = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return repr(text[:_SHOWN_ERROR]) if text else "no reason given"


# ------------------------------------------------------------------------------------ the client


class NzbgetClient:
    """NZBGet's download limit as a SpeedLimit (KiB/s, 0 = unlimited). A ClientAdapter and a
    DownloadLimitControl; every failure is a DownloadClientError with a secret-free sentence."""

    def __init__(
        self,
        base_url: str,
        username: str = "nzbget",
        password: str = "",
        timeout_sec: float = 10.0,
        verify_tls: bool = True,
        ca_file: Optional[str] = None,
        login_retry_sec: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = printable_url(base_url)
        self._username = username
        # with an empty ControlPassword NZBGet 21 asks for no login at all (any user, any password)
        self._auth_words = "logged in as %s" % username if password else "with no password"
        self._headers = {"Authorization": basic_auth(username, password), "Content-Type": "application/json"}
        self._http = HttpClient(timeout_sec, verify_tls, ca_file, max_body_bytes=MAX_ANSWER_BYTES)
        # NZBGet 21 bans nobody, but logs a WARNING for every refused password: one per hold-back
        self._gate = LoginGate(login_retry_sec, clock)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    @property
    def url(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return "NzbgetClient(%r, username=%r)" % (self._url, self._username)

    # ---------------------------------------------------------------- ports

    def describe(self) -> str:
        version = self._call("version")
        if not isinstance(version, str) or not version.strip() or not version.strip().isprintable():
            raise DownloadClientError(FailureKind.MALFORMED, "NZBGet at %s answered version without one" % self._url)
        return "NZBGet %s at %s, %s" % (version.strip()[:40], self._url, self._auth_words)

    def read_download_limit(self) -> SpeedLimit:
        return SpeedLimit.from_bytes(max(self.download_limit_bytes(), 0))

    def write_download_limit(self, limit: SpeedLimit) -> None:
        self.set_rate(to_nzbget_rate(limit))

    def limit_control(self, direction: Direction) -> NzbgetLimit:
        """The LimitControl of the download limit (NZBGet only downloads: ValueError for upload)."""
        download_only("NZBGet", direction)
        return NzbgetLimit(self)

    def download_limit_bytes(self) -> int:
        return download_limit_bytes(self._call("status"), "NZBGet at %s" % self._url)

    def set_rate(self, rate: int) -> None:
        """`rate [KiB/s]`, 0 = unlimited."""
        log.debug("setting NZBGet's download rate at %s to %d KiB/s", self._url, rate)
        if self._call("rate", [rate]) is not True:
            raise DownloadClientError(
                FailureKind.MALFORMED, "NZBGet at %s did not confirm the new download rate" % self._url
            )

    def close(self) -> None:
        try:
            self._http.close()
        except Exception:  # noqa: BLE001 - closing must never fail the caller
            pass

    # ---------------------------------------------------------------- requests

    def _call(self, method: str, params: Sequence[Any] = ()) -> Any:
        body = json.dumps({"method": method, "params": list(params), "id": next(self._ids)}).encode("utf-8")
        with self._lock:
            held = self._gate.held_back()
            if held:
                raise DownloadClientError(FailureKind.REJECTED, "NZBGet at %s: %s" % (self._url, held))
            answer = self._post(body)
            payload = self._interpret(answer)
        return rpc_result(payload, method, "NZBGet at %s" % self._url)

    def _post(self, body: bytes) -> HttpAnswer:
        reason = ""
        try:
            return self._http.request("POST", self._url + "/jsonrpc", headers=self._headers, body=body)
        except HttpTransportError as exc:
            reason = exc.reason
        raise DownloadClientError(FailureKind.UNREACHABLE, "NZBGet not reachable at %s: %s" % (self._url, reason))

    def _interpret(self, answer: HttpAnswer) -> Any:
        status = answer.status
        if status == 401:
            self._gate.failed("wrong username or password")
            raise DownloadClientError(
                FailureKind.REJECTED,
                "NZBGet rejected the username or password at %s (its ControlUsername and ControlPassword)"
                % self._url,
            )
        if status == 403:
            raise DownloadClientError(
                FailureKind.REJECTED,
                "NZBGet refused access from this address (403) at %s: see its AuthorizedIP" % self._url,
            )
        if status >= 500:
            raise DownloadClientError(FailureKind.UNREACHABLE, "NZBGet answered %d at %s" % (status, self._url))
        if status in (400, 404):  # 21.0 answers a POST to any other path with 400
            raise DownloadClientError(
                FailureKind.MALFORMED,
                "no JSON-RPC at %s/jsonrpc (%d); is the URL NZBGet's web address?" % (self._url, status),
            )
        self._gate.succeeded()  # anything but 401: the password was accepted
        if answer.truncated:
            raise self._malformed("an answer longer than %d bytes" % MAX_ANSWER_BYTES)
        if not 200 <= status < 300:
            raise self._malformed("HTTP status %d" % status)
        text = answer.body.decode("utf-8", errors="replace")
        try:
            return json.loads(text)
        except ValueError:
            pass
        raise self._malformed(_shape_of(text))

    def _malformed(self, what: str) -> DownloadClientError:
        return DownloadClientError(
            FailureKind.MALFORMED,
            "NZBGet at %s answered with %s, not JSON-RPC; is the URL NZBGet's web address?" % (self._url, what),
        )


def _shape_of(text: str) -> str:
    if not text.strip():
        return "an empty answer"
    if text.lstrip().startswith("<"):
        return "an HTML page"
    return "%d characters of text" % len(text)
