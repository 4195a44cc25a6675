"""Waiting for something another thread or process does, bounded in time."""
from __future__ import annotations

import time
from typing import Callable


def wait_until(condition: Callable[[], object], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """True as soon as `condition()` is true; False when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return bool(condition())
        time.sleep(interval)
    return True
