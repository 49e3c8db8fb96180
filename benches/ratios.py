#!/usr/bin/env python3
"""Prints criterion's point estimates for the `peers` bench and each figure's ratio to governor.

Usage: python3 benches/ratios.py   (after `cargo bench --bench peers`)
"""
import json
import pathlib

root = pathlib.Path("target/criterion")
rows = {}
for estimates in root.glob("*/*/*/new/estimates.json"):
    group, name, threads = estimates.parts[-5:-2]
    rows.setdefault((group, threads), {})[name] = json.loads(estimates.read_text())["mean"]["point_estimate"]
for estimates in root.glob("cost_10/*/new/estimates.json"):
    rows.setdefault(("cost_10", "1"), {})[estimates.parts[-3]] = json.loads(estimates.read_text())["mean"]["point_estimate"]
print(f"{'case':<14}{'threads':>8}  {'limiter':<24}{'ns/iter':>9}  {'÷ governor':>10}")
for (group, threads), names in sorted(rows.items()):
    base = names.get("governor")
    for name, ns in sorted(names.items(), key=lambda item: item[1]):
        ratio = f"{ns / base:.2f}" if base else "-"
        print(f"{group:<14}{threads:>8}  {name:<24}{ns:>9.1f}  {ratio:>10}")
