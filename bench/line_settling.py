"""How many polls the measured line's budget takes to settle after a step in other traffic.

    python -m bench.line_settling [--poll-sec 10]

The daemon's own parts, with the line simulated: the LineTracker as the composition root makes it
(smoothing over three polls), a scripted meter on an injected clock, one download client that
uploads exactly what it is allowed (a client that always has more to send: the hardest case, since
its own rate moves with the budget) and one remote stream of 200 KiB/s. The line: 1000 KiB/s up,
10 % headroom. Other devices start at 0, jump to 300 KiB/s, and stop again; after each step the
bench counts the polls until the budget lies within the deadband (5 % of the line) of where it
ends, and stays there. The budget aims at 700 KiB/s (900 - 200) without the other traffic and at
400 KiB/s (900 - 200 - 300) with it.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

CAPACITY_KIB, HEADROOM, STREAM_KIB, OTHER_KIB = 1000, 0.10, 200, 300
SETTLE_WITHIN_POLLS = 3  # what the line's budget promises
STEADY_POLLS = 12  # polls run after each step: long past settling


def budgets_after_steps(poll_sec: float) -> Tuple[List[float], List[float]]:
    """The budget at each poll after other traffic starts, and after it stops (KiB/s)."""
    from application.line_tracker import LineTracker
    from domain.limit_plan import Direction
    from domain.policies import KIB_PER_KBIT, SpeedLimit
    from domain.sessions import PlaybackSession
    from tests.support.clock import ManualClock
    from tests.support.scripted_line_meter import ScriptedLineMeter

    clock = ManualClock()
    meter = ScriptedLineMeter(clock)
    tracker = LineTracker(meter, {Direction.UPLOAD: CAPACITY_KIB, Direction.DOWNLOAD: 0}, HEADROOM, "simulated",
                          clock, window_sec=3 * poll_sec)
    stream = PlaybackSession(state="playing", local=False, location="wan", user="friend", player="tv",
                             bandwidth_kbps=STREAM_KIB / KIB_PER_KBIT)

    class Client:  # uploads all it is allowed: its rate is the budget of the poll before
        allowed = 0.0

        def current_upload_rate(self) -> SpeedLimit:
            return SpeedLimit(max(1, round(self.allowed)))

    class Slot:
        name, rates = "qbittorrent", Client()

    slot = Slot()

    def poll(other_kib: float) -> float:
        meter.rates(upload_kib=slot.rates.allowed + STREAM_KIB + other_kib)
        clock.advance(poll_sec)
        budget = tracker.budgets(True, {Direction.UPLOAD: None, Direction.DOWNLOAD: None}, [stream], [slot])
        limit: Optional[SpeedLimit] = budget[Direction.UPLOAD]
        slot.rates.allowed = float(limit.kib_per_sec) if limit else 0.0
        return slot.rates.allowed

    for _ in range(STEADY_POLLS):  # the line without other traffic, settled
        poll(0)
    started = [poll(OTHER_KIB) for _ in range(STEADY_POLLS)]
    stopped = [poll(0) for _ in range(STEADY_POLLS)]
    return started, stopped


def polls_to_settle(budgets: List[float], band_kib: float) -> int:
    """The first poll (1-based) from which every budget stays within `band_kib` of the last one."""
    final = budgets[-1]
    settled = len(budgets)
    for index in range(len(budgets) - 1, -1, -1):
        if abs(budgets[index] - final) > band_kib:
            break
        settled = index + 1
    return settled


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll-sec", type=float, default=10.0)
    options = parser.parse_args(argv)
    started, stopped = budgets_after_steps(options.poll_sec)
    band = CAPACITY_KIB * 0.05
    worst = 0
    aim_without = CAPACITY_KIB * (1 - HEADROOM) - STREAM_KIB
    for name, budgets, aim in (("other traffic starts (0 -> 300 KiB/s)", started, aim_without - OTHER_KIB),
                               ("other traffic stops (300 -> 0 KiB/s)", stopped, aim_without)):
        polls = polls_to_settle(budgets, band)
        worst = max(worst, polls)
        shown = ", ".join("%.0f" % b for b in budgets[:4])
        print("%-38s settled on poll %d at %.0f KiB/s (aim %.0f, deadband %.0f; polls 1-4: %s)"
              % (name, polls, budgets[-1], aim, band, shown))
    verdict = "within" if worst <= SETTLE_WITHIN_POLLS else "OVER"
    print("settling: %d polls at most (%s %d)" % (worst, verdict, SETTLE_WITHIN_POLLS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
