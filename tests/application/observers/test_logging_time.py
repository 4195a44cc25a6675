"""Log timestamps are local time with its UTC offset (TZ honoured); the journal mode has none."""
import io
import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from adapters.system.logging import configure_logging
from tests.application.daemon import run, write_config

# POSIX TZ strings need no tzdata: "XYZ-05:30" is 5 h 30 min east of UTC
TZ_EAST = "XYZ-05:30"
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)([+-]\d{4}) ")


@pytest.fixture
def local_zone(monkeypatch):
    monkeypatch.setenv("TZ", TZ_EAST)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_line_shows_local_time_and_its_offset(local_zone):
    stream = io.StringIO()
    before = datetime.now(timezone.utc)
    configure_logging(False, environ={}, stream=stream).info("state idle -> streaming")
    line = stream.getvalue()
    match = STAMP.match(line)
    assert match, line
    assert match.group(2) == "+0530", line
    stamped = datetime.strptime(match.group(1) + match.group(2), "%Y-%m-%d %H:%M:%S%z")
    assert stamped.utcoffset() == timedelta(hours=5, minutes=30)
    assert abs(stamped - before) < timedelta(seconds=5)  # the local wall clock, not UTC with a label
    assert line.rstrip().endswith("INFO state idle -> streaming")


def test_journal_lines_carry_no_timestamp(local_zone):
    stream = io.StringIO()
    configure_logging(False, environ={"JOURNAL_STREAM": "8:1234"}, stream=stream).info("hello")
    assert stream.getvalue() == "<6>INFO hello\n"


@pytest.fixture
def qbt(fake_qbt):
    return fake_qbt


def test_the_daemon_honours_tz(tmp_path, plex_server, qbt):
    result = run("--config", write_config(tmp_path, plex_server, qbt), "--once", TZ=TZ_EAST)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and all(STAMP.match(line) and STAMP.match(line).group(2) == "+0530" for line in lines), lines
