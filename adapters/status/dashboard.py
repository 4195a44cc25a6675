"""The dashboard: one self-contained HTML page for `GET /` on the status server.

No CDN, no build step, no framework: inline CSS, a little plain JavaScript, SVG charts drawn by the
script. It reads `/health` every few seconds and `/api/history?since=...` every half minute (and
whenever the state changes), without reloading. The override buttons POST and DELETE `/override`;
when the server answers 401 they ask for the status token once, keep it in sessionStorage and send it
as `Authorization: Bearer`.

The page is adapters/status/dashboard.html, read once when this module is imported (build_zipapp.py packs
it into the .pyz beside the code). `page()` gives its bytes and the headers to send: a
Content-Security-Policy that allows only this page's own script and style (by hash) and requests to
the same origin, so even a mistake cannot make the browser fetch anything elsewhere.

Everything from the server is put into the page with textContent, never as HTML: user and player
names come from the media servers and could hold markup.
"""
from __future__ import annotations

import base64
import hashlib
import pkgutil
import re
from typing import List, Tuple

CONTENT_TYPE = "text/html; charset=utf-8"
PAGE_RESOURCE = "dashboard.html"  # beside this module, in the adapters.status package


def _read_page() -> bytes:
    # pkgutil asks the package's loader, so the page is found wherever the code is: a checkout, an
    # installed package or the .pyz's extracted tree.
    data = pkgutil.get_data(__package__ or "adapters.status", PAGE_RESOURCE)
    if data is None:  # pragma: no cover - only a loader without get_data()
        raise FileNotFoundError("adapters/%s cannot be read by this package's loader" % PAGE_RESOURCE)
    return data


PAGE_BYTES = _read_page()
PAGE_HTML = PAGE_BYTES.decode("utf-8")


def _inline_hash(tag: str) -> str:
    match = re.search(r"<%s>(.*?)</%s>" % (tag, tag), PAGE_HTML, re.S)
    assert match is not None, tag
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(match.group(1).encode("utf-8")).digest()).decode("ascii")


# Only this page's own script and style run, and the page may talk to its own origin only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src %s; style-src %s; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'" % (_inline_hash("script"), _inline_hash("style"))
)
# besides Content-Type (CONTENT_TYPE), Content-Length and Cache-Control, which the status server sets
SECURITY_HEADERS: Tuple[Tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)


def page() -> Tuple[bytes, str, List[Tuple[str, str]]]:
    """(the page's bytes, its Content-Type, the other headers to send with it)."""
    return PAGE_BYTES, CONTENT_TYPE, list(SECURITY_HEADERS)
