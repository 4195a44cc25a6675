"""One module per section of the bench; each has `run(bench)` and DETAIL_KEYS, the keys of the
results' details it writes (a partial run with --only replaces just those)."""
from __future__ import annotations

import importlib
from types import ModuleType

# in the order a full run goes through them
SECTIONS = ("requests", "cpu", "reaction", "memory", "startup", "size", "whole_daemon", "many", "kinds", "clients",
            "history", "history_daemon")


def section(name: str) -> ModuleType:
    """The section's module, imported on first use (a run of one section imports only that one)."""
    return importlib.import_module("bench.sections." + name)
