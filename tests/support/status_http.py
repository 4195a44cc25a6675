"""Talking to a status server under test over real HTTP (urllib): a free port, GET and a JSON request
with the status token."""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any, Optional, Tuple

TOKEN = "status-TOKEN-5e1f"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, token: str = "") -> Tuple[Optional[int], str]:
    """(status, body text); (None, "") when nothing answers."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError:
        return None, ""


def send(method: str, url: str, body: Optional[bytes] = None, token: str = TOKEN,
         content_type: str = "application/json") -> Tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    if body is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
