"""A "timezone" works where the system has no zone files: the .pyz carries the tzdata package, which
zoneinfo falls back to. Without any database the config error says so instead of suggesting a name."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from application.config import fields


def test_the_pyz_knows_europe_berlin_without_the_systems_zone_files(run_pyz, tmp_path: Path) -> None:
    empty = tmp_path / "no-zoneinfo"
    empty.mkdir()
    config = tmp_path / "config.json"
    # nothing listens on port 9 of 127.0.0.1: --check gets past the config, then fails to connect (exit 1)
    config.write_text(json.dumps({
        "plex_url": "http://127.0.0.1:9", "plex_token": "t", "qbittorrent_url": "http://127.0.0.1:9",
        "timezone": "Europe/Berlin", "http_timeout_sec": 2,
        "schedule": [{"days": "daily", "from": "01:00", "to": "07:00", "throttle": False}],
    }), encoding="utf-8")
    config.chmod(0o600)
    result = run_pyz("--config", str(config), "--check", env_extra={"PYTHONTZPATH": str(empty)})
    assert "time zone" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stdout + result.stderr


def test_without_any_zone_database_the_error_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import zoneinfo

    def not_found(key: str) -> None:
        raise zoneinfo.ZoneInfoNotFoundError("No time zone found with key %s" % key)

    monkeypatch.setattr(zoneinfo, "ZoneInfo", not_found)
    monkeypatch.setattr(zoneinfo, "available_timezones", set)
    with pytest.raises(fields.ValidationError) as raised:
        fields._time_zone("Europe/Berlin")
    message = str(raised.value)
    assert "no time zone database" in message and "for example Europe/Berlin" not in message
