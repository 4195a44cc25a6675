"""An HTTP proxy in front of a download client that counts its requests on the wire, and the labels
that sort them into reads, writes, logins and session handshakes per client."""
from __future__ import annotations

import json


def qbt_label(method: str, path: str, body, status: int) -> str:
    """qBittorrent's endpoint, without /api/v2/ and the query."""
    endpoint = path.split("?", 1)[0]
    return endpoint[len("/api/v2/"):] if endpoint.startswith("/api/v2/") else endpoint


def qbt_category(endpoint: str) -> str:
    """"write", "login" or "read" for a qBittorrent endpoint."""
    if endpoint.startswith("transfer/set") or endpoint == "app/setPreferences":
        return "write"
    if endpoint.startswith("auth/"):
        return "login"
    return "read"


def _rpc_method(body) -> str:
    try:
        method = json.loads(body or b"{}").get("method")
    except (ValueError, AttributeError):
        return "?"
    return method if isinstance(method, str) else "?"


def transmission_label(method: str, path: str, body, status: int) -> str:
    return "rpc %s%s" % (_rpc_method(body), " (409)" if status == 409 else "")


def transmission_category(label: str) -> str:
    if label.endswith("(409)"):
        return "session"  # the session-id exchange: the request is sent again
    return "write" if label.startswith("rpc session-set") else "read"


def deluge_label(method: str, path: str, body, status: int) -> str:
    return "json %s" % _rpc_method(body)


def deluge_category(label: str) -> str:
    method = label[len("json "):]
    if method.startswith("auth."):
        return "login"
    if method.startswith("web."):
        return "session"  # web.connected / web.get_hosts / web.connect: the web UI to its daemon
    return "write" if method == "core.set_config" else "read"


class CountingProxy:
    """An HTTP proxy in front of a download client that counts requests per (method, label) and
    timestamps every limit write (arrival, and when the client's answer came back).

    By default it speaks qBittorrent (label: the endpoint; a limit write: setUploadLimit); bench/sides.py
    passes `label`, `category` and `is_limit_set` for Transmission's and Deluge's JSON-RPC."""

    def __init__(self, upstream_port: int, label=None, category=None, is_limit_set=None) -> None:
        import collections
        import http.client
        import socket
        import threading
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.upstream_port = upstream_port
        self.label = label or qbt_label
        self.category = category or qbt_category
        self.is_limit_set = is_limit_set or (lambda endpoint: endpoint == "transfer/setUploadLimit")
        self.counts = collections.Counter()
        self.sets = []  # (arrival, answered, limit form value)
        self.lock = threading.Lock()
        proxy = self
        hop = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "content-length"}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *a) -> None:
                pass

            def _upstream(self, fresh: bool = False):
                conn = getattr(self, "_conn", None)
                if conn is None or fresh:
                    if conn is not None:
                        conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
                    conn.connect()
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._conn = conn
                return conn

            def _forward(self) -> None:
                arrival = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                # As a reverse proxy does: qBittorrent checks that Host names its own port, and
                # that Referer/Origin match Host (CSRF), so both are rewritten to the upstream.
                here = self.headers.get("Host", "")
                there = "127.0.0.1:%d" % proxy.upstream_port
                headers = {}
                for k, v in self.headers.items():
                    lk = k.lower()
                    if lk in hop:
                        continue
                    if lk == "host":
                        v = there
                    elif lk in ("referer", "origin") and here:
                        v = v.replace("//" + here, "//" + there, 1)
                    headers[k] = v
                if body is not None:
                    headers["Content-Length"] = str(len(body))
                for attempt in (0, 1):
                    try:
                        conn = self._upstream(fresh=attempt == 1)
                        conn.request(self.command, self.path, body=body, headers=headers)
                        resp = conn.getresponse()
                        data = resp.read()
                        break
                    except (OSError, http.client.HTTPException):
                        if attempt == 1:
                            self.send_error(502)
                            return
                answered = time.monotonic()
                endpoint = proxy.label(self.command, self.path, body, resp.status)
                with proxy.lock:
                    proxy.counts[(self.command, endpoint)] += 1
                    if proxy.is_limit_set(endpoint):
                        proxy.sets.append((arrival, answered, (body or b"").decode("latin-1")))
                self.send_response_only(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in hop:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="qbt-counting-proxy")
        self._thread.start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.sets.clear()

    def snapshot(self):
        import collections

        with self.lock:
            counts = dict(self.counts)
        by_category = collections.Counter()
        for (_, endpoint), n in counts.items():
            by_category[self.category(endpoint)] += n
        # "session": handshakes that are neither a read nor a write (Transmission's 409, Deluge's web.connect)
        return {"reads": by_category["read"], "writes": by_category["write"], "logins": by_category["login"],
                "session": by_category["session"],
                "by_endpoint": {"%s %s" % k: v for k, v in sorted(counts.items())}}

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
