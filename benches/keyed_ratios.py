#!/usr/bin/env python3
"""Prints criterion's point estimates for the `keyed` bench and each one's ratio to governor's
in the same case (run `cargo bench --bench keyed` first). With 2 threads the time is per pair
of decisions made in parallel: the throughput against governor's is the inverse of the ratio.
"""
import json
import pathlib

root = pathlib.Path("target/criterion")
for group in ("keyed_allowed", "keyed_rejected"):
    for threads in ("1", "2"):
        means = {}
        for name in ("tollgate", "governor"):
            estimates = root / group / name / threads / "new" / "estimates.json"
            if estimates.exists():
                means[name] = json.loads(estimates.read_text())["mean"]["point_estimate"]
        if len(means) == 2:
            print(f"{group:<16}{threads} thread(s)  tollgate {means['tollgate']:7.1f} ns"
                  f"  governor {means['governor']:7.1f} ns"
                  f"  ratio {means['tollgate'] / means['governor']:.2f}")
