"""The status server's request handler: `http.server` does the HTTP, this adds the limits.

`BaseHTTPRequestHandler` reads and parses the request line and headers (a request line over
64 KiB is its 414, more than 100 headers its 431), answers `Expect: 100-continue` and writes the
answers. What a hostile client needs on top:
- the head under one deadline and its header lines capped as they arrive (status_deadline_reader);
- a body only with a Content-Length of 1 to 10 ASCII digits, at most max_body_bytes (413), read
  under its own deadline (408). A Transfer-Encoding is refused: 411 for chunked, since every
  sender of these routes sends a length (Plex's webhook, Jellyfin's Webhook plugin and Emby build
  the body in memory first, as do curl and StatusClient), and the stdlib does not de-chunk;
- every refusal a JSON answer, none of them a traceback in the log, and nothing escaping into
  the server: an exception from the backend is a 500.
Which path answers what is status_routes'.
"""
from __future__ import annotations

import email.errors
import http.server
import re
import socket
import time
from typing import TYPE_CHECKING, Any, Iterable, Optional, Tuple
from urllib.parse import urlsplit

from adapters.status.deadline_reader import DeadlineReader
from adapters.status.routes import answer, check_request, json_answer
from adapters.status.webhook_body import RequestError

if TYPE_CHECKING:
    from adapters.status.server import StatusHttpServer

_LENGTH = re.compile(r"[0-9]{1,10}")
_NOT_A_HEADER = (email.errors.MissingHeaderBodySeparatorDefect, email.errors.FirstHeaderLineIsContinuationDefect)
_SECRET_IN_TEXT = re.compile(r"((?:token|x-plex-token)=)[^&\s\"']*", re.IGNORECASE)


def content_length(headers: Any) -> int:
    """The declared body length, 0 without a Content-Length. RequestError 400 unless there is exactly
    one and it is 1 to 10 ASCII digits (`str.isdigit` also accepts '¹', and `int` refuses more than
    4,300 digits)."""
    values = headers.get_all("Content-Length") or []
    if len(values) > 1:
        raise RequestError(400, "more than one Content-Length header")
    if not values:
        return 0
    text = values[0].strip(" \t")
    if not _LENGTH.fullmatch(text):
        raise RequestError(400, "bad Content-Length: expected 1 to 10 digits")
    return int(text)


def redact(text: str) -> str:
    """`text` without the values of token= and X-Plex-Token= (a request line may hold them)."""
    return _SECRET_IN_TEXT.sub(r"\1***", text)


class StatusRequestHandler(http.server.BaseHTTPRequestHandler):
    """One connection. A subclass per server sets `app`, the StatusHttpServer it serves."""

    protocol_version = "HTTP/1.1"
    # the head and the body go out in two writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK, about 40 ms per answer on a kept-alive connection
    disable_nagle_algorithm = True
    default_request_version = "HTTP/1.0"  # a request line without a version still gets headers back
    server_version = "plex-helper"
    sys_version = ""
    app: "StatusHttpServer"
    rfile: DeadlineReader  # type: ignore[assignment]

    # --- the connection ------------------------------------------------------------------------

    def setup(self) -> None:
        self.timeout = self.app.read_timeout_sec  # applied to the socket by StreamRequestHandler.setup
        super().setup()
        self.rfile = DeadlineReader(self.rfile, self.connection, self.app.read_timeout_sec)
        self._reset()

    def _reset(self) -> None:
        self.path = ""  # so that an unreadable request is not logged with the previous one's path
        self._url = urlsplit("")
        self._length = 0
        self._unread = False  # a declared body still in the stream, that can be read and dropped
        self._out_of_step = False  # where the next request starts is unknown: close after answering
        self._responded = False

    def handle_one_request(self) -> None:
        """The stdlib's, with a fresh deadline for this request's head."""
        self._reset()
        self.rfile.expect_head(self.app.head_deadline_sec)
        try:
            super().handle_one_request()  # a TimeoutError is its own: it closes the connection
        except OSError as err:  # the client went away in the middle of a request
            self.close_connection = True
            self.app.logger.debug("status %s: %s; closing the connection", self.address_string(), err)

    def __getattr__(self, name: str) -> Any:
        # every method goes through the routes, so unknown methods get 404/405 instead of 501
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def version_string(self) -> str:
        return self.server_version  # the stdlib appends " " + sys_version, a trailing space here

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        path = urlsplit(self.path).path if getattr(self, "path", None) else "-"  # never the query: ?token=
        status = getattr(code, "value", code)
        self.app.logger.debug("status %s %s %s %s", self.address_string(), self.command or "-", path, status)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        self.app.logger.debug("status %s: %s", self.address_string(), redact(format % args))

    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
        """The stdlib's own refusals (a bad request line, headers too large...), as JSON."""
        text = explain or message or self.responses.get(code, ("error",))[0]  # the most precise it gave
        self.log_error("code %d, %s", code, text)
        self.close_connection = True
        self._unread, self._out_of_step = False, True  # the rest of the head may still be on its way
        self._send_json(code, {"error": text})

    # --- one request ---------------------------------------------------------------------------

    def handle_expect_100(self) -> bool:
        """Refuse an oversized, unauthorized or misrouted body before the client sends it."""
        self._url = urlsplit(self.path)
        try:
            self._check()
        except RequestError as err:
            self._unread = False  # the client waits for "100 Continue" before sending it
            self.close_connection = True
            self._send_json(err.status, {"error": err.message}, err.headers)
            return False
        return super().handle_expect_100()

    def _dispatch(self) -> None:
        self._url = urlsplit(self.path)
        try:
            try:
                self._check()
                self._send(*answer(self.app, self.command, self._url, self.headers, self._peer(), self._read_body))
            except RequestError as err:
                self._send_json(err.status, {"error": err.message}, err.headers)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as err:
            self.close_connection = True
            self.app.logger.debug("status %s %s: client went away (%s)", self.command, self._url.path, err)
        except Exception as err:  # noqa: BLE001 - nothing may escape into the server
            self.close_connection = True
            self.app.logger.error(
                "status server: %s %s failed: %s: %s", self.command, self._url.path, type(err).__name__, err,
                exc_info=True,
            )
            if not self._responded:
                try:
                    self._send_json(500, {"error": "internal error (%s); see plex-helper's log" % type(err).__name__})
                except OSError:
                    pass

    def _check(self) -> None:
        """Everything decidable from the head: framing, route, method, token, declared size."""
        self._frame_body()
        check_request(self.app, self.command, self._url, self.headers, self._peer())
        if self._length > self.app.max_body_bytes:
            raise RequestError(413, "request body too large (at most %d bytes)" % self.app.max_body_bytes)

    def _frame_body(self) -> None:
        """How long the body is. When that is unclear the answer closes the connection."""
        self._unread, self._out_of_step, self._length = False, True, 0  # nothing after the head is trusted yet
        if any(isinstance(defect, _NOT_A_HEADER) for defect in self.headers.defects):
            # the email parser takes a line that is no header, and every line after it, for a body
            raise RequestError(400, "malformed request headers: a line that is not 'Name: value'")
        encoding = self.headers.get("Transfer-Encoding")
        if encoding is not None:
            if encoding.strip().lower() == "chunked":
                raise RequestError(411, "a chunked request body is not accepted: send a Content-Length")
            raise RequestError(501, "unsupported Transfer-Encoding: %s" % encoding.strip()[:64])
        self._length = content_length(self.headers)
        self._unread, self._out_of_step = self._length > 0, False

    def _peer(self) -> str:
        return str(self.client_address[0]) if self.client_address else ""

    # --- the body ------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        """The declared body, within 3 read timeouts however it trickles in."""
        if not self._unread:
            return b""
        self._unread, self._out_of_step = False, True  # a failure from here on leaves the stream out of step
        self.rfile.expect_body(3 * self.app.read_timeout_sec)
        try:
            body = self.rfile.read(self._length)
        except TimeoutError as err:
            raise RequestError(408, "the request body did not arrive in time") from err
        if len(body) < self._length:
            raise RequestError(400, "the request body ended early (%d of %d bytes)" % (len(body), self._length))
        self._out_of_step = False
        return body

    def _discard_body(self) -> None:
        """Before an early answer (401, 404...): read a small declared body so the connection can stay
        open; an oversized or broken one is left, and the connection closed after the answer."""
        if self._length > self.app.max_body_bytes:
            return
        try:
            self._read_body()
        except (RequestError, OSError):
            pass

    def _linger(self) -> None:
        """After answering without reading all the client sent: half-close, then drop what it still
        sends for a moment, so that closing does not reset the connection before it reads the answer."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            end = time.monotonic() + 2.0
            received = 0
            while time.monotonic() < end and received < 4 * self.app.max_body_bytes:
                data = self.connection.recv(65536)
                if not data:
                    break
                received += len(data)
        except OSError:
            pass

    # --- answers -------------------------------------------------------------------------------

    def _send_json(self, status: int, payload: Any, headers: Iterable[Tuple[str, str]] = ()) -> None:
        self._send(*json_answer(status, payload, headers))

    def _send(self, status: int, body: bytes, content_type: str, headers: Iterable[Tuple[str, str]] = ()) -> None:
        if self._unread:
            self._discard_body()
        out_of_step = self._unread or self._out_of_step
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        if out_of_step or self.close_connection:
            self.send_header("Connection", "close")  # also sets close_connection
        self.end_headers()
        if self.command != "HEAD" and status >= 200 and status not in (204, 304):
            self.wfile.write(body)
        self.wfile.flush()
        self._responded = True
        if out_of_step:
            self._linger()


__all__ = ["StatusRequestHandler", "content_length", "redact"]
