import base64
import hashlib
import re
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser

import pytest

from adapters.status import dashboard
from adapters.status.dashboard import CONTENT_SECURITY_POLICY, PAGE_BYTES, PAGE_HTML, page

# What tests/e2e/test_dashboard_browser.py looks for on the page.
BROWSER_IDS = ("state", "why", "streams", "budgets", "reasons", "servers", "clients", "override-status", "override-form",
               "override-state", "override-minutes", "override-set", "override-clear", "override-message",
               "temporary-list", "temporary-form", "temporary-direction", "temporary-kib", "temporary-minutes-t",
               "temporary-label", "temporary-set", "chart-day", "chart-week", "summary-day", "summary-week", "legend",
               "history-status", "updated")
SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # an identifier in createElementNS, never fetched


class Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []  # (tag, attrs)
        self.data = {"script": [], "style": []}
        self._in = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in self.data:
            self._in = tag

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in:
            self.data[self._in].append(data)


@pytest.fixture(scope="module")
def parsed():
    c = Collect()
    c.feed(PAGE_HTML)
    c.close()
    return c


def script_text():
    return re.search(r"<script>(.*?)</script>", PAGE_HTML, re.S).group(1)


def test_the_page_is_small():
    assert len(PAGE_BYTES) < 60 * 1024
    body, content_type, headers = page()
    assert body == PAGE_BYTES
    assert content_type == "text/html; charset=utf-8"
    assert dict(headers)["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_nothing_on_the_page_points_elsewhere(parsed):
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "action", "xlink:href", "poster", "srcset", "formaction", "background"):
            value = (attrs.get(name) or "").strip()
            if value:
                assert value.startswith(("data:", "#")) or not re.match(r"^([a-z][a-z0-9+.-]*:|//)", value, re.I), (tag, name, value)
    without_namespace = PAGE_HTML.replace(SVG_NAMESPACE, "")
    assert not re.search(r"(?i)\b[a-z][a-z0-9+.-]*://", without_namespace), "an absolute URL on the page"
    assert "@import" not in PAGE_HTML
    assert re.findall(r"url\(([^)]*)\)", PAGE_HTML) == ["#hatch"] * len(re.findall(r"url\(", PAGE_HTML))
    # every fetch goes to a path relative to the page: health, api/history, override
    assert set(re.findall(r'fetch\(("[^"]*"|\w+)', script_text())) == {"url", '"override"'}
    assert set(re.findall(r'getJSON\("([^"?]*)', script_text())) == {"health", "api/history", "api/override"}


def test_the_script_parses(tmp_path):
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed")
    path = tmp_path / "page.js"
    path.write_text(script_text())
    result = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_elements_the_browser_test_needs_are_there(parsed):
    ids = Counter(attrs["id"] for _, attrs in parsed.tags if "id" in attrs)
    assert [i for i, n in ids.items() if n > 1] == []  # ids are unique
    for wanted in BROWSER_IDS:
        assert ids[wanted] == 1, wanted


def test_the_content_security_policy_allows_exactly_the_inline_script_and_style(parsed):
    assert len(parsed.data["script"]) == 1 and len(parsed.data["style"]) == 1
    for kind in ("script", "style"):
        digest = base64.b64encode(hashlib.sha256("".join(parsed.data[kind]).encode()).digest()).decode()
        assert "%s-src 'sha256-%s'" % (kind, digest) in CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY and "connect-src 'self'" in CONTENT_SECURITY_POLICY
    for tag, attrs in parsed.tags:  # the policy would block these: inline handlers and style attributes
        assert not [a for a in attrs if a.startswith("on") or a == "style"], (tag, attrs)


def test_accessible_and_plain(parsed):
    tags = [t for t, _ in parsed.tags]
    html_attrs = next(a for t, a in parsed.tags if t == "html")
    assert html_attrs.get("lang") == "en"
    assert any(t == "meta" and a.get("name") == "viewport" for t, a in parsed.tags)
    assert tags.count("h1") == 1 and tags.count("h2") >= 6
    labels = {a.get("for") for t, a in parsed.tags if t == "label"}
    for t, a in parsed.tags:
        if t in ("select", "input"):
            assert a.get("id") in labels, a
        if t == "section":
            assert a.get("aria-labelledby"), a
    assert 'role="status"' in PAGE_HTML and 'aria-live="polite"' in PAGE_HTML
    # meaning never rests on colour alone: the state, remote/local, up/down and the chart legend are words
    for words in ("Streaming: upload throttled", "Idle: upload not throttled", '"remote" : "local"', '"DOWN"',
                  "remote streams (hatched area)", "stroke-dasharray"):
        assert words in PAGE_HTML, words
    assert "@media (max-width" in PAGE_HTML  # a phone layout
    assert "innerHTML" not in script_text()  # names from the media servers go in as text, never as markup


def test_the_module_documents_itself():
    assert dashboard.__doc__ and "GET /" in dashboard.__doc__
