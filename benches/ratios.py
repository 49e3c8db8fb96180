#!/usr/bin/env python3
"""Prints criterion's point estimates for the `peers` bench and each figure's ratio to governor
(for the multi-resource cases, to the pair of single GCRA decisions: `tollgate_gcra_pair`), and
for the `sliding_window` bench each figure's ratio to GCRA's in the same case (the log size in
the threads column).

Usage (after `cargo bench --bench peers` and `cargo bench --bench sliding_window`):
    python3 benches/ratios.py                    the latest run's table
    python3 benches/ratios.py --save run1.json   the same, and its figures kept in run1.json
    python3 benches/ratios.py --spread run1.json run2.json run3.json
                                                 per case: the median ratio and its spread

A ratio is time ÷ the base's time (governor's, or the GCRA pair's) in the same run; tollgate's
other algorithms are also divided by its GCRA's time ("÷ gcra"). With 2 threads the time is per pair of
decisions made in parallel, so the throughput against governor's is the inverse of the ratio.
"""
import json
import pathlib
import statistics
import sys


# The figure each group's ratios divide by (governor's unless named here): the multi-resource
# cases by the pair of single GCRA decisions, the sliding window's (`benches/sliding_window.rs`)
# by GCRA's in the same case.
BASE = {
    "multi_allowed": "tollgate_gcra_pair",
    "multi_rejected": "tollgate_gcra_pair",
    "try_take_allowed": "gcra_virtual",
    "try_take_rejected": "gcra_virtual",
    "limiter_allowed": "gcra_virtual",
    "limiter_rejected": "gcra_virtual",
}

# The sliding window's groups: (criterion's group, the case shown, where the size or the
# outcome sits in the path).
WINDOW_GROUPS = ("try_take_allowed", "try_take_rejected")


def base_of(group):
    return BASE.get(group, "governor")


def latest_run():
    """{(group, threads): {limiter: mean ns}} from criterion's latest estimates."""
    root = pathlib.Path("target/criterion")
    rows = {}
    for group in ("allowed", "rejected", "multi_allowed", "multi_rejected"):
        for estimates in root.glob(f"{group}/*/*/new/estimates.json"):
            name, threads = estimates.parts[-4:-2]
            mean = json.loads(estimates.read_text())["mean"]["point_estimate"]
            rows.setdefault((group, threads), {})[name] = mean
    for estimates in root.glob("cost_10/*/new/estimates.json"):
        mean = json.loads(estimates.read_text())["mean"]["point_estimate"]
        rows.setdefault(("cost_10", "1"), {})[estimates.parts[-3]] = mean
    # The sliding window: per log size (in the threads column), and through a limiter.
    for group in WINDOW_GROUPS:
        for estimates in root.glob(f"{group}/*/*/new/estimates.json"):
            name, size = estimates.parts[-4:-2]
            mean = json.loads(estimates.read_text())["mean"]["point_estimate"]
            rows.setdefault((group, size), {})[name] = mean
    for estimates in root.glob("limiter_try_acquire/*/new/estimates.json"):
        outcome, name = estimates.parts[-3].split("_", 1)
        mean = json.loads(estimates.read_text())["mean"]["point_estimate"]
        rows.setdefault((f"limiter_{outcome}", "1"), {})[name] = mean
    return rows


# tollgate's other algorithms are also compared with its GCRA in the same group.
GCRA = "tollgate_gcra"


def print_table(rows):
    print(f"{'case':<14}{'threads':>8}  {'limiter':<26}{'ns/iter':>9}  {'÷ base':>10}  {'÷ gcra':>8}")
    for (group, threads), names in sorted(rows.items()):
        base = names.get(base_of(group))
        gcra = names.get(GCRA)
        for name, ns in sorted(names.items(), key=lambda item: item[1]):
            ratio = f"{ns / base:.2f}" if base else "-"
            to_gcra = f"{ns / gcra:.2f}" if gcra and name.startswith("tollgate_") else ""
            print(f"{group:<14}{threads:>8}  {name:<26}{ns:>9.1f}  {ratio:>10}  {to_gcra:>8}")


def spread(values):
    return f"{statistics.median(values):.2f} [{min(values):.2f} – {max(values):.2f}]"


def print_spread(paths):
    runs = [json.loads(pathlib.Path(path).read_text()) for path in paths]
    print(f"{len(runs)} runs; ns/iter and ratio ÷ base (governor's): median [min – max]")
    for key in sorted(runs[0]):
        group, threads = key.split("/")
        base_name = base_of(group)
        base = [run[key][base_name] for run in runs if base_name in run.get(key, {})]
        for name in sorted(runs[0][key], key=lambda name: runs[0][key][name]):
            times = [run[key][name] for run in runs if name in run.get(key, {})]
            line = f"{group:<14}{threads:>3}  {name:<26}{statistics.median(times):>7.1f} ns"
            if len(base) == len(times):
                line += "  " + spread([t / b for t, b in zip(times, base)])
            gcra = [run[key][GCRA] for run in runs if GCRA in run.get(key, {})]
            if name.startswith("tollgate_") and name != GCRA and len(gcra) == len(times):
                line += "  ÷ gcra " + spread([t / g for t, g in zip(times, gcra)])
            print(line)


def main(args):
    if args[:1] == ["--spread"]:
        print_spread(args[1:])
        return
    rows = latest_run()
    print_table(rows)
    if args[:1] == ["--save"]:
        figures = {f"{group}/{threads}": names for (group, threads), names in rows.items()}
        pathlib.Path(args[1]).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
