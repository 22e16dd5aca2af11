#!/usr/bin/env python3
"""Turn criterion's results (target/criterion) into the markdown tables of docs/BENCHMARKS.md.

Usage: cargo bench --bench hll && python3 scripts/bench-table.py [group-prefix ...]
Prints one table per benchmark group: each implementation's mean time (criterion's point
estimate), the time per element where the group measures throughput, and the ratio to edgesketch.
"""
import json
import pathlib
import sys
from collections import defaultdict

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"
prefixes = sys.argv[1:]


def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


groups = defaultdict(list)
for bench in sorted(root.glob("**/new/benchmark.json")):
    meta = json.loads(bench.read_text())
    estimates = json.loads((bench.parent / "estimates.json").read_text())
    group = meta["group_id"]
    if prefixes and not any(group.startswith(p) for p in prefixes):
        continue
    name = meta["function_id"] or ""
    value = meta.get("value_str")
    elements = (meta.get("throughput") or {}).get("Elements")
    groups[(group, value)].append((name, estimates["mean"]["point_estimate"], elements))

for (group, value), rows in sorted(groups.items(), key=lambda kv: (kv[0][0], int(kv[0][1] or 0))):
    title = f"{group} ({value})" if value else group
    base = next((t for n, t, _ in rows if n.startswith("edgesketch")), None)
    per_element = any(e for _, _, e in rows)
    print(f"\n**{title}**\n")
    header = "| implementation | time |" + (" per item |" if per_element else "") + " vs edgesketch |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name, t, elements in sorted(rows, key=lambda r: r[1]):
        ratio = f"{t / base:.2f}x" if base else "-"
        cells = [name, fmt_time(t)]
        if per_element:
            cells.append(fmt_time(t / elements) if elements else "-")
        cells.append(ratio)
        print("| " + " | ".join(cells) + " |")
