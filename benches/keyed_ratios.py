#!/usr/bin/env python3
"""Prints criterion's point estimates for the `keyed` bench and each one's ratio to governor's
in the same case. With 2 threads the time is per pair of decisions made in parallel: the
throughput against governor's is the inverse of the ratio.

Usage (after `cargo bench --bench keyed`):
    python3 benches/keyed_ratios.py                    the latest run's table
    python3 benches/keyed_ratios.py --save run1.json   the same, and its figures kept in run1.json
    python3 benches/keyed_ratios.py --spread run1.json run2.json run3.json
                                                       per case: the median ratio [lowest – highest]
"""
import json
import pathlib
import statistics
import sys

GROUPS = ("keyed_allowed", "keyed_rejected", "keyed_two_allowed", "keyed_two_rejected")
CASES = [(group, threads) for group in GROUPS for threads in ("1", "2")]


def latest_run():
    """{"group/threads": {"tollgate": ns, "governor": ns}} from criterion's latest estimates."""
    root = pathlib.Path("target/criterion")
    run = {}
    for group, threads in CASES:
        for name in ("tollgate", "governor"):
            estimates = root / group / name / threads / "new" / "estimates.json"
            if estimates.exists():
                mean = json.loads(estimates.read_text())["mean"]["point_estimate"]
                run.setdefault(f"{group}/{threads}", {})[name] = mean
    return run


def main(args):
    if args[:1] == ["--spread"]:
        runs = [json.loads(pathlib.Path(path).read_text()) for path in args[1:]]
        for case in runs[0]:
            ratios = sorted(run[case]["tollgate"] / run[case]["governor"] for run in runs)
            times = [statistics.median(run[case][name] for run in runs) for name in ("tollgate", "governor")]
            print(f"{case:<22} tollgate {times[0]:7.1f} ns  governor {times[1]:7.1f} ns  "
                  f"ratio {statistics.median(ratios):.2f} [{ratios[0]:.2f} – {ratios[-1]:.2f}]")
        return
    run = latest_run()
    for case, means in run.items():
        print(f"{case:<22} tollgate {means['tollgate']:7.1f} ns  governor {means['governor']:7.1f} ns"
              f"  ratio {means['tollgate'] / means['governor']:.2f}")
    if args[:1] == ["--save"]:
        pathlib.Path(args[1]).write_text(json.dumps(run))


main(sys.argv[1:])
