"""plex-helper benchmark: every figure docs/performance.md cites, side by side, from one command.

    python3 -m bench.run --json bench/results.json          # the full figures
    python3 -m bench.run --quick                             # fewer iterations, same figures
    python3 -m bench.run --only cpu,size --json bench/results.json   # some sections; the others kept

Standard library plus the project only (tests/support is project code). What runs where:

* The test Plex server (tests/support/plex_server.py) and qBittorrent run in/next to this process:
  the real qbittorrent-nox (tests/support/qbittorrent_nox.py) when it is installed, else the fake
  (tests/support/fake_qbittorrent.py); the output says which. qBittorrent is reached through a small
  counting proxy in this process (bench/counting_proxy.py), so requests can be counted and limit
  writes timestamped whichever qBittorrent answers.
* The measured client is always another process, so that the servers' threads never show up in
  its CPU time or memory: bench/poll_worker.py builds the application Container from Settings
  pointing at the local servers and calls `DaemonRunner.run_once()`; for the reaction figure, the
  real daemon (`python3 -m application --config ...`) with a one-second poll interval.

The sections, one module each in bench/sections/ (each alone with `--only NAME`; with `--json` a
partial run replaces only its own rows and details in the file): requests, cpu, reaction, memory,
startup and size (one server and one client); whole_daemon (the built .pyz as a user runs it);
many (1 server + 1 client vs Plex + 2 Jellyfin and qBittorrent + Transmission + Deluge, the memory
floor in `python -I`), kinds (a poll per server kind, the Jellyfin push reaction), clients (requests
with three clients, counted on the wire), history (its CPU per poll and its memory at rest) and
history_daemon (what history adds to the running daemon's RSS).
Times are medians unless a figure says otherwise; no figure is asserted by any test.
"""
from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a file (python3 bench/run.py): the package from its parent
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    import argparse

    from bench.sections import SECTIONS

    p = argparse.ArgumentParser(description="plex-helper benchmark: all figures in one run.")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--quick", action="store_true", help="fewer iterations (100 polls, 5 start-ups, 2 trials)")
    p.add_argument("--qbt", choices=("auto", "nox", "fake"), default="auto",
                   help="qBittorrent to drive: the real qbittorrent-nox (auto: if installed) or the fake")
    p.add_argument("--only", help="comma-separated subset of %s; with --json, only these sections' rows and "
                                  "details are replaced in the file" % ",".join(SECTIONS))
    p.add_argument("--whole-daemon", action="store_true",
                   help="only the whole-daemon section (the built .pyz per poll over a window, and its profile)")
    p.add_argument("--window", type=int, help="whole daemon: polls per measured window (default 40; --quick 15)")
    p.add_argument("--source", choices=("worktree", "head"), default="worktree",
                   help="whole daemon: build the .pyz from the working tree or from the last commit (git archive)")
    p.add_argument("--compare", metavar="REF",
                   help="whole daemon: only compare this daemon with the one of commit REF, started in turn (ratios)")
    p.add_argument("--rebuild", action="store_true",
                   help="measure a fresh build of the working tree (built into a temp dir) instead of dist/")
    p.add_argument("--polls", type=int, help="polls per measurement (default 1000)")
    args = p.parse_args(argv)
    if args.whole_daemon or args.compare:
        args.only = "whole_daemon"
    if args.polls is None:
        args.polls = 100 if args.quick else 1000
    args.cpu_repeats = 1 if args.quick else 5
    args.mem_repeats = 1 if args.quick else 3
    args.startup_runs = 5 if args.quick else 15
    args.reaction_trials = 2 if args.quick else 5
    from bench.harness import Bench

    return Bench(args).run()


if __name__ == "__main__":
    sys.exit(main())
