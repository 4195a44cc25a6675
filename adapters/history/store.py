"""History in SQLite: state changes, the limits applied per client, and a sample a minute.

The poll path only calls `HistoryRecorder.record(event)`, which appends to a bounded queue (when it is
full the oldest event is dropped and counted) and returns. One background thread writes what has
queued up once a second, as one committed transaction, and prunes what is older than `keep_days`
once an hour. The database uses WAL and synchronous=NORMAL: a SIGKILL or a crash loses at most the
batches not yet committed, never the file.

Any trouble with the database (locked for longer than the busy timeout, corrupt, unwritable, the
disk full) is one WARNING, and the recorder turns itself off: the daemon runs on without history,
and `status()` says why (for /health).

`query()` reads with its own short-lived connection (adapters/history/query.py), so the status
server's threads never share the writer's. The events, and `HistoryObserver` that turns each
TickReport into them, are in adapters/history/events.py; the tables and how an older file is brought
up to date in adapters/history/schema.py; their names are re-exported here.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import sqlite3
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional

from adapters.history.events import (
    SAMPLE_EVERY_SEC, Event, EventSink, HistoryObserver, LimitApplied, LineReading, Sample, StateChange,
    describe_reason,
)
from adapters.history.query import downsample, read_span
from adapters.history.schema import SCHEMA_VERSION, TABLES, bring_up_to_date

DEFAULT_FILE_NAME = "history.sqlite3"
DEFAULT_KEEP_DAYS = 30
DEFAULT_MAX_QUEUE = 1000  # minutes of events between two writes (one a second); about 0.7 MB when full
DEFAULT_MAX_POINTS = 2000
PRUNE_EVERY_SEC = 3600.0


class HistoryRecorder:
    """Records events off the poll path. `record` never blocks on the disk and never raises."""

    def __init__(
        self,
        path: str,
        keep_days: float = DEFAULT_KEEP_DAYS,
        max_queue: int = DEFAULT_MAX_QUEUE,
        busy_timeout_sec: float = 2.0,
        wall_clock: Callable[[], float] = time.time,
        logger: Optional[logging.Logger] = None,
    ) -> None:
        self.path = str(path)
        self.keep_days = keep_days
        self.busy_timeout_sec = busy_timeout_sec
        self._wall_clock = wall_clock
        self._logger = logger or logging.getLogger("plex_helper.history")
        self._queue: Deque[Event] = collections.deque(maxlen=max(1, max_queue))
        self._cond = threading.Condition()
        self._enabled = True
        self._error: Optional[str] = None
        self._dropped = 0
        self._rows = 0
        self._cycles_started = 0  # the writer's rounds: take the queue, write it, maybe prune
        self._cycles_done = 0
        self._wake = False  # flush() or stop() asks the writer not to wait out its interval
        self._stopping = False
        self._thread: Optional[threading.Thread] = None

    # ---- the poll side

    def record(self, event: Event) -> None:
        """Queue `event` for the writer; the oldest queued event is dropped (and counted) when full."""
        if not self._enabled:
            return
        with self._cond:
            if len(self._queue) == self._queue.maxlen:
                self._dropped += 1
            elif not self._queue:
                self._cond.notify()  # the writer sleeps while there is nothing to write
            self._queue.append(event)

    def status(self) -> Dict[str, Any]:
        """For /health: {"enabled", "error", "rows", "dropped", "queued"}."""
        with self._cond:
            return {"enabled": self._enabled, "error": self._error, "rows": self._rows,
                    "dropped": self._dropped, "queued": len(self._queue)}

    @property
    def enabled(self) -> bool:
        return self._enabled

    # ---- lifecycle

    def start(self) -> "HistoryRecorder":
        with self._cond:
            if self._thread is not None or not self._enabled:
                return self
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="plex-helper-history", daemon=True)
        self._thread.start()
        return self

    def flush(self, timeout_sec: float = 5.0) -> bool:
        """Wait until everything recorded so far is committed (or history is off). True if it is."""
        deadline = time.monotonic() + timeout_sec
        with self._cond:
            wanted = self._cycles_started + 1  # a round that starts after this call takes everything queued
            self._wake = True
            self._cond.notify_all()
            while self._enabled and self._cycles_done < wanted and self._thread is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return self._cycles_done >= wanted or not self._enabled

    def stop(self, timeout_sec: float = 3.0) -> None:
        """Write what is queued and close, within about `timeout_sec` (a stuck disk is left behind:
        the thread is a daemon thread)."""
        with self._cond:
            thread, self._thread = self._thread, None
            self._stopping = self._wake = True
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout_sec)

    # ---- the writer thread

    def _run(self) -> None:
        conn = self._open()
        if conn is None:
            return
        last_prune = -PRUNE_EVERY_SEC
        try:
            while True:
                with self._cond:
                    if not self._queue and not self._wake and not self._stopping:
                        # no timeout: an idle writer costs no wake-ups (record, flush and stop wake it)
                        self._cond.wait()
                    batch = list(self._queue)
                    self._queue.clear()
                    self._wake, stopping = False, self._stopping
                    self._cycles_started += 1
                    cycle = self._cycles_started
                try:
                    if batch:
                        self._write(conn, batch)
                    if time.monotonic() - last_prune >= PRUNE_EVERY_SEC:
                        last_prune = time.monotonic()
                        self._prune(conn)
                except (sqlite3.Error, OSError) as err:
                    self._disable(err)
                    return
                with self._cond:
                    self._cycles_done = cycle
                    self._cond.notify_all()
                if stopping:  # the batch held everything recorded before stop()
                    return
        finally:
            conn.close()

    def _open(self) -> Optional[sqlite3.Connection]:
        conn = None
        try:
            directory = os.path.dirname(self.path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            refuse_links(self.path)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_sec, isolation_level=None,
                                   check_same_thread=False, cached_statements=16)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError("could not switch to WAL (journal mode %s)" % mode)
            conn.execute("PRAGMA synchronous=NORMAL")
            # a small page cache: the quick check reads the whole file, and the cache would keep it
            conn.execute("PRAGMA cache_size=-64")
            problems = [row[0] for row in conn.execute("PRAGMA quick_check(3)")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError("the database is damaged: %s" % "; ".join(map(str, problems)))
            bring_up_to_date(conn)
            rows = sum(conn.execute("SELECT count(*) FROM %s" % t).fetchone()[0] for t in TABLES)
            with self._cond:
                self._rows = rows
            return conn
        except (sqlite3.Error, OSError) as err:
            if conn is not None:
                conn.close()
            self._disable(err)
            return None

    def _write(self, conn: sqlite3.Connection, batch: List[Event]) -> None:
        states, limits, samples, line = [], [], [], []
        for e in batch:
            if isinstance(e, StateChange):
                states.append((e.at, e.from_state, e.to_state, e.reason))
            elif isinstance(e, LimitApplied):
                limits.append((e.at, e.client, e.limit_kib))
            elif isinstance(e, Sample):
                samples.append((e.at, e.remote_streams, _dumps(e.limits), _dumps(e.servers), _dumps(e.clients)))
                line += [(e.at, direction, r.measured_kib, r.clients_kib, r.streams_kib, r.other_kib, r.capacity_kib)
                         for direction, r in sorted(e.line.items())]
        conn.execute("BEGIN")
        try:
            conn.executemany("INSERT INTO states VALUES (?, ?, ?, ?)", states)
            conn.executemany("INSERT INTO limits VALUES (?, ?, ?)", limits)
            conn.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?)", samples)
            conn.executemany("INSERT INTO line_samples VALUES (?, ?, ?, ?, ?, ?, ?)", line)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        with self._cond:
            self._rows += len(states) + len(limits) + len(samples) + len(line)

    def _prune(self, conn: sqlite3.Connection) -> None:
        cutoff = self._wall_clock() - self.keep_days * 86400
        conn.execute("BEGIN")
        removed = sum(conn.execute("DELETE FROM %s WHERE at < ?" % t, (cutoff,)).rowcount for t in TABLES)
        conn.execute("COMMIT")
        with self._cond:
            self._rows = max(0, self._rows - removed)

    def _disable(self, err: BaseException) -> None:
        reason = "history database %s: %s" % (self.path, err)
        with self._cond:
            if not self._enabled:
                return
            self._error = reason
        # logged before it shows as off, so whoever sees it off also finds the line in the log
        self._logger.warning("%s; history is off, plex-helper runs on without it", reason)
        with self._cond:
            self._enabled = False
            self._queue.clear()
            self._cond.notify_all()

    # ---- reading (any thread)

    def query(self, since: float, until: Optional[float] = None, max_points: int = DEFAULT_MAX_POINTS) -> Dict[str, Any]:
        """Everything between `since` and `until` (epoch seconds; until defaults to now), JSON-ready:
        {"since", "until", "enabled", "error", "states": [...], "limits": [...], "samples": [...],
        "downsampled": bool, "truncated": bool}. Samples beyond `max_points` are merged into
        `max_points` time buckets (the most remote streams, the tightest limit, any side down, the
        measured line's mean); states and limits beyond it keep the latest `max_points`. A sample
        with the measured line has "line" (adapters/history/query.py, read_span)."""
        until = self._wall_clock() if until is None else until
        max_points = max(1, int(max_points))
        answer: Dict[str, Any] = {"since": since, "until": until, "enabled": self._enabled, "error": self._error,
                                  "states": [], "limits": [], "samples": [], "downsampled": False, "truncated": False}
        if not self._enabled or not os.path.exists(self.path) or until < since:
            return answer
        answer.update(read_span(self.path, since, until, max_points))
        return answer


class LinkedDatabase(OSError):
    """The database, or a file SQLite keeps beside it, is a symbolic link; str() says which."""


# the files SQLite opens beside the database in WAL mode (and -journal if it ever falls back)
_SIDECARS = ("", "-wal", "-shm", "-journal")


def refuse_links(path: str) -> None:
    """LinkedDatabase when the database or a file SQLite opens beside it is a symbolic link, or when
    the database would resolve outside its directory. SQLite follows links and cannot be told not to
    (no O_NOFOLLOW), so a link planted in state_dir would make it write wherever the link points."""
    for suffix in _SIDECARS:
        if os.path.islink(path + suffix):
            raise LinkedDatabase("%s is a symbolic link; plex-helper does not follow links in its state "
                                 "directory: remove it (history starts afresh) or point state_dir at the "
                                 "real directory" % (path + suffix))
    directory = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    if os.path.dirname(os.path.realpath(path)) != directory:
        raise LinkedDatabase("%s resolves to %s, outside its directory %s" % (path, os.path.realpath(path), directory))


def _dumps(value: Dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


__all__ = [
    # this module's own
    "DEFAULT_FILE_NAME", "DEFAULT_KEEP_DAYS", "DEFAULT_MAX_POINTS", "DEFAULT_MAX_QUEUE", "PRUNE_EVERY_SEC",
    "HistoryRecorder",
    # re-exported: adapters/history/schema.py
    "SCHEMA_VERSION",
    # re-exported: adapters/history/events.py
    "SAMPLE_EVERY_SEC", "Event", "EventSink", "HistoryObserver", "LimitApplied", "LineReading", "Sample",
    "StateChange", "describe_reason",
    # re-exported: adapters/history/query.py
    "downsample",
]
