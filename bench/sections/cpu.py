"""CPU per poll at 0, 10, 100 and 1,000 sessions (the poll worker, back to back), and how linear it is."""
from __future__ import annotations

DETAIL_KEYS = ("cpu",)


def run(bench) -> None:
    polls = bench.args.polls
    counts = (0, 10, 100, 1000)
    bench.log("CPU per poll: %d polls at zero interval, sessions %s (client in a subprocess)" % (polls, counts))
    per = {}
    raw = {}
    for n in counts:
        runs = []
        for _ in range(bench.args.cpu_repeats):
            r = bench.run_worker(n, polls, warmup=10, virtual_clock=False, poll_interval=0.0, reconcile=60.0)
            runs.append(r)
        # Best of the repeats: other work on the machine can only add CPU time (cache misses,
        # migrations), never take it away, so the minimum is the least disturbed figure.
        runs.sort(key=lambda r: r["cpu_s"])
        best = runs[0]
        raw[n] = runs
        per[n] = best["cpu_s"] / polls * 1000.0
        bench.log("  %4d sessions: %.3f ms CPU/poll (user %.3f, system %.3f), %.3f ms wall/poll, %.1f page faults/poll"
                 % (n, per[n], best["user_s"] / polls * 1000, best["system_s"] / polls * 1000,
                    best["wall_s"] / polls * 1000, best["minor_faults"] / polls))
    slope_low = (per[100] - per[0]) / 100
    slope_high = (per[1000] - per[100]) / 900
    slope_all = (per[1000] - per[0]) / 1000
    linear_ratio = slope_high / slope_low if slope_low > 0 else float("inf")
    predicted_10 = per[0] + 10 * slope_all
    bench.details["cpu"] = {
        "polls": polls, "repeats": bench.args.cpu_repeats,
        "ms_per_poll": {str(n): per[n] for n in counts},
        "statistic": "best (minimum CPU) of %d runs" % bench.args.cpu_repeats,
        "median_ms_per_poll": {str(n): raw[n][len(raw[n]) // 2]["cpu_s"] / polls * 1000 for n in counts},
        "wall_ms_per_poll": {str(n): raw[n][0]["wall_s"] / polls * 1000 for n in counts},
        "system_ms_per_poll": {str(n): raw[n][0]["system_s"] / polls * 1000 for n in counts},
        "minor_faults_per_poll": {str(n): raw[n][0]["minor_faults"] / polls for n in counts},
        "per_session_us": {"0-100": slope_low * 1000, "100-1000": slope_high * 1000, "0-1000": slope_all * 1000},
        "slope_ratio_high_over_low": linear_ratio,
        "predicted_ms_at_10_from_line": predicted_10,
        "runs": {str(n): raw[n] for n in counts},
    }
    best_of = "best of %d" % bench.args.cpu_repeats
    bench.row("CPU per poll, 0 sessions", "%.3f ms (%s)" % (per[0], best_of), "(baseline)", None)
    bench.row("CPU per poll, 10 sessions", "%.3f ms" % per[10], "< 1 ms", per[10] < 1.0)
    bench.row("CPU per poll, 100 sessions", "%.3f ms" % per[100], "(linearity point)", None)
    bench.row("CPU per poll, 1000 sessions", "%.3f ms (of which system %.3f ms: %.0f page faults/poll)" % (
        per[1000], raw[1000][0]["system_s"] / polls * 1000, raw[1000][0]["minor_faults"] / polls),
        "linear in sessions", None)
    bench.row("CPU linearity", "%.1f us/session (0-100) vs %.1f us/session (100-1000): ratio %.2f; "
             "line predicts %.3f ms at 10" % (slope_low * 1000, slope_high * 1000, linear_ratio, predicted_10),
             "slope ratio 0.67-1.5", 0.67 <= linear_ratio <= 1.5)
