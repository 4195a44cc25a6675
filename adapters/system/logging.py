"""Log to stderr, stamped with local time and its offset; without timestamps under systemd's journal,
which adds its own."""
from __future__ import annotations

import logging
import os
import sys
from typing import Mapping, Optional, TextIO

# journald reads a "<N>" prefix as the syslog priority of the line
_JOURNAL_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = _JOURNAL_PRIORITY.get(record.levelno, 6)
        return "<%d>%s" % (priority, super().format(record))


def configure_logging(
    verbose: bool,
    environ: Optional[Mapping[str, str]] = None,
    stream: Optional[TextIO] = None,
    timestamps: bool = True,
) -> logging.Logger:
    environ = os.environ if environ is None else environ
    handler = logging.StreamHandler(stream or sys.stderr)
    if environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter("%(levelname)s %(message)s"))
    elif not timestamps:
        handler.setFormatter(logging.Formatter("%(levelname)-7s %(message)s"))
    else:
        # local time (TZ honoured) with its UTC offset, so a line is unambiguous wherever it is read
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S%z"))
    logger = logging.getLogger("plex_helper")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    # urllib3 logs request lines at DEBUG: noisy, and a Telegram bot URL carries its token
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    return logger
