"""The shipped systemd unit: verified by systemd itself and holding the promised settings."""
import os
import shutil
import subprocess

import pytest

UNIT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "packaging", "plex-helper.service")


def directives():
    pairs = []
    for line in open(UNIT, encoding="utf-8"):
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            pairs.append((key, value))
    return pairs


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_passes():
    result = subprocess.run(["systemd-analyze", "verify", UNIT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_unit_has_the_promised_settings():
    d = dict(directives())
    assert d["Type"] == "notify"
    # the config is root-only (README); the dynamic user reads systemd's copy in the credentials directory
    assert d["LoadCredential"] == "config.json:/etc/plex-helper/config.json"
    assert d["ExecStart"] == "/usr/bin/python3 /usr/local/bin/plex-helper.pyz --config %d/config.json"
    assert d["Restart"] == "on-failure"
    assert int(d["WatchdogSec"]) > 0
    assert d["DynamicUser"] == "yes" and d["CacheDirectory"] == "plex-helper"
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert d[key] == "yes"
    assert d["ProtectSystem"] == "strict"
    assert d["RestrictAddressFamilies"] == "AF_INET AF_INET6 AF_UNIX"
    assert ("SystemCallFilter", "@system-service") in directives()
    assert d["CapabilityBoundingSet"] == ""


def test_unit_shows_credentials_for_the_secrets():
    text = open(UNIT, encoding="utf-8").read()
    assert "#LoadCredential=plex_token:" in text and "PLEX_TOKEN_FILE=%d/plex_token" in text
    assert "QBITTORRENT_PASSWORD_FILE=%d/qbittorrent_password" in text


def test_unit_shows_how_to_enable_the_status_server():
    text = open(UNIT, encoding="utf-8").read()
    assert '"status_listen": "127.0.0.1:9911"' in text
    assert "PLEX_HELPER_STATUS_TOKEN_FILE=%d/status_token" in text
    assert dict(directives())["StateDirectory"] == "plex-helper"
