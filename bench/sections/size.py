"""The size of the .pyz."""
from __future__ import annotations

import os

from bench.common import PYZ

DETAIL_KEYS = ("size",)


def run(bench) -> None:
    import subprocess
    import time

    pyz = bench.ensure_pyz()
    if not pyz:
        bench.row("size of the .pyz", "missing", "< 6 MB", False)
        return
    size = os.path.getsize(pyz)
    version = subprocess.run([bench.python, pyz, "--version"], capture_output=True, text=True,
                             env=dict(os.environ, PLEX_HELPER_CACHE_DIR=os.path.join(bench.tmp, "warm-cache"))).stdout.strip()
    bench.details["size"] = {"bytes": size, "path": "dist/plex-helper.pyz" if pyz == PYZ else "fresh build (--rebuild)",
                            "version": version,
                            "mtime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(pyz)))}
    bench.row("size of the .pyz", "%d bytes (%.2f MB) [%s]" % (size, size / 2 ** 20, version),
             "< 6 MB", size < 6 * 2 ** 20)
