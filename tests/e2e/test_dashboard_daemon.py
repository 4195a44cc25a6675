"""The dashboard of the real daemon, in headless Chromium.

The daemon runs as users run it (`python -m application --config ...`, a subprocess) against the Plex
stand-in (tests/support/plex_server.py) and the fake qBittorrent, with its status server on a free
127.0.0.1 port and a status token. Chromium, driven over its DevTools protocol with the helpers of
test_dashboard_browser.py, opens the page and the test checks:

- the state, the remote stream count and the client's limit on the page are what /health says;
- a remote stream started in the Plex stand-in shows on the page within a refresh, without a reload;
- the override buttons are refused without the token (the page's prompt dismissed, or answered
  wrongly) and work with it (the prompt answered through Page.handleJavaScriptDialog): /health and
  qBittorrent follow;
- every request the page made went to http://127.0.0.1:PORT/.

A screenshot of the page during a stream is saved to the test's tmp directory, and copied to
packaging/dashboard.png (the README's) when PLEX_HELPER_UPDATE_SCREENSHOT=1.

Skips when no Chromium is installed (Debian: apt-get install chromium).
"""
from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import pytest

from tests.application.daemon import ROOT, start, stop, write_config
from tests.e2e import test_dashboard_browser as chromium
from tests.e2e.test_dashboard_browser import BROWSER, DevTools, text_of
from tests.support.fake_qbittorrent import FakeQBittorrent
from tests.support.plex_payloads import remote_movie
from tests.support.ports import free_port

browser = chromium.browser  # the fixture: headless Chromium (no sandbox, names unresolvable) with DevTools

pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium installed (Debian: apt-get install chromium)")

TOKEN = "dash-TOKEN-9c41"
KIB = 1024
REFRESH_SEC = 5  # the page reads /health every 5 s (HEALTH_MS in adapters/status/dashboard.html)
README_SHOT = Path(ROOT) / "packaging" / "dashboard.png"


def get_json(url: str) -> Tuple[Optional[int], Dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
    except (OSError, ValueError):
        return None, {}


def eventually(condition: Callable[[], Any], what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("%s: not within %.0f s (last: %r)" % (what, timeout, value))


def kib_words(value: Optional[int]) -> str:
    """The page's kib(): how it writes a limit."""
    if value is None:
        return "unknown"
    if value == 0:
        return "unlimited"
    return "%d KiB/s (%.1f Mbit/s)" % (value, value * 0.008192)


def state_words(state: Optional[str]) -> str:
    return {"streaming": "Streaming: upload throttled", "idle": "Idle: upload not throttled"}.get(
        state or "", "Unknown: no observation yet")


def shown(devtools: DevTools) -> Dict[str, Any]:
    """What the page shows now: the state, the stream count, the client rows, the session rows."""
    return devtools.evaluate("""(function () {
        var rows = sel => [...document.querySelectorAll(sel)].map(r => [...r.cells].map(c => c.textContent));
        return {state: document.getElementById('state').textContent,
                streams: document.getElementById('streams').textContent,
                why: document.getElementById('why').textContent,
                override: document.getElementById('override-status').textContent,
                clients: rows('#clients tr.client'), sessions: rows('#servers tr.session')};
    })()""")


def expected_from(health: Dict[str, Any]) -> Dict[str, Any]:
    """What the page should show for this /health answer (the fields compared)."""
    upload = health["clients"][0]["limits"]["upload"]
    limit = kib_words(0 if upload["unlimited"] else upload["kib"]) + (", yours, left alone" if upload["own"]
                                                                      else ", set by plex-helper")
    streams = ", ".join("%s on %s (%s), since %s" % (s["user"], s["player"], s["server"],
                                                     time.strftime("%H:%M", time.localtime(s["since_epoch"])))
                        for s in health["streams"]) or "Nobody."
    why = "Set by hand: see Override." if health["override"] else health["why"]  # the override is shown once
    return {"state": state_words(health["effective_state"] or health["state"]), "streams": streams, "why": why,
            "limit": limit}


def page_matches_health(devtools: DevTools, base: str) -> Optional[Tuple[Dict[str, Any], Dict[str, Any]]]:
    """(page, /health) when the page shows what /health says now, else None (one of them is ahead)."""
    _, health = get_json(base + "/health")
    if not health.get("clients"):
        return None
    page = shown(devtools)
    want = expected_from(health)
    got = {"state": page["state"], "streams": page["streams"], "why": page["why"],
           "limit": page["clients"][0][2] if page["clients"] else None}
    return (page, health) if got == want else None


def click_and_wait(devtools: DevTools, button: str, message_prefix: str, what: str, timeout: float = 10) -> str:
    devtools.evaluate("document.getElementById('override-message').textContent = ''")
    devtools.evaluate("document.getElementById(%s).click()" % json.dumps(button))
    devtools.wait_for(text_of("override-message") + ".startsWith(%s)" % json.dumps(message_prefix), what,
                      timeout=timeout)
    return devtools.evaluate(text_of("override-message"))


@pytest.fixture
def qbt():
    with FakeQBittorrent(username="admin", password="pw") as fake:
        fake.upload_limit = 2000 * KIB  # the user's own limit, left alone while idle
        yield fake


@pytest.fixture
def daemon(tmp_path, plex_server, qbt):
    port = free_port()
    path = write_config(
        tmp_path, plex_server, qbt, poll_interval_sec=1, streaming_threshold=1, idle_threshold=1,
        status_listen="127.0.0.1:%d" % port, status_token=TOKEN, state_dir=str(tmp_path / "state"), plex_events=False,
        idle_upload_kbps=None,
    )
    process = start("--config", path)
    base = "http://127.0.0.1:%d" % port
    try:
        eventually(lambda: process.poll() is not None or get_json(base + "/health")[0] == 200,
                   "the daemon's first poll", timeout=15)
        assert process.poll() is None, "the daemon exited: %s" % (process.communicate(timeout=5),)
        yield base
    finally:
        _, stderr = stop(process)
        (tmp_path / "daemon.log").write_text(stderr or "")


def test_the_dashboard_of_the_running_daemon(daemon, browser, plex_server, qbt, tmp_path):
    base = daemon
    page_url = base + "/"
    browser.call("Page.navigate", url=page_url)

    # idle at first: the page shows what /health says
    browser.wait_for(text_of("state") + " !== 'Unknown'", "the first answer on the page", timeout=10)
    page, health = eventually(lambda: page_matches_health(browser, base), "the page as /health (idle)", timeout=10)
    assert health["state"] == "idle" and health["remote_streams"] == 0
    assert page["state"] == "Idle: upload not throttled" and page["streams"] == "Nobody."
    assert page["clients"][0][2] == "2000 KiB/s (16.4 Mbit/s), yours, left alone"
    assert page["clients"][0][0] == "qbittorrent (qbittorrent)" and page["clients"][0][1] == "yes"
    assert page["sessions"] == []
    assert browser.evaluate("document.getElementById('override-clear').disabled") is True  # nothing to clear
    browser.evaluate("window.__same_page = true")

    # a remote stream starts in Plex: on the page within a refresh, without a reload
    plex_server.set_sessions([remote_movie(user="alice", player="Living room TV", bandwidth=8127)])
    started = time.monotonic()
    browser.wait_for("[...document.querySelectorAll('#servers tr.session th')].some(c => c.textContent === 'alice')",
                     "alice's stream on the page", timeout=REFRESH_SEC + 5)  # a poll (1 s) + a refresh (5 s) + slack
    browser.wait_for(text_of("state") + " === 'Streaming: upload throttled'", "streaming on the page",
                     timeout=REFRESH_SEC + 5)
    took = time.monotonic() - started
    (tmp_path / "timing.txt").write_text("the stream showed after %.1f s\n" % took)
    assert browser.evaluate("window.__same_page === true"), "the page was reloaded"
    page, health = eventually(lambda: page_matches_health(browser, base), "the page as /health (streaming)", timeout=10)
    assert health["effective_state"] == "streaming" and health["remote_streams"] == 1
    assert health["clients"][0]["limit_kib"] == 500 and qbt.upload_limit == 500 * KIB
    assert page["streams"].startswith("alice on Living room TV (plex), since ")
    assert page["clients"][0][2] == "500 KiB/s (4.1 Mbit/s), set by plex-helper"
    alice = next(row for row in page["sessions"] if row[0] == "alice")
    assert alice[1:4] == ["Living room TV", "playing", "remote"] and alice[5] == "8.1 Mbit/s"
    assert alice[4] == health["servers"][0]["sessions"][0]["reason"]

    # the screenshot, during the stream
    browser.wait_for("document.querySelectorAll('#chart-day svg').length === 1", "the day chart drawn", timeout=10)
    shot = tmp_path / "dashboard.png"
    browser.screenshot(shot)
    assert shot.stat().st_size > 10000
    if os.environ.get("PLEX_HELPER_UPDATE_SCREENSHOT") == "1":
        shutil.copy(shot, README_SHOT)

    # the override, refused without the token: the prompt dismissed, then answered wrongly
    browser.dialog_answer = None
    assert click_and_wait(browser, "override-set", "Could not set the override", "refused, no token") == \
        "Could not set the override: no token given: nothing changed"
    browser.dialog_answer = "not-the-token"
    assert click_and_wait(browser, "override-set", "Could not set the override", "refused, a wrong token") == \
        "Could not set the override: the status token was refused"
    assert len(browser.dialogs) == 2
    assert get_json(base + "/health")[1]["override"] is None

    # with the token: idle forced for an hour while alice streams; /health, the page and qBittorrent follow
    browser.dialog_answer = TOKEN
    browser.evaluate("document.getElementById('override-state').value = 'idle'")
    assert click_and_wait(browser, "override-set", "Override set", "the override set") == \
        "Override set: idle for 1 hour."
    set_at = time.monotonic()
    assert len(browser.dialogs) == 3
    override = get_json(base + "/health")[1]["override"]
    assert override is not None and override["state"] == "idle"
    assert 3500 < override["until_epoch"] - time.time() <= 3600
    browser.wait_for(text_of("override-status") + ".startsWith('Override in force: idle until')", "the override shown")
    eventually(lambda: qbt.upload_limit == 2000 * KIB, "qBittorrent back at its own limit by the override", timeout=5)
    page, health = eventually(lambda: page_matches_health(browser, base), "the page as /health (override)", timeout=10)
    assert health["effective_state"] == "idle" and health["state"] == "streaming"
    assert page["state"] == "Idle: upload not throttled"
    with open(tmp_path / "timing.txt", "a") as timing:
        timing.write("the override's state showed %.1f s after 'Override set'\n" % (time.monotonic() - set_at))
    assert browser.evaluate("document.getElementById('override-clear').disabled") is False
    assert browser.evaluate(text_of("observed")) == "The media servers alone would say: streaming."

    # clearing: refused without the token (the kept token forgotten, the prompt dismissed), works with it
    browser.evaluate("sessionStorage.clear()")
    browser.dialog_answer = None
    assert click_and_wait(browser, "override-clear", "Could not clear the override", "clear refused") == \
        "Could not clear the override: no token given: nothing changed"
    assert get_json(base + "/health")[1]["override"] is not None
    browser.dialog_answer = TOKEN
    assert click_and_wait(browser, "override-clear", "Override cleared", "the override cleared") == "Override cleared."
    assert len(browser.dialogs) == 5
    assert get_json(base + "/health")[1]["override"] is None
    eventually(lambda: qbt.upload_limit == 500 * KIB, "throttled again after the override", timeout=5)
    browser.wait_for(text_of("override-status") + ".startsWith('No override')", "no override shown")
    eventually(lambda: page_matches_health(browser, base), "the page as /health (streaming again)", timeout=10)
    assert browser.evaluate("window.__same_page === true"), "the page was reloaded"

    # nothing was asked of anything but the daemon's status server on 127.0.0.1
    urls = browser.requested_urls()
    (tmp_path / "requests.txt").write_text("\n".join(urls) + "\n")
    assert page_url in urls and any(u.startswith(base + "/health") for u in urls)
    assert any(u.startswith(base + "/api/history?since=") for u in urls)
    overrides = [e["params"]["request"] for e in browser.events if e["method"] == "Network.requestWillBeSent"
                 and e["params"]["request"]["url"] == base + "/override"]
    # each button: first without a token (401), then again with the token the prompt was answered with
    assert [(r["method"], r["headers"].get("Authorization")) for r in overrides] == [
        ("POST", None),
        ("POST", None), ("POST", "Bearer not-the-token"),
        ("POST", None), ("POST", "Bearer " + TOKEN),
        ("DELETE", None),
        ("DELETE", None), ("DELETE", "Bearer " + TOKEN)]
    elsewhere = [u for u in urls if not u.startswith(page_url)]
    assert elsewhere == [], elsewhere
    assert took <= REFRESH_SEC + 3, "the stream took %.1f s to show" % took
