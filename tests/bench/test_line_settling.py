"""The settling bench's promise checked on the daemon's own parts: after a step in other traffic the
measured line's budget settles within three polls, whatever the poll interval."""
from __future__ import annotations

import pytest

from bench.line_settling import CAPACITY_KIB, SETTLE_WITHIN_POLLS, budgets_after_steps, polls_to_settle


@pytest.mark.parametrize("poll_sec", [2.0, 10.0, 30.0])
def test_the_budget_settles_within_three_polls_of_a_step(poll_sec):
    started, stopped = budgets_after_steps(poll_sec)
    band = CAPACITY_KIB * 0.05
    assert abs(started[-1] - 400) <= band and abs(stopped[-1] - 700) <= band  # where the loop aims
    assert polls_to_settle(started, band) <= SETTLE_WITHIN_POLLS
    assert polls_to_settle(stopped, band) <= SETTLE_WITHIN_POLLS


def test_settling_is_counted_from_the_last_poll_outside_the_band():
    assert polls_to_settle([100, 500, 420, 400, 400], 50) == 3
    assert polls_to_settle([400, 400], 50) == 1
