"""The measured line's parts: the meter the `line_meter` settings name, and the tracker that turns
its readings into budgets (application/line_tracker.py)."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Collection, Optional

from domain.limit_plan import Direction
from domain.ports import LineMeter

if TYPE_CHECKING:
    from application.line_tracker import LineTracker

# The tracker and the meters are imported only when a line_meter is configured: most daemons have none.


def make_line_meter(meter: Any, timeout_sec: float,
                    directions: Collection[Direction] = (Direction.UPLOAD, Direction.DOWNLOAD)) -> LineMeter:
    """The adapter the `line_meter` settings name; SNMP's pysnmp is imported only on first use.
    `directions`: the counters the caller uses (a UPnP router is asked only for those)."""
    from adapters.line import HostInterfaceMeter, SnmpLineMeter, UpnpLineMeter

    if meter.type == "upnp":
        return UpnpLineMeter(meter.url or None, timeout_sec=timeout_sec, directions=directions)
    if meter.type == "snmp":
        return SnmpLineMeter(meter.host, meter.community, meter.interface, meter.port, timeout_sec=timeout_sec)
    return HostInterfaceMeter(str(meter.interface))


def make_line_tracker(settings: Any, clock: Callable[[], float] = time.monotonic) -> Optional["LineTracker"]:
    """The tracker for `settings` (application/config/settings.py), or None when no line is measured.
    Smoothing over three polls: a step in other traffic is 95 % absorbed by the third poll."""
    if settings.line_meter is None:
        return None
    from application.line_tracker import LineTracker, describe_meter, measured_directions

    capacities = {Direction.UPLOAD: settings.line_upload_kbps, Direction.DOWNLOAD: settings.line_download_kbps}
    # a poll waits for the meter: keep it well inside the poll, whatever http_timeout_sec allows
    meter = make_line_meter(settings.line_meter, min(settings.http_timeout_sec, 3.0),
                            measured_directions(capacities))
    return LineTracker(meter, capacities, settings.line_headroom_percent / 100, describe_meter(settings.line_meter),
                       clock, window_sec=3 * settings.poll_interval_sec)
