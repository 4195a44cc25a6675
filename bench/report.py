"""The bench's output: the table it prints, and a partial run (--only) merged into the JSON file."""
from __future__ import annotations

from bench.sections import SECTIONS, section


def merged_into(path: str, doc: dict) -> dict:
    """A run of some sections (--only) merged into the JSON file at `path`: the rows and details of the
    sections run replace theirs, everything else is kept as it was (the top-level command and
    date stay those of the last full run; `sections` says when each section last ran)."""
    import json

    try:
        with open(path) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return doc
    ran = set(doc["sections"])
    # rows of sections not run now stay; old rows without a section tag belong to the first seven
    kept = [r for r in old.get("table", []) if r.get("section") not in ran]
    details = dict(old.get("details", {}))
    for name in ran:
        for key in section(name).DETAIL_KEYS if name in SECTIONS else (name,):
            details.pop(key, None)
    details.update(doc["details"])
    sections = dict(old.get("sections", {}))
    sections.update(doc["sections"])
    notes = [n for n in old.get("notes", []) if n not in doc["notes"]] + doc["notes"]
    merged = dict(old)
    merged.update({"table": kept + doc["table"], "details": details, "sections": sections, "notes": notes})
    merged.setdefault("machine", doc["machine"])
    return merged


def table(rows: list, details: dict, notes: list, quick: bool, elapsed: float) -> str:
    m = details.get("machine", {})
    lines = [
        "plex-helper benchmark%s  (%.0f s)" % (" --quick" if quick else "", elapsed),
        "machine: %s, %s cores, %s MB RAM; Python %s; %s" % (m.get("cpu_model"), m.get("cores"),
                                                            m.get("memory_mb"), m.get("python"), m.get("os")),
        "servers: test Plex server (tests/support) + %s behind a counting proxy; clients in subprocesses"
        % m.get("qbittorrent"),
        "",
    ]
    w1 = max(len(r["figure"]) for r in rows) if rows else 10
    w2 = max(len(r["measured"]) for r in rows) if rows else 10
    w3 = max(len(r["target"]) for r in rows) if rows else 10
    fmt = "%%-%ds | %%-%ds | %%-%ds | %%s" % (w1, w2, w3)
    lines.append(fmt % ("figure", "measured", "target", "result"))
    lines.append("-" * (w1 + w2 + w3 + 16))
    for r in rows:
        lines.append(fmt % (r["figure"], r["measured"], r["target"], r["result"]))
    for note in notes:
        lines.append("note: %s" % note)
    prof = details.get("memory", {}).get("import_profile")
    if prof and details["memory"]["ratio"] > 1.1:
        lines.append("memory: the daemon loads %d modules, the floor %d; extra by package (self import us): %s"
                     % (prof["modules_daemon"], prof["modules_floor"],
                        ", ".join("%s %d" % kv for kv in prof["extra_by_top_package_self_us"][:12])))
    return "\n".join(lines)
