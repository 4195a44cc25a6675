"""Reading history back: one span of the SQLite file, JSON-ready, with its samples downsampled.

`read_span` opens its own short-lived, read-only connection, so the status server's threads never
share the writer's (adapters/history/store.py, which owns the file; adapters/history/schema.py its
tables). `downsample` is the pure part: at most `max_points` samples, keeping what a chart must not hide.
"""
from __future__ import annotations

import json
import os
import sqlite3
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote

from adapters.history.schema import LINE_COLUMNS, has_table


def read_span(path: str, since: float, until: float, max_points: int) -> Dict[str, Any]:
    """The rows between `since` and `until` as HistoryRecorder.query's "states", "limits",
    "samples", "downsampled" and "truncated"; or {"error": why} when the file cannot be read. A sample
    with the measured line has "line": {direction: {"measured_kib", "clients_kib", "streams_kib",
    "other_kib", "capacity_kib"}}; one without has no "line"."""
    try:
        conn = sqlite3.connect("file:%s?mode=ro" % _uri_path(path), uri=True, timeout=1.0)
    except sqlite3.Error as err:
        return {"error": "history cannot be read: %s" % err}
    try:
        span = (since, until)
        states = conn.execute("SELECT at, from_state, to_state, reason FROM states WHERE at >= ? AND at <= ? "
                              "ORDER BY at DESC, rowid DESC LIMIT ?", span + (max_points + 1,)).fetchall()
        limits = conn.execute("SELECT at, client, limit_kib FROM limits WHERE at >= ? AND at <= ? "
                              "ORDER BY at DESC, rowid DESC LIMIT ?", span + (max_points + 1,)).fetchall()
        samples = conn.execute("SELECT at, remote_streams, limits, servers, clients FROM samples "
                               "WHERE at >= ? AND at <= ? ORDER BY at, rowid", span).fetchall()
        line = conn.execute("SELECT at, direction, %s FROM line_samples WHERE at >= ? AND at <= ?" % ", ".join(LINE_COLUMNS),
                            span).fetchall() if has_table(conn, "line_samples") else []
    except sqlite3.Error as err:
        return {"error": "history cannot be read: %s" % err}
    finally:
        conn.close()
    measured: Dict[float, Dict[str, Dict[str, Any]]] = {}
    for at, direction, *values in line:
        measured.setdefault(at, {})[direction] = dict(zip(LINE_COLUMNS, values))
    points = [{"at": a, "remote_streams": n, "limits": _loads(lim), "servers": _loads(srv), "clients": _loads(cli)}
              for a, n, lim, srv, cli in samples]
    for p in points:
        if p["at"] in measured:
            p["line"] = measured[p["at"]]
    merged, downsampled = downsample(points, since, until, max_points)
    return {
        "truncated": len(states) > max_points or len(limits) > max_points,
        "states": [{"at": a, "from": f, "to": t, "reason": r} for a, f, t, r in reversed(states[:max_points])],
        "limits": [{"at": a, "client": c, "limit_kib": k} for a, c, k in reversed(limits[:max_points])],
        "samples": merged,
        "downsampled": downsampled,
    }


def downsample(points: List[Dict[str, Any]], since: float, until: float, max_points: int) -> Tuple[List[Dict[str, Any]], bool]:
    """At most `max_points` samples: one per equal time bucket, keeping what a chart must not hide
    (the most remote streams, each client's tightest limit, a side down at any time in it), and the
    measured line's mean over the bucket (line_means)."""
    if len(points) <= max_points:
        return points, False
    width = max((until - since) / max_points, 1e-9)
    buckets: Dict[int, Dict[str, Any]] = {}
    lines: Dict[int, List[Dict[str, Dict[str, Any]]]] = {}
    for p in points:
        key = min(int((p["at"] - since) // width), max_points - 1)
        if "line" in p:
            lines.setdefault(key, []).append(p["line"])
        b = buckets.get(key)
        if b is None:
            buckets[key] = {"at": p["at"], "remote_streams": p["remote_streams"], "limits": dict(p["limits"]),
                            "servers": dict(p["servers"]), "clients": dict(p["clients"])}
            continue
        if p["remote_streams"] is not None:
            b["remote_streams"] = max(b["remote_streams"] or 0, p["remote_streams"])
        for name, kib in p["limits"].items():
            b["limits"][name] = _tighter(b["limits"].get(name), kib)
        for side in ("servers", "clients"):
            for name, up in p[side].items():
                b[side][name] = b[side].get(name, True) and up
    for key, measured in lines.items():
        buckets[key]["line"] = line_means(measured)
    return [buckets[k] for k in sorted(buckets)], True


def line_means(measured: List[Dict[str, Dict[str, Any]]]) -> Dict[str, Dict[str, Any]]:
    """Each direction's figures averaged over the samples that have it (an unknown value left out),
    the capacity the highest. Means, not peaks: the parts (streams, clients, other devices) of a mean
    still add up to the mean line, so a stacked chart stays true to the line it sums to."""
    out: Dict[str, Dict[str, Any]] = {}
    for direction in sorted({d for m in measured for d in m}):
        rows = [m[direction] for m in measured if direction in m]
        figures: Dict[str, Any] = {}
        for column in LINE_COLUMNS[:-1]:
            known = [r[column] for r in rows if isinstance(r.get(column), (int, float))]
            figures[column] = round(sum(known) / len(known), 1) if known else None
        capacities = [r["capacity_kib"] for r in rows if isinstance(r.get("capacity_kib"), int)]
        figures["capacity_kib"] = max(capacities) if capacities else None
        out[direction] = figures
    return out


def _tighter(a: Optional[int], b: Optional[int]) -> Optional[int]:
    """The lower limit, where 0 is unlimited (the loosest) and None unknown."""
    if a is None or b is None:
        return a if b is None else b
    if a == 0 or b == 0:
        return max(a, b)
    return min(a, b)



def _loads(text: str) -> Dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _uri_path(path: str) -> str:
    return quote(os.path.abspath(path))


__all__ = ["downsample", "line_means", "read_span"]
