"""`--check` with a line meter: it is found, and what it measures over a few seconds is printed per
direction; a meter that cannot be read is one FAILED line; the SNMP community never shows."""
from __future__ import annotations

import importlib.util
import io

import pytest

from application.check import run_check
from application.config.settings import LineMeterSettings
from application.line_tracker import check_line
from tests.application.builders import settings
from tests.support.igd_server import IgdStandIn
from tests.support.qbittorrent_nox import free_port
from tests.support.snmpd_daemon import snmpd  # noqa: F401

needs_pysnmp = pytest.mark.skipif(importlib.util.find_spec("pysnmp") is None,
                                  reason="pysnmp is not installed (requirements.lock)")


@needs_pysnmp
def test_check_finds_the_snmp_agent_and_measures_3_seconds_without_the_community(snmpd, plex_server, fake_qbt):
    s = settings(plex_url=plex_server.url, plex_token=plex_server.token, qbittorrent_url=fake_qbt.url,
                 qbittorrent_username="admin", qbittorrent_password="pw", line_upload_kbps=1000, line_download_kbps=5000,
                 line_meter=LineMeterSettings("snmp", host=snmpd.host, port=snmpd.port, community=snmpd.community,
                                              interface="lo"))
    out = io.StringIO()
    assert run_check(s, out=out) == 0, out.getvalue()
    line = next(l for l in out.getvalue().splitlines() if l.startswith("line meter"))
    assert line.startswith("line meter OK: the SNMP agent at 127.0.0.1:%d (Linux" % snmpd.port), line
    assert "over 3 s: upload " in line and " of 1000 KiB/s, download " in line and " of 5000 KiB/s" in line
    assert snmpd.community not in out.getvalue()


def test_check_reads_a_fritz_box_over_upnp():
    with IgdStandIn(avm=True) as igd:
        s = settings(line_upload_kbps=1000, line_meter=LineMeterSettings("upnp", url=igd.location))
        line = check_line(s, seconds=0.2, sleep=lambda seconds: setattr(igd, "sent", igd.sent + 51200))
    assert line.startswith("line meter OK: UPnP router ")
    assert "64-bit counters; over 0.2 s: upload " in line and "download 0 KiB/s (0.0 Mbit/s) (not measured)" in line


def test_a_meter_that_does_not_answer_is_one_failed_line(plex_server, fake_qbt):
    url = "http://127.0.0.1:%d/igd.xml" % free_port()
    s = settings(plex_url=plex_server.url, plex_token=plex_server.token, qbittorrent_url=fake_qbt.url,
                 qbittorrent_username="admin", qbittorrent_password="pw", line_upload_kbps=1000,
                 line_meter=LineMeterSettings("upnp", url=url))
    out = io.StringIO()
    assert run_check(s, out=out) == 1
    failed = [l for l in out.getvalue().splitlines() if l.startswith("line meter")]
    assert len(failed) == 1 and failed[0].startswith("line meter FAILED: ") and "127.0.0.1" in failed[0], failed
