"""The history file's tables, and bringing a file written by an earlier version up to date.

Version 1 held states, limits and samples. Version 2 adds `line_samples`: the measured line per
sample and direction, in its own table so that a version-1 file needs no rewrite (the new table is
created beside the old ones; every old row stays as it was) and a daemon without a line meter
writes no empty columns. A file of a later version is left at its number: it only has more tables.
"""
from __future__ import annotations

import sqlite3
from typing import List, Tuple

SCHEMA_VERSION = 2

_VERSION_1 = """
CREATE TABLE IF NOT EXISTS states (at REAL NOT NULL, from_state TEXT, to_state TEXT, reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS states_at ON states (at);
CREATE TABLE IF NOT EXISTS limits (at REAL NOT NULL, client TEXT NOT NULL, limit_kib INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS limits_at ON limits (at);
CREATE TABLE IF NOT EXISTS samples (at REAL NOT NULL, remote_streams INTEGER, limits TEXT NOT NULL,
                                    servers TEXT NOT NULL, clients TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS samples_at ON samples (at);
"""
# KiB/s; a row shares its sample's `at`, which is how query.py puts them together
_VERSION_2 = """
CREATE TABLE IF NOT EXISTS line_samples (at REAL NOT NULL, direction TEXT NOT NULL, measured_kib REAL,
                                         clients_kib REAL, streams_kib REAL, other_kib REAL, capacity_kib INTEGER);
CREATE INDEX IF NOT EXISTS line_samples_at ON line_samples (at);
"""
TABLES: Tuple[str, ...] = ("states", "limits", "samples", "line_samples")
LINE_COLUMNS: Tuple[str, ...] = ("measured_kib", "clients_kib", "streams_kib", "other_kib", "capacity_kib")


def bring_up_to_date(conn: sqlite3.Connection) -> None:
    """Creates what this version needs and is missing, in one transaction; old rows are untouched."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    conn.execute("BEGIN")
    try:
        for statement in _statements(_VERSION_1 + _VERSION_2):
            conn.execute(statement)
        if found < SCHEMA_VERSION:
            conn.execute("PRAGMA user_version=%d" % SCHEMA_VERSION)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the file has `name` (a reader may open a version-1 file before the writer updated it)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def _statements(script: str) -> List[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


__all__ = ["LINE_COLUMNS", "SCHEMA_VERSION", "TABLES", "bring_up_to_date", "has_table"]
